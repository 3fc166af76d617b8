/**
 * The benchmark protocol of bench/quality.ts: its tasks, the reduced protocol's and
 * `--early-stop`'s settings, issue 5's tolerances, how a task is scored, and the dipFit options
 * of one fit (see bench/quality.ts's module doc for the why of each number).
 *
 * @module
 */
import { channelsOverride } from "../../dip/tasks.ts";
import { type DipFitOptions, resolveFitOptions } from "../../dip/fit.ts";
import type { Image } from "../../core/image.ts";
import { psnr, psnrY } from "../../image/metrics.ts";

/** The benchmark tasks of the paper's protocol. */
export type Task = "denoise" | "sr" | "inpaint";

/** Every task, in table order. */
export const TASKS: readonly Task[] = ["denoise", "sr", "inpaint"];

/** The reduced protocol's settings, per task (bench/quality.ts's module doc). */
export const REDUCED = {
  crop: 64,
  channels: 32,
  iterations: { denoise: 600, sr: 400, inpaint: 600 } as Record<Task, number>,
  inpaintLr: 0.01,
  /** Seeds per image when `--seeds` is not given (issue 5 (a): a mean over ≥ 3 seeds). */
  seeds: 3,
};

/** ES-WMV settings of `--early-stop`, per protocol (bench/quality.ts's module doc). */
export const EARLY_STOP = {
  // Wang et al., TMLR'23: W = 100, P = 1000; their notebook runs 5000 iterations
  full: { window: 100, patience: 1000, iterations: 5000, checkEvery: 10 },
  // scaled to the reduced fit (peak after a few hundred steps): the paper's W, P = 300
  reduced: { window: 100, patience: 300, iterations: 2000, checkEvery: 10 },
};

/** Issue 5 (a): dipline's mean PSNR within this many dB of the PyTorch twin's. */
export const TORCH_TOLERANCE_DB = 0.3;
/** Issue 5 (a): the means are taken over at least this many seeds. */
export const MIN_SEEDS = 3;
/** Issue 5 (b): ES-WMV's output within this many dB of the best PSNR along the run. */
export const EARLY_STOP_TOLERANCE_DB = 0.5;
/** Issue 5's last target: dipline's mean PSNR per set within this many dB of the paper's. */
export const PAPER_TOLERANCE_DB = 0.3;

/** Scores `out` against `clean` with the task's protocol. */
export function score(task: Task, out: Image, clean: Image): number {
  return task === "sr" ? psnrY(out, clean, 4) : psnr(out, clean);
}

/** The command-line settings every fit shares. */
export interface FitFlags {
  /** `--engine`. */
  readonly engine: string;
  /** `--threads`. */
  readonly threads?: number;
  /** `--iterations`: overrides either protocol's steps. */
  readonly iterations?: number;
  /** `--channels`: overrides either protocol's widths. */
  readonly channels?: number;
}

/** ES-WMV settings of one `--early-stop` run. */
export interface EarlyStopSettings {
  /** W, the window of the variance. */
  readonly window: number;
  /** P, the steps without a new minimum before stopping. */
  readonly patience: number;
  /** The cap on the steps. */
  readonly iterations: number;
  /** Steps between PSNR checks. */
  readonly checkEvery: number;
}

/** dipFit options of one fit of `task` with fit seed `seed` (ES-WMV on when `earlyStop`). */
export function fitOptions(
  task: Task,
  reduced: boolean,
  flags: FitFlags,
  seed: number,
  earlyStop?: EarlyStopSettings,
): DipFitOptions {
  const options: Record<string, unknown> = task === "inpaint"
    ? { task, preset: "inpaint-bernoulli" }
    : task === "sr"
    ? { task, factor: 4 }
    : { task };
  options.engine = flags.engine;
  options.seed = seed;
  if (flags.threads !== undefined) options.threads = flags.threads;
  if (reduced) {
    options.iterations = REDUCED.iterations[task];
    if (task === "inpaint") options.lr = REDUCED.inpaintLr;
  }
  if (flags.iterations !== undefined) options.iterations = flags.iterations;
  if (earlyStop) {
    options.earlyStop = { window: earlyStop.window, patience: earlyStop.patience };
    options.iterations = earlyStop.iterations;
    options.checkEvery = earlyStop.checkEvery;
    options.ema = 0; // ES-WMV watches and returns raw iterates (bench/quality.ts)
  }
  const channels = flags.channels ?? (reduced ? REDUCED.channels : undefined);
  if (channels !== undefined) {
    const fit = resolveFitOptions(options as unknown as DipFitOptions);
    options.net = channelsOverride(fit.arch, fit.net as Record<string, unknown>, channels);
  }
  return options as unknown as DipFitOptions;
}
