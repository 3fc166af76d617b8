/**
 * What a backend offers: it takes a compiled {@link Plan} and returns a {@link Trainer} that
 * runs training steps on its device. dipFit and the benchmarks only talk to this interface.
 *
 * @module
 */
import type { Plan } from "./plan.ts";

/**
 * The engines a user can ask for. `auto` = webgpu on a hardware adapter, else cpu.
 * `reference` is the plain TypeScript executor (engine/reference.ts): slow, for tests.
 */
export type EngineName = "webgpu" | "cpu" | "reference" | "auto";

/** Values read back from the device every k steps (each array has one entry per fit). */
export interface StepScalars {
  /** Steps run so far (the step these values are from is `step - 1`). */
  readonly step: number;
  /** The loss of each fit. */
  readonly loss: Float32Array;
  /** PSNR of the data-term output against the observation (the reference's PSNR_noisy). */
  readonly psnrObserved: Float32Array;
  /** ES-WMV minimum variance and its step, when the plan has a `wmv` step. */
  readonly wmvMin?: Float32Array;
  /** The step of each fit's ES-WMV minimum. */
  readonly wmvArgmin?: Float32Array;
}

/** A compiled plan living on a device, ready to train. */
export interface Trainer {
  /** The plan this trainer runs. */
  readonly plan: Plan;
  /** `"webgpu"`, `"cpu"` or `"reference"`. */
  readonly engine: "webgpu" | "cpu" | "reference";
  /** The adapter or CPU description, e.g. `"llvmpipe (LLVM 15.0.6, 256 bits)"`, `"wasm-simd ×2"`. */
  readonly adapter: string;
  /**
   * Initialises every fit's parameters (PyTorch default rules in `plan.params`, drawn from
   * {@link initParams}) with `seeds[b]` for fit b, and zeroes the Adam moments and step.
   */
  reset(seeds: readonly number[]): Promise<void>;
  /** Uploads the contents of an io view (z0, target, mask), batch-major, `view` sized. */
  upload(name: "z0" | "target" | "mask", data: Float32Array): void;
  /** Sets the seed each fit uses for its per-step input noise. */
  setNoiseSeeds(seeds: readonly number[]): void;
  /**
   * Enqueues `count` training steps. Returns once they are submitted; it does not wait for the
   * device. A step is: input noise → forward → loss → backward → Adam → EMA (→ PSNR, WMV).
   */
  run(count: number): void;
  /** Reads the per-fit scalars after the steps submitted so far (maps a staging copy). */
  readScalars(): Promise<StepScalars>;
  /** Reads an io tensor ("output" = last network output, "ema", "best"), batch-major. */
  read(name: "output" | "ema" | "best"): Promise<Float32Array>;
  /** Copies parameters and Adam moments to a device-side snapshot (backtracking). */
  snapshot(): void;
  /** Restores the last snapshot. */
  restore(): void;
  /** Forward-only: the network output for the current parameters and z0 (no noise). */
  evaluate(): Promise<Float32Array>;
  /**
   * The current parameters of every fit, `batch · paramsPerFit` floats (fit b's at
   * b · paramsPerFit, in the plan's layout), after the steps submitted so far: what an export
   * of the fitted generator writes. Every built-in backend has it; a test double may not.
   */
  readParams?(): Promise<Float32Array>;
  /** Frees device resources; the trainer is unusable afterwards. */
  dispose(): void;
}
