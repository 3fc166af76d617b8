/**
 * The training loop of one batched trainer: k steps on the engine, then a readback of a few
 * scalars and the decisions taken there (backtracking, ES-WMV early stopping, progress).
 *
 * @module
 */
import type { Trainer } from "../engine/backend.ts";
import { Backtracker, wmvShouldStop } from "./early_stop.ts";
import type { FitHooks, ResolvedFit } from "./fit.ts";

/** What one batched trainer's loop produced. */
export interface LoopOutcome {
  readonly output: Float32Array;
  readonly steps: number;
  readonly stopStep?: number;
  readonly wmvArgmin?: number;
  readonly restores: number;
  readonly ms: number;
  readonly loss: number[];
  readonly bestPsnr?: number;
  readonly bestStep?: number;
}

/**
 * The training loop of one batched trainer: run k steps, read the scalars, decide
 * (backtracking, ES-WMV), report progress; at the end read the result (ES-WMV: the output at
 * the minimum variance; with EMA: the EMA; else the last output).
 */
export async function trainLoop(
  trainer: Trainer,
  fit: ResolvedFit,
  options: {
    batch: number;
    outSize: number;
    evaluateClean?: (data: Float32Array) => number;
    hooks: FitHooks;
  },
): Promise<LoopOutcome> {
  const { hooks } = options;
  const backtracker = fit.backtracking ? new Backtracker() : undefined;
  const resultName: "best" | "ema" | "output" = fit.earlyStop
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
  const started = performance.now();
  while (steps < fit.iterations) {
    if (hooks.signal?.aborted) throw hooks.signal.reason ?? new Error("dipFit: aborted");
    const count = Math.min(fit.checkEvery, fit.iterations - steps);
    trainer.run(count);
    steps += count;
    const scalars = await trainer.readScalars();
    loss = Array.from(scalars.loss);
    if (backtracker) {
      if (backtracker.check(scalars.psnrObserved) === "restore") trainer.restore();
      else trainer.snapshot();
    }
    let psnrNow: number | undefined;
    if (options.evaluateClean) {
      psnrNow = options.evaluateClean(await trainer.read(trackName));
      if (bestPsnr === undefined || psnrNow > bestPsnr) {
        bestPsnr = psnrNow;
        bestStep = steps;
      }
    }
    const elapsed = performance.now() - started;
    hooks.emit?.({
      type: "fit",
      name: hooks.name ?? "",
      step: steps,
      total: fit.iterations,
      loss: loss.reduce((a, b) => a + b, 0) / Math.max(1, loss.length),
      stepsPerSecond: elapsed > 0 ? (steps * 1000) / elapsed : 0,
      psnr: psnrNow,
    });
    if (fit.earlyStop && scalars.wmvArgmin) {
      const argmins = Array.from(scalars.wmvArgmin);
      if (argmins.every((a) => wmvShouldStop(steps, a, fit.earlyStop!.patience))) {
        stopStep = steps;
        wmvArgmin = Math.max(...argmins);
        break;
      }
    }
  }
  if (fit.earlyStop && wmvArgmin === undefined) {
    const scalars = await trainer.readScalars();
    if (scalars.wmvArgmin) wmvArgmin = Math.max(...Array.from(scalars.wmvArgmin));
  }
  // With ES-WMV before the window filled there is no "best" yet: fall back to the last output.
  const useBest = resultName === "best" && wmvArgmin !== undefined && wmvArgmin >= 0;
  const output = await trainer.read(useBest ? "best" : trackName);
  return {
    output: output.slice(0, options.batch * options.outSize),
    steps,
    stopStep,
    wmvArgmin,
    restores: backtracker?.restores ?? 0,
    ms: performance.now() - started,
    loss,
    bestPsnr,
    bestStep,
  };
}
