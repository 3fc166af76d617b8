/**
 * Deciding when a fit stops or steps back, on the host, from the few scalars the engine reads
 * back every `checkEvery` steps.
 *
 * - ES-WMV (Wang, Li, Zhuang, Chen, Liang, Sun; TMLR'23, arXiv 2112.06074): the plan's `wmv`
 *   step keeps, on the device, the minimum windowed variance of the output, its step and the
 *   output at it. The host stops once that minimum is older than the patience and returns the
 *   output at the minimum. {@link WindowedVariance} is the same algorithm on the CPU (used by
 *   the tests to check the decision on a synthetic sequence, and as documentation).
 * - Backtracking (the reference denoising notebook): when the PSNR against the observation
 *   falls more than 5 dB below the last accepted check, restore the last snapshot of the
 *   parameters; otherwise take a new snapshot.
 * - Divergence: a non-finite loss or a NaN PSNR at a check means the fit blew up since the last
 *   one; it is never accepted (no snapshot is taken of it) and the loop steps back or gives up
 *   (dip/train_loop.ts).
 *
 * @module
 */

/** ES-WMV window W (Wang et al., TMLR'23: W = 100). */
export const ES_WMV_WINDOW = 100;
/** ES-WMV patience P (Wang et al., TMLR'23: P = 1000). */
export const ES_WMV_PATIENCE = 1000;
/** Backtracking threshold in dB (reference denoising notebook: a drop of more than 5 dB). */
export const BACKTRACK_DROP_DB = 5;

/**
 * Whether ES-WMV stops: `stepsRun` steps have run (the last one is step `stepsRun − 1`) and the
 * minimum variance was reached at step `argmin`. Stops once the minimum has not improved for
 * `patience` steps. A negative or non-finite argmin (no variance yet) never stops.
 */
export function wmvShouldStop(stepsRun: number, argmin: number, patience: number): boolean {
  if (!Number.isFinite(argmin) || argmin < 0) return false;
  return stepsRun - 1 - argmin >= patience;
}

/**
 * ES-WMV on the CPU, exactly as the plan's `wmv` step defines it: a FIFO of the last `window`
 * outputs; once full, var = mean over the window of ‖x_j − mean‖² / N; keeps the running
 * minimum, its step and a copy of the output at it.
 */
export class WindowedVariance {
  /** W: how many outputs the variance is taken over. */
  readonly window: number;
  /** Values per output (C·H·W). */
  readonly size: number;
  /** Minimum variance so far (+∞ before the window is full). */
  minVariance: number = Number.POSITIVE_INFINITY;
  /** Step of the minimum (−1 before the window is full). */
  argmin: number = -1;
  /** The output at the minimum. */
  readonly best: Float32Array;
  readonly #ring: Float32Array[];
  #step = 0;

  /** A tracker over `window` outputs of `size` values each. */
  constructor(window: number, size: number) {
    if (!Number.isInteger(window) || window < 1) {
      throw new RangeError(
        `early_stop: expected positive integer for window but received ${window} of type ${typeof window}`,
      );
    }
    this.window = window;
    this.size = size;
    this.best = new Float32Array(size);
    this.#ring = Array.from({ length: window }, () => new Float32Array(size));
  }

  /** Steps pushed so far. */
  get steps(): number {
    return this.#step;
  }

  /** Pushes the output of the next step; returns its windowed variance once the window is full. */
  push(x: Float32Array): number | undefined {
    if (x.length !== this.size) {
      throw new RangeError(`early_stop: expected ${this.size} values but received ${x.length}`);
    }
    const step = this.#step++;
    this.#ring[step % this.window]!.set(x);
    if (step < this.window - 1) return undefined;
    let total = 0;
    for (let i = 0; i < this.size; i++) {
      let mean = 0;
      for (const slot of this.#ring) mean += slot[i]!;
      mean /= this.window;
      for (const slot of this.#ring) total += (slot[i]! - mean) ** 2;
    }
    const variance = total / this.window / this.size;
    if (variance < this.minVariance) {
      this.minVariance = variance;
      this.argmin = step;
      this.best.set(x);
    }
    return variance;
  }

  /** Whether ES-WMV stops now with the given patience. */
  shouldStop(patience: number): boolean {
    return wmvShouldStop(this.#step, this.argmin, patience);
  }
}

/** What the fit loop does after a check: accept it, step back 5 dB, or handle a divergence. */
export type BacktrackAction = "snapshot" | "restore" | "diverged";

/**
 * Whether the scalars of one check are usable: every loss finite and no PSNR NaN (+∞ is a
 * perfect fit, not a divergence).
 */
export function isFiniteCheck(loss: ArrayLike<number>, psnrObserved: ArrayLike<number>): boolean {
  for (let b = 0; b < loss.length; b++) if (!Number.isFinite(loss[b]!)) return false;
  for (let b = 0; b < psnrObserved.length; b++) if (Number.isNaN(psnrObserved[b]!)) return false;
  return true;
}

/** Whether every value is finite (an image read back from a trainer, a result). */
export function allFinite(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return false;
  return true;
}

/**
 * The reference's backtracking, evaluated every check instead of every step: restore the last
 * snapshot when any fit's PSNR against the observation dropped more than `dropDb` below its
 * value at the last accepted check; otherwise accept this check and snapshot. A NaN PSNR is
 * `"diverged"`, also at the first check (it is never accepted as a snapshot). (A trainer's
 * snapshot covers all fits of a batch, so one collapsing fit rolls all of them back.)
 */
export class Backtracker {
  /** A drop larger than this (dB) restores the snapshot. */
  readonly dropDb: number;
  #last: number[] | undefined;
  /** How many times a restore was requested. */
  restores = 0;

  /** A backtracker with the reference's 5 dB threshold unless told otherwise. */
  constructor(dropDb = BACKTRACK_DROP_DB) {
    this.dropDb = dropDb;
  }

  /** Decides from the per-fit PSNRs of this check. */
  check(psnrObserved: ArrayLike<number>): BacktrackAction {
    for (let b = 0; b < psnrObserved.length; b++) {
      if (Number.isNaN(psnrObserved[b]!)) return "diverged";
    }
    const last = this.#last;
    if (last) {
      for (let b = 0; b < psnrObserved.length; b++) {
        const now = psnrObserved[b]!;
        if (now - last[b]! < -this.dropDb) {
          this.restores++;
          return "restore";
        }
      }
    }
    this.#last = Array.from(psnrObserved);
    return "snapshot";
  }
}
