/**
 * The training loop of one batched trainer: k steps on the engine, then a readback of a few
 * scalars and the decisions taken there (divergence, backtracking, ES-WMV early stopping,
 * progress).
 *
 * Divergence: a check whose loss is not finite (or whose PSNR is NaN) is never accepted. The
 * loop snapshots the parameters at step 0 (the initial parameters always qualify) and at every
 * accepted check, so a blow-up returns to the last finite state and redoes those steps, at most
 * {@link MAX_DIVERGENCE_RESTORES} times. With an EMA of the output the EMA itself is spoilt (it
 * is not part of a snapshot), so the loop gives up at once. Giving up is a
 * {@link FitDivergedError}; {@link trainWithRetries} then starts over with a smaller learning
 * rate, a bounded number of times. The final readback is checked too: no non-finite value ever
 * leaves the loop.
 *
 * @module
 */
import type { Image } from "../core/image.ts";
import type { StepScalars, Trainer } from "../engine/backend.ts";
import { allFinite, Backtracker, isFiniteCheck, wmvShouldStop } from "./early_stop.ts";
import type { CheckRule } from "./stopping.ts";
import type { FitHooks, ResolvedFit } from "./fit.ts";
import { meanOf, type RunRecorder } from "./record.ts";

/** Returns to the last finite snapshot after a blow-up at most this often per trainer. */
export const MAX_DIVERGENCE_RESTORES = 3;
/** {@link trainWithRetries} starts over with a smaller learning rate at most this often. */
export const LR_RETRIES = 2;
/** Each retry multiplies the learning rate by this. */
export const LR_RETRY_FACTOR = 0.1;

/** A fit whose loss or output became non-finite and could not be brought back. */
export class FitDivergedError extends Error {
  override name = "FitDivergedError";
  /** The step (steps run) at whose check the non-finite value was seen. */
  readonly step: number;
  /** What was not finite. */
  readonly what: "loss" | "output";
  /** A divergence at `step`; `detail` is appended in parentheses. */
  constructor(step: number, what: "loss" | "output", detail?: string) {
    super(`fit diverged: non-finite ${what} at step ${step}${detail ? ` (${detail})` : ""}`);
    this.step = step;
    this.what = what;
  }
}

/** What one batched trainer's loop produced. */
export interface LoopOutcome {
  readonly output: Float32Array;
  readonly steps: number;
  readonly stopStep?: number;
  readonly wmvArgmin?: number;
  /** Backtracking restores (5 dB drops) plus returns to a finite snapshot after a blow-up. */
  readonly restores: number;
  /** Of `restores`, how many were returns after a non-finite check. */
  readonly divergenceRestores: number;
  readonly ms: number;
  readonly loss: number[];
  readonly bestPsnr?: number;
  readonly bestStep?: number;
  /** With `keepBest`: the tracked output (batch-major) at the best-PSNR check. */
  readonly bestOutput?: Float32Array;
  /** With a host stopping rule: the step of each fit's chosen output. */
  readonly chosenSteps?: number[];
}

/** Options of {@link trainLoop}. */
export interface LoopOptions {
  /** Fits in the trainer's batch. */
  readonly batch: number;
  /** Values of one fit's output. */
  readonly outSize: number;
  /** PSNR of an output (batch-major) against the ground truth, when there is one. */
  readonly evaluateClean?: (data: Float32Array) => number;
  readonly hooks: FitHooks;
  /** Records every check, the loop's decisions and previews (dip/record.ts). */
  readonly recorder?: RunRecorder;
  /** The image a preview shows, from an output read back (batch-major). */
  readonly previewImage?: (data: Float32Array) => Image;
  /** A stopping rule decided on the host from the tracked output (dip/stopping.ts). */
  readonly rule?: CheckRule;
  /** Keep a copy of the tracked output at the best-PSNR check (needs `evaluateClean`). */
  readonly keepBest?: boolean;
  /** Hands the tracked output to `onSave` at the first check at or after every multiple. */
  readonly saveEvery?: number;
  readonly onSave?: (step: number, data: Float32Array) => Promise<void>;
  /** Called at every accepted check (the stopping benchmark records the run from it). */
  readonly onCheck?: (
    step: number,
    scalars: StepScalars,
    read: (name: "output" | "ema" | "best") => Promise<Float32Array>,
  ) => Promise<void>;
}

/**
 * The training loop of one batched trainer: run k steps, read the scalars, decide
 * (divergence, backtracking, ES-WMV), report progress; at the end read the result (ES-WMV: the
 * output at the minimum variance; with EMA: the EMA; else the last output).
 *
 * @throws {FitDivergedError} when the fit blows up and cannot return to a finite state, or the
 * result holds a non-finite value
 */
export async function trainLoop(
  trainer: Trainer,
  fit: ResolvedFit,
  options: LoopOptions,
): Promise<LoopOutcome> {
  const { hooks, recorder } = options;
  recorder?.start();
  const backtracker = fit.backtracking ? new Backtracker() : undefined;
  const { rule } = options;
  const resultName: "best" | "ema" | "output" = fit.earlyStop?.rule === "wmv"
    ? "best"
    : fit.ema > 0
    ? "ema"
    : "output";
  const trackName: "ema" | "output" = fit.ema > 0 ? "ema" : "output";
  let steps = 0;
  let stopStep: number | undefined;
  let wmvArgmin: number | undefined;
  let bestPsnr: number | undefined;
  let bestStep: number | undefined;
  let loss: number[] = [];
  let divergenceRestores = 0;
  let bestOutput: Float32Array | undefined;
  let nextSave = options.saveEvery ?? Number.POSITIVE_INFINITY;
  const started = performance.now();
  // The initial parameters are finite: the first state a blow-up can return to.
  trainer.snapshot();
  while (steps < fit.iterations) {
    if (hooks.signal?.aborted) throw hooks.signal.reason ?? new Error("dipFit: aborted");
    const count = Math.min(fit.checkEvery, fit.iterations - steps);
    trainer.run(count);
    steps += count;
    const scalars = await trainer.readScalars();
    loss = Array.from(scalars.loss);
    let tracked: Float32Array | undefined;
    let finite = isFiniteCheck(scalars.loss, scalars.psnrObserved);
    if (finite && (options.evaluateClean || rule)) {
      tracked = await trainer.read(trackName);
      finite = allFinite(tracked);
    }
    if (!finite) {
      // The EMA is not in a snapshot: once a non-finite output entered it, it stays so.
      if (fit.ema > 0 || divergenceRestores >= MAX_DIVERGENCE_RESTORES) {
        throw new FitDivergedError(steps, "loss");
      }
      trainer.restore();
      divergenceRestores++;
      recorder?.event(steps, "divergence");
      steps -= count; // those steps are redone from the snapshot
      continue;
    }
    const backtracked = backtracker?.check(scalars.psnrObserved) === "restore";
    if (backtracked) {
      trainer.restore();
      recorder?.event(steps, "backtrack");
    } else trainer.snapshot();
    let psnrNow: number | undefined;
    if (options.evaluateClean) {
      psnrNow = options.evaluateClean(tracked!);
      if (bestPsnr === undefined || psnrNow > bestPsnr) {
        bestPsnr = psnrNow;
        bestStep = steps;
        if (options.keepBest) bestOutput = tracked!.slice(0, options.batch * options.outSize);
      }
    }
    rule?.observe(steps, tracked!);
    await options.onCheck?.(steps, scalars, (name) => trainer.read(name));
    if (steps >= nextSave && options.onSave) {
      await options.onSave(steps, tracked ?? await trainer.read(trackName));
      while (nextSave <= steps) nextSave += options.saveEvery!;
    }
    const elapsed = performance.now() - started;
    const lossMean = loss.reduce((a, b) => a + b, 0) / Math.max(1, loss.length);
    const psnrObserved = meanOf(scalars.psnrObserved);
    const variance = scalars.wmvMin ? meanOf(scalars.wmvMin) : undefined;
    recorder?.check(steps, { loss: lossMean, psnrObserved, psnr: psnrNow, variance });
    hooks.emit?.({
      type: "fit",
      name: hooks.name ?? "",
      step: steps,
      total: fit.iterations,
      loss: lossMean,
      stepsPerSecond: elapsed > 0 ? (steps * 1000) / elapsed : 0,
      psnr: psnrNow,
      psnrObserved,
      ...(variance !== undefined && Number.isFinite(variance) ? { variance } : {}),
      ...(backtracked ? { action: "backtrack" as const } : {}),
    });
    if (recorder?.wantsPreview() && options.previewImage) {
      const image = options.previewImage(tracked ?? await trainer.read(trackName));
      const preview = recorder.preview(steps, image);
      hooks.emit?.({
        type: "preview",
        name: hooks.name ?? "",
        total: fit.iterations,
        ...preview,
      });
    }
    if (rule?.shouldStop(steps)) {
      stopStep = steps;
      break;
    }
    if (fit.earlyStop?.rule === "wmv" && scalars.wmvArgmin) {
      const argmins = Array.from(scalars.wmvArgmin);
      if (argmins.every((a) => wmvShouldStop(steps, a, fit.earlyStop!.patience))) {
        stopStep = steps;
        wmvArgmin = Math.max(...argmins);
        break;
      }
    }
  }
  if (fit.earlyStop?.rule === "wmv" && wmvArgmin === undefined) {
    const scalars = await trainer.readScalars();
    // Before the window filled the minimum is +∞ and its step a placeholder: no "best" yet.
    const filled = scalars.wmvMin && Array.from(scalars.wmvMin).every(Number.isFinite);
    if (scalars.wmvArgmin && filled) wmvArgmin = Math.max(...Array.from(scalars.wmvArgmin));
  }
  // With ES-WMV before the window filled there is no "best" yet: fall back to the last output.
  const useBest = resultName === "best" && wmvArgmin !== undefined && wmvArgmin >= 0;
  const chosen = rule?.chosen();
  const output = chosen ??
    (await trainer.read(useBest ? "best" : trackName)).slice(0, options.batch * options.outSize);
  if (!allFinite(output)) throw new FitDivergedError(steps, "output");
  return {
    output,
    steps,
    stopStep,
    wmvArgmin,
    restores: (backtracker?.restores ?? 0) + divergenceRestores,
    divergenceRestores,
    ms: performance.now() - started,
    loss,
    bestPsnr,
    bestStep,
    ...(bestOutput ? { bestOutput } : {}),
    ...(rule ? { chosenSteps: rule.chosenSteps } : {}),
  };
}

/** Options of {@link trainWithRetries}. */
export interface RetryOptions extends LoopOptions {
  /**
   * Frees a trainer `start` returned once its attempt is over; default `trainer.dispose()`.
   * A caller that lends a pooled trainer for the first attempt keeps it here.
   */
  readonly release?: (trainer: Trainer) => void;
}

/** What {@link trainWithRetries} adds to a {@link LoopOutcome}. */
export interface RetriedOutcome extends LoopOutcome {
  /** The learning rate the returned fit ran with. */
  readonly lr: number;
  /** How many times the fit started over with a smaller learning rate. */
  readonly lrRetries: number;
}

/**
 * Runs {@link trainLoop} on a trainer from `start(lr)`; when the fit diverges, starts over from
 * fresh initial parameters with the learning rate times {@link LR_RETRY_FACTOR}, at most
 * {@link LR_RETRIES} times. Hands every trainer back to `options.release` (default: dispose of
 * it), so a pooled trainer lent for the first attempt can stay in its pool.
 *
 * `start` compiles the plan for `lr`, creates the trainer, resets it with the fit's seeds and
 * uploads z0, the target and the mask: the same fit, with another learning rate.
 *
 * @throws {FitDivergedError} "fit diverged: non-finite loss at step N (…)" after the last retry
 */
export async function trainWithRetries(
  start: (lr: number) => Promise<Trainer>,
  fit: ResolvedFit,
  options: RetryOptions,
): Promise<RetriedOutcome> {
  const release = options.release ?? ((trainer: Trainer) => trainer.dispose());
  const tried: number[] = [];
  for (let attempt = 0;; attempt++) {
    const lr = fit.lr * LR_RETRY_FACTOR ** attempt;
    const trainer = await start(lr);
    tried.push(+lr.toPrecision(3));
    try {
      const outcome = await trainLoop(trainer, { ...fit, lr }, options);
      return { ...outcome, lr, lrRetries: attempt };
    } catch (error) {
      if (!(error instanceof FitDivergedError)) throw error;
      if (attempt >= LR_RETRIES) {
        throw new FitDivergedError(error.step, error.what, `lr ${tried.join(", ")}`);
      }
      const next = +(fit.lr * LR_RETRY_FACTOR ** (attempt + 1)).toPrecision(3);
      options.recorder?.event(error.step, "retry", `lr ${next}`);
    } finally {
      release(trainer);
    }
  }
}
