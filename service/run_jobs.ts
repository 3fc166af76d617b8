/**
 * Run jobs: a recipe over one file or a folder of the shared data folder, outputs into a folder
 * there — what `dipline run --queue` enqueues (one job per input, in one batch) and what a
 * schedule fires (one job per tick over its whole folder). Paths are stored relative to the data
 * folder so that hosts mounting it in different places agree; the embedded store (one host) may
 * also hold absolute paths.
 *
 * The processor is the executor's: outputs are written atomically and an input whose outputs
 * and record are up to date is skipped, so a job that runs again after a crash, or a schedule
 * that fires every night over the same folder, only does the inputs that are new or were
 * interrupted. An input held by a run on a host that just died (its lock file not yet stale) is
 * left for later without spending an attempt ({@link RetryLater}).
 *
 * @module
 */
import { isAbsolute, normalize, relative, resolve, sep } from "node:path";
import { InputError, UsageError } from "../core/errors.ts";
import type { ProgressEvent } from "../core/types.ts";
import { collectInputs, execute, type RunOptions } from "../pipeline/executor.ts";
import { fileInput, type InputItem } from "../pipeline/sources.ts";
import { type Processor, UnrecoverableError } from "./queue.ts";
import type { RecipeCodec } from "./recipes.ts";
import { RetryLater } from "./retry_later.ts";

/** How to run (not what): the run's choices, or the worker's when absent. */
export interface RunJobOptions {
  /** Training engine. */
  readonly engine?: "webgpu" | "cpu" | "reference" | "auto";
  /** Cpu engine worker threads. */
  readonly threads?: number;
  /** Fits trained at once by average(). */
  readonly batch?: number;
}

/** What a run job holds (all JSON). */
export interface RunJobData {
  /** Tells run jobs from the service's jobs. */
  readonly kind: "run";
  /** The recipe's JSON document. */
  readonly recipe: unknown;
  /** The recipe's file name, for lists and logs. */
  readonly recipeName?: string;
  /** A file or folder, relative to the data folder (absolute only in the embedded store). */
  readonly input: string;
  /** For a single file of a batch: the folder `{dir}` in output names is relative to. */
  readonly root?: string;
  /** The output folder, relative to the data folder (absolute only in the embedded store). */
  readonly out: string;
  readonly runOptions?: RunJobOptions;
  /** Run inputs whose outputs are up to date too. */
  readonly force?: boolean;
  /** The schedule that fired it. */
  readonly schedule?: string;
}

/** What a run job returns. */
export interface RunJobResult {
  /** Inputs looked at. */
  readonly total: number;
  readonly done: readonly string[];
  /** Up to date already (resume). */
  readonly resumed: readonly string[];
  /** Output files written or kept, relative to the data folder. */
  readonly outputs: readonly string[];
  readonly ms: number;
}

/** A run job's progress while it runs. */
export interface RunJobProgress {
  readonly total: number;
  readonly done: number;
  readonly skipped: number;
  readonly failed: number;
  readonly current?: string;
  readonly step?: number;
  readonly steps?: number;
}

/** How long an input held by another host waits before its job tries again. */
export const HELD_RETRY_MS = 15_000;

function isInside(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/**
 * `path` (absolute, real) as the job stores it: relative to the data folder, with `/`. Outside
 * it, an absolute path when `shared` is false (one host), else a usage error.
 *
 * @throws {UsageError} for a path outside a shared data folder
 */
export function toDataPath(dataDir: string, path: string, flag: string, shared: boolean): string {
  if (isInside(path, dataDir)) return relative(dataDir, path).split(sep).join("/") || ".";
  if (!shared) return path;
  throw new UsageError(
    `${flag} ${path} is outside the data folder ${dataDir}: on a shared queue, inputs and ` +
      "outputs must live under --data, which every host mounts",
  );
}

/**
 * A stored path on this host: relative ones under `dataDir` (never above it), absolute ones
 * as they are.
 *
 * @throws {UnrecoverableError} for a relative path that climbs out of the data folder
 */
export function fromDataPath(dataDir: string, stored: string): string {
  if (isAbsolute(stored)) return normalize(stored);
  const path = resolve(dataDir, stored);
  if (!isInside(path, dataDir)) {
    throw new UnrecoverableError(`the path ${stored} leaves the data folder`);
  }
  return path;
}

/** What the processor needs from the worker. */
export interface RunJobProcessorOptions {
  /** The data folder on this host (a real path). */
  readonly dataDir: string;
  readonly codec: RecipeCodec;
  /** Largest image in pixels. */
  readonly maxPixels?: number;
  /** The worker's choices for jobs that do not make them. */
  readonly defaults?: RunJobOptions;
  /** Least milliseconds between two stored fit events; default 200. */
  readonly progressIntervalMs?: number;
}

/** The processor of run jobs. */
export function runJobProcessor(
  options: RunJobProcessorOptions,
): Processor<RunJobData, RunJobResult> {
  const interval = options.progressIntervalMs ?? 200;
  return async (job, ctx) => {
    const data = job.data;
    let graph;
    try {
      graph = options.codec.fromJSON(data.recipe).compile();
    } catch (error) {
      throw new UnrecoverableError(`invalid recipe: ${(error as Error).message.split("\n")[0]}`);
    }
    const input = fromDataPath(options.dataDir, data.input);
    const outDir = fromDataPath(options.dataDir, data.out);
    const shown = (path: string) => toDataPath(options.dataDir, path, "", false);
    let items: InputItem[];
    try {
      items = data.root === undefined
        ? await collectInputs(input, { outDir })
        : [fileInput(input, fromDataPath(options.dataDir, data.root))];
    } catch (error) {
      // A scheduled folder that received nothing yet is not a failure.
      if (error instanceof InputError && /holds no image files/.test(error.message)) items = [];
      else if (error instanceof InputError) throw new UnrecoverableError(error.message);
      else throw error;
    }

    let progress: RunJobProgress = { total: items.length, done: 0, skipped: 0, failed: 0 };
    let storedAt = 0;
    const onEvent = (event: ProgressEvent) => {
      switch (event.type) {
        case "fit": {
          progress = { ...progress, current: event.name, step: event.step, steps: event.total };
          const now = performance.now();
          if (now - storedAt < interval) return;
          storedAt = now;
          ctx.progress(progress);
          ctx.emit("fit", {
            name: event.name,
            step: event.step,
            total: event.total,
            loss: event.loss,
            ...(event.psnr === undefined ? {} : { psnr: event.psnr }),
          });
          return;
        }
        case "input-start":
          progress = { ...progress, current: event.name, step: undefined, steps: undefined };
          ctx.emit(event.type, { name: event.name });
          break;
        case "input-done":
          progress = { ...progress, done: progress.done + 1, current: undefined };
          ctx.emit(event.type, {
            name: event.name,
            ms: event.ms,
            outputs: event.outputs.map(shown),
          });
          break;
        case "input-skipped":
          progress = { ...progress, skipped: progress.skipped + 1 };
          ctx.emit(event.type, { name: event.name, reason: event.reason });
          break;
        case "input-failed":
          progress = { ...progress, failed: progress.failed + 1, current: undefined };
          ctx.emit(event.type, { name: event.name, error: event.error });
          break;
        case "note":
          ctx.emit(event.type, { message: event.message });
          return;
        default:
          return;
      }
      ctx.progress(progress);
    };
    const runOptions: RunOptions = {
      outDir,
      signal: ctx.signal,
      onEvent,
      maxPixels: options.maxPixels,
      force: data.force,
      ...options.defaults,
      ...data.runOptions,
    };
    const summary = await execute(graph, items, runOptions);
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (summary.failed.length > 0) {
      const first = summary.failed[0]!;
      throw new Error(`${summary.failed.length} of ${items.length} inputs failed; ${first.error}`);
    }
    if (summary.claimed.length > 0) {
      const held = summary.claimed[0]!;
      throw new RetryLater(`${held.name} is being run by ${held.owner}`, HELD_RETRY_MS);
    }
    return {
      total: items.length,
      done: summary.done.map((r) => r.name),
      resumed: summary.resumed.map((r) => r.name),
      outputs: [...summary.done, ...summary.resumed].flatMap((r) => r.outputs.map(shown)),
      ms: Math.round(summary.ms),
    };
  };
}

/** One line for logs: which recipe over what, into where. */
export function describeRun(data: RunJobData): string {
  return `${data.recipeName ?? "recipe"} over ${data.input} → ${data.out}`;
}
