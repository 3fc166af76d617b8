/**
 * What {@link CompileOptions} a compile takes besides the network, and their checks (the first
 * thing compilePlan does, before it reads the network).
 *
 * @module
 */
import type { DataTerm } from "../plan.ts";

/** What compilePlan needs besides the network. */
export interface CompileOptions {
  /** Independent fits trained side by side (each with its own parameters, z and target). */
  readonly batch: number;
  /** Height of the network output (the image being restored). */
  readonly height: number;
  /** Width of the network output. */
  readonly width: number;
  /** What the output goes through before it is compared with the observation. */
  readonly dataTerm: DataTerm;
  /** Adam learning rate (reference notebooks: 0.01). */
  readonly lr: number;
  /** Adam β1; default 0.9 (PyTorch). */
  readonly beta1?: number;
  /** Adam β2; default 0.999 (PyTorch). */
  readonly beta2?: number;
  /** Adam ε; default 1e-8 (PyTorch). */
  readonly eps?: number;
  /** Std of the per-step Gaussian perturbation of z (reference `reg_noise_std`, e.g. 1/30). */
  readonly regNoiseStd: number;
  /** EMA decay of the output (reference denoising: 0.99); 0 = no EMA step. */
  readonly emaDecay: number;
  /** ES-WMV window (Wang et al.: 100); absent = no windowed-variance step. */
  readonly earlyStopWindow?: number;
  /**
   * Reuse `dact` regions by liveness (default true). False gives every gradient its own
   * region: more memory, same numbers (tests compare the two).
   */
  readonly shareGradients?: boolean;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`compilePlan: expected a positive integer for ${name} but received ${v}`);
  }
}

/** Throws a RangeError naming the first option out of range. */
export function checkOptions(options: CompileOptions): void {
  positiveInt("batch", options.batch);
  positiveInt("height", options.height);
  positiveInt("width", options.width);
  if (!(options.lr > 0)) {
    throw new RangeError(`compilePlan: expected a positive lr but received ${options.lr}`);
  }
  if (!(options.regNoiseStd >= 0)) {
    throw new RangeError(
      `compilePlan: expected regNoiseStd ≥ 0 but received ${options.regNoiseStd}`,
    );
  }
  if (!(options.emaDecay >= 0 && options.emaDecay < 1)) {
    throw new RangeError(
      `compilePlan: expected emaDecay in [0, 1) but received ${options.emaDecay}`,
    );
  }
  if (options.earlyStopWindow !== undefined) {
    positiveInt("earlyStopWindow", options.earlyStopWindow);
  }
}
