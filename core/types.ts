/**
 * Frames and ops: what flows through a pipeline and what transforms it.
 *
 * @module
 */
import type { Image } from "./image.ts";
import type { RunRecord } from "./run_record.ts";

/** Slot names with a fixed meaning; recipes may use any other name too. */
export type WellKnownSlot = "image" | "clean" | "mask" | "guide" | "restored";

/** What flows through a pipeline for one input: named image slots plus metadata. */
export interface Frame {
  /** Named images. Ops never mutate a frame: they return a new one. */
  readonly slots: Readonly<Record<string, Image>>;
  readonly meta: FrameMeta;
}

/** Metadata carried along with a frame. */
export interface FrameMeta {
  /** The input's name without folder and extension (e.g. `kodim01`); outputs are named after it. */
  readonly name: string;
  /** The path of the input file, when the frame came from one. */
  readonly source?: string;
  /** The input's path relative to the source root (keeps sub-folders in outputs), if any. */
  readonly relative?: string;
  /** Scores computed so far, e.g. `{ "psnr": 28.1, "ssim": 0.81 }`. */
  readonly metrics: Readonly<Record<string, number>>;
  /** Milliseconds spent per op kind. */
  readonly timings: Readonly<Record<string, number>>;
  /** Anything else an op reports (dipFit's stop step, engine, adapter, …). */
  readonly info: Readonly<Record<string, unknown>>;
}

/** A progress or status event, emitted by the executor and by long-running ops. */
export type ProgressEvent =
  | { type: "start"; total: number; skipped: number }
  /** `reason`: why an input whose outputs exist runs again (recipe or input changed). */
  | { type: "input-start"; name: string; index: number; reason?: string }
  | { type: "op"; name: string; op: string; ms: number }
  | {
    type: "fit";
    name: string;
    step: number;
    total: number;
    loss: number;
    stepsPerSecond: number;
    psnr?: number;
    /** PSNR of the data-term output against the observation. */
    psnrObserved?: number;
    /** ES-WMV minimum windowed variance so far (absent before the window filled). */
    variance?: number;
    /** What the loop did at this check besides accepting it (core/run_record.ts). */
    action?: "backtrack";
  }
  /** A small PNG (base64) of a running fit's output, every `previewEvery` checks. */
  | {
    type: "preview";
    name: string;
    step: number;
    total: number;
    width: number;
    height: number;
    png: string;
  }
  /** A finished fit's run record (without its previews, which came as events already). */
  | { type: "record"; name: string; record: RunRecord }
  | { type: "input-done"; name: string; index: number; ms: number; outputs: string[] }
  | { type: "input-skipped"; name: string; reason: string }
  | { type: "input-failed"; name: string; error: string }
  /** A running input cancelled by the run's signal: not a failure, a rerun redoes it. */
  | { type: "input-interrupted"; name: string }
  /** Something the run did on its own that a user should know (stale temp files removed, …). */
  | { type: "note"; message: string }
  | {
    type: "done";
    done: number;
    failed: number;
    skipped: number;
    ms: number;
    interrupted?: number;
  };

/** What an op may use while it runs. */
export interface OpContext {
  /** Reports progress; the executor turns events into a progress line or JSON lines. */
  emit(event: ProgressEvent): void;
  /** Cancels long work (a fit) when aborted. */
  readonly signal?: AbortSignal;
  /** Folder that `save` resolves relative output paths against. */
  readonly outDir: string;
  /** When false, `save` leaves an existing output in place. */
  readonly overwrite: boolean;
  /** How to run (engine, threads, batch) and per-run resources; absent outside a run. */
  readonly run?: RunContext;
}

/**
 * How a run computes, as opposed to what (the recipe): Halide's schedule at the recipe level.
 * Set by `run()` options, CLI flags or a worker's config; ops read it, recipes never set it.
 */
export interface RunContext {
  /** Engine for fits; wins over a recipe's hint. */
  readonly engine?: "webgpu" | "cpu" | "reference" | "auto";
  /** Cpu engine worker threads. */
  readonly threads?: number;
  /** Fits trained at once (default: as many as memory allows). */
  readonly batch?: number;
  /** Whether ops may keep resources (compiled trainers) across inputs. */
  readonly reuse: boolean;
  /**
   * A resource kept for the whole run under `key` (e.g. compiled trainers reused across inputs
   * of the same size), made by `create` on first use and freed by `dispose` when the run ends.
   */
  resource<T>(key: string, create: () => T, dispose: (value: T) => void): T;
}

/** One step of a pipeline: a pure function of its slots and params (the seed is a param). */
export interface Op {
  /** Op name, e.g. `"degrade"`; used in errors and `explain()`. */
  readonly kind: string;
  /** Slots this op reads; compiling fails if one was not written upstream. */
  readonly reads: readonly string[];
  /** Slots this op writes. */
  readonly writes: readonly string[];
  /** The options it was created with, printed by `explain()`. */
  readonly params: Readonly<Record<string, unknown>>;
  /** Output files this op would write for a frame named `name` (for resume); empty if none. */
  outputs?(name: string, relative: string | undefined, outDir: string): string[];
  run(frame: Frame, ctx: OpContext): Promise<Frame>;
}
