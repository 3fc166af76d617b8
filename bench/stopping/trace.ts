/**
 * Records one fit's trajectory once, so that every stopping rule can be evaluated offline on
 * it (bench/stopping/rules.ts) instead of fitting again per rule. The fit is dipFit's own
 * (fitImage, the task's preset at the protocol's width), run to the preset's step count with
 * a check every `checkEvery` steps, with both of the signals the rules watch switched on: the
 * device's ES-WMV variance (window 100) and a holdout of {@link HOLDOUT_FRACTION} of the
 * observed pixels left out of the loss. At every check it writes, for the raw output and its
 * EMA: the PSNR against the clean image (the task's score), the error on the held-out pixels
 * and on the fitted ones, windowed variances over 5, 10 and 20 checks and moving variances;
 * plus the ES-WMV scalars and the PSNR of the device's output at the variance minimum.
 *
 * @module
 */
import type { Image } from "../../core/image.ts";
import { ES_WMV_WINDOW } from "../../dip/early_stop.ts";
import { type FitCheck, fitImage, resolveFitOptions } from "../../dip/fit.ts";
import type { DipFitOptions, ResolvedFit } from "../../dip/options.ts";
import { identity, lanczosDown, type Operator } from "../../dip/operators.ts";
import {
  CheckWindowVariance,
  HOLDOUT_FRACTION,
  holdoutMask,
  maskedMse,
  MovingVariance,
} from "../../dip/stopping.ts";
import { channelsOverride } from "../../dip/tasks.ts";
import { psnr, psnrY } from "../../image/metrics.ts";
import { estimateNoiseSigma, NOISE_SIGMA, type StopItem, type StopTask } from "./items.ts";

/** Which network and image size a set of traces used. */
export interface Protocol {
  /** Side of the centre crop (the output's size). */
  readonly size: number;
  /** Network width at every level (undefined: the preset's, 128 for most). */
  readonly channels?: number;
  /** Steps between checks. */
  readonly checkEvery: number;
  /** Steps of every fit (default: the preset's). */
  readonly iterations?: number;
}

/** Windows (in checks) of the recorded windowed variances. */
export const VARIANCE_WINDOWS = [5, 10, 20] as const;
/** Smoothings of the recorded moving variances (per check). */
export const EMV_ALPHAS = [0.1, 0.3] as const;

/** Per-check columns of one output kind ("out" the raw output, "ema" its EMA). */
export interface KindColumns {
  /** The task's score against the clean image (SR: Y-PSNR, 4-pixel border). */
  psnr: number[];
  /** MSE of A(f) against the observation on the held-out pixels. */
  held: number[];
  /** MSE of A(f) against the observation on the pixels in the loss. */
  fitted: number[];
  /** Windowed variance over the last w checks, per w of {@link VARIANCE_WINDOWS}. */
  wv: Record<string, (number | null)[]>;
  /** Moving variance per α of {@link EMV_ALPHAS}. */
  emv: Record<string, (number | null)[]>;
}

/** One recorded fit. */
export interface Trace {
  readonly version: 1;
  readonly task: StopTask;
  readonly set: string;
  readonly name: string;
  readonly seed: number;
  readonly protocol: Protocol;
  /** The preset, its step count and whether it returns the EMA. */
  readonly preset: string;
  readonly iterations: number;
  readonly emaDecay: number;
  readonly holdout: number;
  /** Noise σ (0–1 scale): the degradation's (denoising), and Donoho's estimate. */
  readonly sigma?: number;
  readonly sigmaEstimate: number;
  /** PSNR of the observation (SR: none). */
  readonly inputPsnr?: number;
  readonly msPerStep: number;
  readonly step: number[];
  readonly loss: number[];
  readonly psnrObserved: number[];
  /** The device's ES-WMV (W = 100, raw output): minimum so far and its step. */
  readonly wmvMin: (number | null)[];
  readonly wmvArgmin: number[];
  /** Score of the device's output at the variance minimum (what ES-WMV returns). */
  readonly wmvBestPsnr: (number | null)[];
  readonly out: KindColumns;
  readonly ema: KindColumns;
  /** Backtracking restores. */
  readonly restores: number;
}

/** The dipFit options of a task at a protocol (before the trace's own settings). */
export function traceOptions(task: StopTask, protocol: Protocol, seed: number): ResolvedFit {
  const options: Record<string, unknown> = task === "sr"
    ? { task: "sr", factor: 4 }
    : task === "inpaint"
    // bench/quality's reduced protocol: the paper's preset at lr 0.01 (not 0.001 for 11000 steps)
    ? { task: "inpaint", preset: "inpaint-bernoulli", lr: 0.01, iterations: 3000 }
    : { task };
  options.seed = seed;
  options.checkEvery = protocol.checkEvery;
  if (protocol.iterations !== undefined) options.iterations = protocol.iterations;
  // The JPEG preset's network is small already; the others take the protocol's width.
  if (protocol.channels !== undefined && task !== "jpeg") {
    const fit = resolveFitOptions(options as unknown as DipFitOptions);
    options.net = channelsOverride(fit.arch, fit.net as Record<string, unknown>, protocol.channels);
  }
  const fit = resolveFitOptions(options as unknown as DipFitOptions);
  // Both signals on, no stopping: ES-WMV's device variance and a holdout.
  return {
    ...fit,
    earlyStop: {
      rule: "wmv",
      window: ES_WMV_WINDOW,
      patience: Number.POSITIVE_INFINITY,
      holdout: HOLDOUT_FRACTION,
    },
  };
}

function score(task: StopTask, out: Image, clean: Image): number {
  return task === "sr" ? psnrY(out, clean, 4) : psnr(out, clean);
}

function round(value: number): number {
  return Number.isFinite(value) ? +value.toPrecision(6) : value;
}

function orNull(value: number): number | null {
  return Number.isFinite(value) ? round(value) : null;
}

/** Columns and the running statistics that fill them, for one output kind. */
class KindRecorder {
  readonly columns: KindColumns = { psnr: [], held: [], fitted: [], wv: {}, emv: {} };
  readonly #wv = VARIANCE_WINDOWS.map((w) => new CheckWindowVariance(w));
  readonly #emv = EMV_ALPHAS.map((a) => new MovingVariance(a));

  constructor() {
    for (const w of VARIANCE_WINDOWS) this.columns.wv[w] = [];
    for (const a of EMV_ALPHAS) this.columns.emv[a] = [];
  }

  push(
    image: Image,
    item: StopItem,
    operator: Operator,
    held: Float32Array,
    fitted: Float32Array,
  ): void {
    const c = this.columns;
    c.psnr.push(round(score(item.task, image, item.clean)));
    const predicted = operator.apply(image.data, image.channels, image.height, image.width);
    const target = item.observation.data;
    c.held.push(round(maskedMse(predicted, target, held, image.channels)));
    c.fitted.push(round(maskedMse(predicted, target, fitted, image.channels)));
    VARIANCE_WINDOWS.forEach((w, i) => c.wv[w]!.push(orNull(this.#wv[i]!.push(image.data))));
    EMV_ALPHAS.forEach((a, i) => c.emv[a]!.push(orNull(this.#emv[i]!.push(image.data))));
  }
}

/** Fits `item` with `seed` at `protocol` on `engine` and returns its trace. */
export async function recordTrace(
  item: StopItem,
  protocol: Protocol,
  seed: number,
  engine: { engine?: "cpu" | "webgpu" | "reference" | "auto"; threads?: number },
  signal?: AbortSignal,
): Promise<Trace> {
  const fit = traceOptions(item.task, protocol, seed);
  const x0 = item.observation;
  // The sizes here are multiples of the networks' 32 and at least 64: nothing is padded, so
  // the held-out pixels are the ones fit.ts draws from the same inputs.
  const held = holdoutMask(x0.height, x0.width, fit.earlyStop!.holdout!, fit.seed, item.mask?.data);
  const fitted = held.map((h, i) => (1 - h) * (item.mask ? item.mask.data[i]! : 1));
  const operator = item.task === "sr" ? lanczosDown(4) : identity();
  const out = new KindRecorder();
  const ema = new KindRecorder();
  const rows = {
    step: [] as number[],
    loss: [] as number[],
    psnrObserved: [] as number[],
    wmvMin: [] as (number | null)[],
    wmvArgmin: [] as number[],
    wmvBestPsnr: [] as (number | null)[],
  };
  const onCheck = async (check: FitCheck) => {
    const [output] = await check.read("output");
    const [average] = fit.ema > 0 ? await check.read("ema") : [output];
    rows.step.push(check.step);
    rows.loss.push(round(check.scalars.loss[0]!));
    rows.psnrObserved.push(round(check.scalars.psnrObserved[0]!));
    // Before the window fills the minimum is +∞ and its step a placeholder.
    const wmvMin = check.scalars.wmvMin?.[0] ?? Number.NaN;
    const argmin = Number.isFinite(wmvMin) ? check.scalars.wmvArgmin?.[0] ?? -1 : -1;
    rows.wmvMin.push(orNull(wmvMin));
    rows.wmvArgmin.push(argmin);
    const [best] = argmin >= 0 ? await check.read("best") : [undefined];
    rows.wmvBestPsnr.push(best ? round(score(item.task, best, item.clean)) : null);
    out.push(output!, item, operator, held, fitted);
    ema.push(average!, item, operator, held, fitted);
  };
  const result = await fitImage(
    { observation: x0, mask: item.mask },
    fit,
    { signal, onCheck, schedule: { engine: engine.engine, threads: engine.threads } },
  );
  return {
    version: 1,
    task: item.task,
    set: item.set,
    name: item.name,
    seed,
    protocol,
    preset: fit.preset,
    iterations: fit.iterations,
    emaDecay: fit.ema,
    holdout: fit.earlyStop!.holdout!,
    ...(item.task === "denoise" ? { sigma: NOISE_SIGMA / 255 } : {}),
    sigmaEstimate: round(estimateNoiseSigma(x0)),
    ...(item.task === "sr" ? {} : { inputPsnr: round(score(item.task, x0, item.clean)) }),
    msPerStep: round(result.msPerStep),
    ...rows,
    out: out.columns,
    ema: ema.columns,
    restores: result.restores,
  };
}
