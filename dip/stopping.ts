/**
 * Stopping rules that need no clean image, decided on the host at the fit loop's checks, and
 * the pieces the stopping benchmark (bench/stopping/) replays offline on recorded runs, so a
 * rule is the same code in a fit and in the study that chose it.
 *
 * - `holdout` (self-validation; `earlyStop: true` for denoising and JPEG): a seeded random
 *   {@link HOLDOUT_FRACTION} of the observed pixels is left out of the loss; at every check the
 *   error of the (EMA) output, seen through the task's operator, on those pixels is an
 *   estimate of its error on pixels the network did not fit: for noise independent across
 *   pixels E‖A(f)ᵢ − yᵢ‖² = ‖A(f)ᵢ − A(x)ᵢ‖² + σ², since fᵢ never saw yᵢ. The fit stops once
 *   that error has not improved for `patience` steps, and returns the output at its minimum.
 *   It works for every task whose observation is per pixel (denoising, SR's low-resolution
 *   pixels, inpainting's known pixels, Poisson, deblurring), costs one readback of the output
 *   per check and no extra forward pass.
 * - `wmv` (ES-WMV, dip/early_stop.ts): the windowed variance of the raw output, on the device.
 * - `wmv-ema` and `emv`: the windowed variance of the output the fit returns (the EMA when on)
 *   over the last `window` steps' checks, and its exponential moving variance (ES-EMV, Wang et
 *   al., who apply it to the raw output; `earlyStop: true` for inpainting), both on the
 *   outputs read back at the checks.
 *
 * @module
 */
import { pcgHash } from "../engine/plan.ts";
import { mulberry32 } from "./degrade.ts";

/** Stopping rules of `earlyStop`. */
export const STOP_RULES = ["holdout", "wmv", "wmv-ema", "emv"] as const;

/** A stopping rule's name. */
export type StopRule = typeof STOP_RULES[number];

/** The rule `earlyStop: true` selects where a task has no measured choice of its own. */
export const DEFAULT_STOP_RULE: StopRule = "holdout";

/**
 * Per task, as measured by bench/stopping.ts (bench/README.md, "Stopping"): the rule
 * `earlyStop: true` runs, and whether a fit that sets neither `earlyStop` nor `iterations`
 * stops early by default (the preset's steps are then a cap). Tasks not listed use
 * {@link DEFAULT_STOP_RULE} and run their preset's steps unless asked.
 */
export const TASK_STOPPING: Readonly<Record<string, { rule: StopRule; auto: boolean }>> = {
  // The preset's 3000 steps overfit the noise on crops up to 128²: fixed steps ended 5.8 dB
  // under the run's best, the holdout rule 0.05 dB (ES-WMV 1.8 dB), over 16 fits.
  denoise: { rule: "holdout", auto: true },
  // JPEG's error is correlated within 8×8 blocks, so the held-out pixels are predicted from
  // their block and their error kept falling: the rule never fired, and the preset's steps
  // ended near the best anyway; ES-WMV stopped early and lower.
  jpeg: { rule: "holdout", auto: false },
  // SR's and inpainting's observations are noise-free: their PSNR still rose at the preset's
  // last step; holdout (few held-out pixels at these sizes) stopped far too early. For SR
  // ES-WMV rarely fired and returned a late output (0.11 dB mean gap, worst 0.33, 25 fits).
  sr: { rule: "wmv", auto: false },
  // Inpainting over 11 fits: ES-WMV left montage 0.94 dB under its best and ended under the
  // fixed steps on the mean; the moving variance of the result (emv, α 0.1, patience 500)
  // returned an earlier check where the PSNR had flattened: 0.15 dB mean gap, worst 0.36.
  inpaint: { rule: "emv", auto: false },
};

/** The tasks that stop early by default, for the docs. */
export function tasksStoppingByDefault(): string[] {
  return Object.entries(TASK_STOPPING).filter(([, s]) => s.auto).map(([task]) => task);
}

/** The rule `earlyStop: true` runs for `task`. */
export function defaultStopRule(task: string): StopRule {
  return TASK_STOPPING[task]?.rule ?? DEFAULT_STOP_RULE;
}

/** Whether a fit of `task` that sets neither `earlyStop` nor `iterations` stops early. */
export function stopsByDefault(task: string): boolean {
  return TASK_STOPPING[task]?.auto ?? false;
}

/** Share of the observed pixels the `holdout` rule leaves out of the loss. */
export const HOLDOUT_FRACTION = 0.05;

/** Steps without a new minimum after which the host rules stop. */
export const HOLDOUT_PATIENCE = 500;

/** Smoothing of ES-EMV's moving mean and variance per check (Wang et al. use 0.1 per step). */
export const EMV_ALPHA = 0.1;

/**
 * A running minimum with patience: the decision every rule here shares. `observe` a value per
 * check; `shouldStop` once the minimum is `patience` or more steps old.
 */
export class MinimumTracker {
  /** Smallest value seen (+∞ before the first finite one). */
  min = Number.POSITIVE_INFINITY;
  /** Step of the minimum (−1 before the first finite value). */
  argmin = -1;

  /** Records the value at `step`; returns whether it is a new minimum. */
  observe(step: number, value: number): boolean {
    if (!(value < this.min)) return false;
    this.min = value;
    this.argmin = step;
    return true;
  }

  /** Whether the minimum is at least `patience` steps older than `step`. */
  shouldStop(step: number, patience: number): boolean {
    return this.argmin >= 0 && step - this.argmin >= patience;
  }
}

/**
 * The held-out pixels: 1 where a pixel is left out of the loss, 0 elsewhere (1 channel, at the
 * observation's size). Draws `fraction` of the pixels where `known` is 1 (all pixels when there
 * is no mask), at least one, from a stream seeded by `seed`; the same inputs give the same mask.
 */
export function holdoutMask(
  height: number,
  width: number,
  fraction: number,
  seed: number,
  known?: Float32Array,
): Float32Array {
  if (!(fraction > 0 && fraction < 1)) {
    throw new RangeError(
      `stopping: expected a holdout fraction in (0, 1) but received ${fraction} of type ${typeof fraction}`,
    );
  }
  const plane = height * width;
  const candidates: number[] = [];
  for (let i = 0; i < plane; i++) if (!known || known[i]! > 0.5) candidates.push(i);
  const count = Math.max(1, Math.round(fraction * candidates.length));
  const random = mulberry32(pcgHash((seed ^ 0x68b1d7e3) >>> 0));
  // A partial Fisher–Yates shuffle: the first `count` candidates are the draw.
  for (let i = 0; i < count && i < candidates.length - 1; i++) {
    const j = i + Math.floor(random() * (candidates.length - i));
    [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
  }
  const held = new Float32Array(plane);
  for (let i = 0; i < Math.min(count, candidates.length); i++) held[candidates[i]!] = 1;
  return held;
}

/**
 * Mean squared error between a prediction and the target over the pixels where `weight` is 1
 * (1 channel, broadcast over channels): the held-out error with the held-out mask, the
 * training residual with the loss mask.
 */
export function maskedMse(
  prediction: Float32Array,
  target: Float32Array,
  weight: Float32Array,
  channels: number,
): number {
  const plane = weight.length;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < plane; i++) {
    const w = weight[i]!;
    if (w === 0) continue;
    for (let c = 0; c < channels; c++) {
      const d = prediction[c * plane + i]! - target[c * plane + i]!;
      sum += w * d * d;
    }
    count += w * channels;
  }
  return count > 0 ? sum / count : Number.NaN;
}

/** Mean over values of the variance over a set of equally sized outputs. */
export function varianceOf(outputs: readonly Float32Array[]): number {
  const n = outputs.length;
  if (n < 2) return Number.NaN;
  const size = outputs[0]!.length;
  let total = 0;
  for (let i = 0; i < size; i++) {
    let mean = 0;
    for (const x of outputs) mean += x[i]!;
    mean /= n;
    for (const x of outputs) total += (x[i]! - mean) ** 2;
  }
  return total / n / size;
}

/** The windowed variance of the outputs of the last `count` checks. */
export class CheckWindowVariance {
  readonly #ring: Float32Array[] = [];
  /** Checks in the window. */
  readonly count: number;

  /** A window of `count` ≥ 2 checks. */
  constructor(count: number) {
    this.count = Math.max(2, Math.round(count));
  }

  /** Pushes a check's output; returns the variance once the window is full, else NaN. */
  push(x: Float32Array): number {
    if (this.#ring.length === this.count) this.#ring.shift();
    this.#ring.push(x.slice());
    return this.#ring.length === this.count ? varianceOf(this.#ring) : Number.NaN;
  }
}

/**
 * ES-EMV (Wang et al., TMLR'23): an exponential moving mean μ and variance v of the output,
 * μ ← (1 − α)μ + αx, v ← (1 − α)(v + α‖x − μ_old‖²/N), updated at each check.
 */
export class MovingVariance {
  readonly alpha: number;
  #mean: Float32Array | undefined;
  #variance = 0;
  #updates = 0;

  /** A moving variance with smoothing `alpha` in (0, 1]. */
  constructor(alpha = EMV_ALPHA) {
    this.alpha = alpha;
  }

  /** Pushes a check's output; returns the moving variance (NaN until it has settled). */
  push(x: Float32Array): number {
    const a = this.alpha;
    if (!this.#mean) {
      this.#mean = x.slice();
      this.#updates = 1;
      return Number.NaN;
    }
    const mean = this.#mean;
    let sq = 0;
    for (let i = 0; i < x.length; i++) {
      const d = x[i]! - mean[i]!;
      sq += d * d;
      mean[i] = mean[i]! + a * d;
    }
    this.#variance = (1 - a) * (this.#variance + (a * sq) / x.length);
    this.#updates++;
    // The first 1/α updates still carry the start value's weight.
    return this.#updates > Math.ceil(1 / a) ? this.#variance : Number.NaN;
  }
}

/** A per-fit score of one output (lower is better) for a {@link CheckRule}. */
export type OutputScore = (output: Float32Array) => number;

/**
 * A host-side stopping rule over the output read back at every check: per fit, a score
 * (held-out error, a windowed or moving variance), its running minimum and a copy of the
 * output there. Stops once every fit's minimum is `patience` steps old.
 */
export class CheckRule {
  readonly name: StopRule;
  readonly patience: number;
  readonly #scores: OutputScore[];
  readonly #trackers: MinimumTracker[];
  readonly #outSize: number;
  #chosen: Float32Array | undefined;
  /** The last score of each fit. */
  last: number[];

  /**
   * A rule for `scores.length` fits of `outSize` values each; `scores[b]` scores fit b's output
   * (each fit gets its own, since a variance keeps state).
   */
  constructor(name: StopRule, scores: OutputScore[], outSize: number, patience: number) {
    this.name = name;
    this.patience = patience;
    this.#scores = scores;
    this.#outSize = outSize;
    this.#trackers = scores.map(() => new MinimumTracker());
    this.last = scores.map(() => Number.NaN);
  }

  /** Scores every fit's output (batch-major) after `step` steps; keeps the new minima. */
  observe(step: number, outputs: Float32Array): void {
    const n = this.#outSize;
    for (let b = 0; b < this.#scores.length; b++) {
      const output = outputs.subarray(b * n, (b + 1) * n);
      const value = this.#scores[b]!(output);
      this.last[b] = value;
      if (this.#trackers[b]!.observe(step, value)) {
        this.#chosen ??= new Float32Array(this.#scores.length * n);
        this.#chosen.set(output, b * n);
      }
    }
  }

  /** Whether every fit's minimum is `patience` steps older than `step`. */
  shouldStop(step: number): boolean {
    return this.#trackers.every((t) => t.shouldStop(step, this.patience));
  }

  /** The step of each fit's minimum (−1 before the first score). */
  get chosenSteps(): number[] {
    return this.#trackers.map((t) => t.argmin);
  }

  /** The outputs at the minima, batch-major, once every fit has one. */
  chosen(): Float32Array | undefined {
    return this.#trackers.every((t) => t.argmin >= 0) ? this.#chosen : undefined;
  }
}

/** What {@link checkRule} needs to score held-out pixels. */
export interface HoldoutProblem {
  /** The observation the loss compares with (padded), C × h × w at the data term's size. */
  readonly target: Float32Array;
  /** Channels of the observation. */
  readonly channels: number;
  /** 1 where a pixel is held out (1 × h × w). */
  readonly held: Float32Array;
  /** The task's operator without its mask, applied to one fit's output. */
  readonly apply: (output: Float32Array) => Float32Array;
}

/**
 * The host rule `name` for `fits` fits of `outSize` values, checked every `checkEvery` steps;
 * `window` (steps) is `wmv-ema`'s, `holdout` the held-out pixels (rule `holdout` only).
 */
export function checkRule(
  name: Exclude<StopRule, "wmv">,
  options: {
    readonly fits: number;
    readonly outSize: number;
    readonly patience: number;
    readonly checkEvery: number;
    readonly window: number;
    readonly holdout?: HoldoutProblem;
  },
): CheckRule {
  const { fits, outSize, patience, checkEvery, window, holdout } = options;
  const scores: OutputScore[] = Array.from({ length: fits }, () => {
    if (name === "holdout") {
      if (!holdout) throw new Error("stopping: rule holdout needs the held-out pixels");
      return (x) => maskedMse(holdout.apply(x), holdout.target, holdout.held, holdout.channels);
    }
    if (name === "emv") {
      const emv = new MovingVariance();
      return (x) => emv.push(x);
    }
    const wv = new CheckWindowVariance(window / checkEvery);
    return (x) => wv.push(x);
  });
  return new CheckRule(name, scores, outSize, patience);
}

/** One line for `explain()`: the rule and its settings, e.g. `early stop: holdout 5 %, patience 500`. */
export function describeEarlyStop(earlyStop: {
  readonly rule: StopRule;
  readonly patience: number;
  readonly window?: number;
  readonly holdout?: number;
}): string {
  const { rule, patience, window, holdout } = earlyStop;
  const what = rule === "holdout"
    ? `holdout ${+((holdout ?? HOLDOUT_FRACTION) * 100).toFixed(2)} % of the pixels`
    : rule === "wmv"
    ? `ES-WMV window ${window}`
    : rule === "wmv-ema"
    ? `windowed variance of the result, window ${window}`
    : "ES-EMV";
  return `early stop: ${what}, patience ${patience}`;
}
