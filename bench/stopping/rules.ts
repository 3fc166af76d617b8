/**
 * Stopping rules replayed on recorded traces (bench/stopping/trace.ts): each rule walks the
 * checks in order as the fit loop would, decides when it would have stopped and which check's
 * output it would have returned, using only what a fit without a clean image sees. The PSNR at
 * that check is then read from the trace. The decision is {@link MinimumTracker}, the code the
 * fit loop runs (dip/stopping.ts).
 *
 * @module
 */
import { ES_WMV_PATIENCE } from "../../dip/early_stop.ts";
import {
  defaultStopRule,
  HOLDOUT_PATIENCE,
  MinimumTracker,
  type StopRule,
  stopsByDefault,
} from "../../dip/stopping.ts";
import type { KindColumns, Trace } from "./trace.ts";

/** What a rule picked on one trace. */
export interface Pick {
  /** Index of the check whose output is returned. */
  readonly index: number;
  /** Which output: the raw one, the EMA, or the device's output at the variance minimum. */
  readonly kind: "out" | "ema" | "wmvBest";
  /** Steps run when the rule stopped (the cap if it never did). */
  readonly stopStep: number;
}

/** A rule: a name, a line saying what it does, and its decision on a trace. */
export interface ReplayRule {
  readonly name: string;
  readonly description: string;
  /** Tasks it applies to (all when absent). */
  readonly tasks?: readonly string[];
  pick(trace: Trace): Pick;
}

/** The output the fit returns without early stopping: the EMA when on, else the raw one. */
export function trackedKind(trace: Trace): "out" | "ema" {
  return trace.emaDecay > 0 ? "ema" : "out";
}

/** The score of a pick. */
export function pickPsnr(trace: Trace, pick: Pick): number {
  if (pick.kind === "wmvBest") return trace.wmvBestPsnr[pick.index] ?? trace.out.psnr[pick.index]!;
  return trace[pick.kind].psnr[pick.index]!;
}

/**
 * The minimum of `values` with patience, replayed check by check: the index of the minimum
 * when it stopped (or at the end) and the steps run then. `patience(argminStep)` may depend on
 * where the minimum is (relative patience).
 */
export function replayMinimum(
  steps: readonly number[],
  values: readonly (number | null)[],
  patience: (argminStep: number) => number,
): { index: number; stopStep: number } {
  const tracker = new MinimumTracker();
  let index = -1;
  for (let i = 0; i < steps.length; i++) {
    const value = values[i];
    if (value !== null && value !== undefined && tracker.observe(steps[i]!, value)) index = i;
    if (index >= 0 && tracker.shouldStop(steps[i]!, patience(tracker.argmin))) {
      return { index, stopStep: steps[i]! };
    }
  }
  return { index: index >= 0 ? index : steps.length - 1, stopStep: steps[steps.length - 1]! };
}

/** Index of the check closest to `step` (at or before it when between two). */
function checkAt(trace: Trace, step: number): number {
  let best = 0;
  for (let i = 0; i < trace.step.length; i++) if (trace.step[i]! <= step) best = i;
  return best;
}

/** Running mean over the last `n` values (NaN-free): smooths a noisy score before its minimum. */
export function smooth(values: readonly (number | null)[], n: number): (number | null)[] {
  return values.map((_, i) => {
    let sum = 0;
    let count = 0;
    for (let j = Math.max(0, i - n + 1); j <= i; j++) {
      const v = values[j];
      if (v !== null && v !== undefined && Number.isFinite(v)) {
        sum += v;
        count++;
      }
    }
    return count === n ? sum / count : null;
  });
}

const fixed = (p: number) => () => p;

/** The fixed-step default: the output the preset returns after its steps. */
export const FIXED: ReplayRule = {
  name: "fixed",
  description: "no stopping: the preset's steps, its result (EMA when on)",
  pick: (t) => ({ index: t.step.length - 1, kind: trackedKind(t), stopStep: t.step.at(-1)! }),
};

/** The best check along the run (needs the clean image: the target, not a rule). */
export const PEAK: ReplayRule = {
  name: "peak",
  description: "the best check of the returned output (needs the clean image)",
  pick(t) {
    const psnr = t[trackedKind(t)].psnr;
    const index = psnr.indexOf(Math.max(...psnr));
    return { index, kind: trackedKind(t), stopStep: t.step.at(-1)! };
  },
};

/** ES-WMV as dipFit runs it: device variance of the raw output, W = 100, patience P. */
export function wmvRule(patience: number, returnTracked = false): ReplayRule {
  return {
    name: `wmv P${patience}${returnTracked ? " →result" : ""}`,
    description: `ES-WMV (W 100, P ${patience}) on the device; returns ${
      returnTracked
        ? "the fit's result (EMA when on) at the check nearest the variance minimum"
        : "the raw output at the variance minimum"
    }`,
    pick(t) {
      for (let i = 0; i < t.step.length; i++) {
        const argmin = t.wmvArgmin[i]!;
        if (argmin >= 0 && t.step[i]! - 1 - argmin >= patience) {
          return returnTracked
            ? { index: checkAt(t, argmin + 1), kind: trackedKind(t), stopStep: t.step[i]! }
            : { index: i, kind: "wmvBest", stopStep: t.step[i]! };
        }
      }
      const last = t.step.length - 1;
      const argmin = t.wmvArgmin[last]!;
      return returnTracked
        ? { index: checkAt(t, argmin + 1), kind: trackedKind(t), stopStep: t.step[last]! }
        : { index: last, kind: "wmvBest", stopStep: t.step[last]! };
    },
  };
}

/**
 * ES-WMV's decision with the fit's result (EMA when on) read back live: at the first check that
 * sees the final variance minimum (a fit learns of a new minimum only at the next check).
 */
export function wmvLiveRule(patience: number): ReplayRule {
  const device = wmvRule(patience);
  return {
    name: `wmv P${patience} →result live`,
    description: `ES-WMV (W 100, P ${patience}); returns the fit's result (EMA when on) at the ` +
      "first check after the variance minimum",
    pick(t) {
      const { index: stopIndex, stopStep } = device.pick(t);
      const argmin = t.wmvArgmin[stopIndex]!;
      const first = t.wmvArgmin.findIndex((a) => a === argmin);
      return { index: first >= 0 ? first : stopIndex, kind: trackedKind(t), stopStep };
    },
  };
}

/** A minimum-with-patience rule over one recorded column. */
function columnRule(
  name: string,
  description: string,
  column: (t: Trace, kind: KindColumns) => readonly (number | null)[],
  patience: (t: Trace, argminStep: number) => number,
  tasks?: readonly string[],
): ReplayRule {
  return {
    name,
    description,
    ...(tasks ? { tasks } : {}),
    pick(t) {
      const kind = trackedKind(t);
      const { index, stopStep } = replayMinimum(t.step, column(t, t[kind]), (a) => patience(t, a));
      return { index, kind, stopStep };
    },
  };
}

/** Windowed variance of the result (EMA when on) over `w` checks, patience P steps. */
export function wmvResultRule(w: number, patience: number): ReplayRule {
  return columnRule(
    `wmv-ema w${w} P${patience}`,
    `windowed variance of the result over ${w} checks, patience ${patience}`,
    (_, k) => k.wv[w]!,
    fixed(patience),
  );
}

/** ES-EMV on the result, smoothing α per check, patience P steps. */
export function emvRule(alpha: number, patience: number): ReplayRule {
  return columnRule(
    `emv α${alpha} P${patience}`,
    `exponential moving variance of the result (α ${alpha} per check), patience ${patience}`,
    (_, k) => k.emv[alpha]!,
    fixed(patience),
  );
}

/**
 * The holdout rule: the result's error on the held-out pixels, optionally smoothed over `n`
 * checks; patience P steps, or relative: max(P, ρ · argmin step).
 */
export function holdoutRule(patience: number, options: { smooth?: number; rho?: number } = {}) {
  const n = options.smooth ?? 1;
  const rho = options.rho ?? 0;
  return columnRule(
    `holdout P${patience}${rho ? ` ρ${rho}` : ""}${n > 1 ? ` s${n}` : ""}`,
    `error on the held-out pixels${n > 1 ? ` (mean of ${n} checks)` : ""}, patience ${
      rho ? `max(${patience}, ${rho} × the minimum's step)` : patience
    }`,
    (_, k) => n > 1 ? smooth(k.held, n) : k.held,
    (_, argmin) => Math.max(patience, rho * argmin),
  );
}

/**
 * The discrepancy principle (known σ, Gaussian denoising): the first check whose residual on
 * the fitted pixels falls to κ·σ²; `estimated` uses Donoho's σ from the observation instead of
 * the true one.
 */
export function discrepancyRule(kappa: number, estimated = false): ReplayRule {
  return {
    name: `discrepancy κ${kappa}${estimated ? " σ̂" : ""}`,
    description: `first check with residual ≤ ${kappa}·σ² (${
      estimated ? "σ estimated from the image" : "σ known"
    })`,
    tasks: ["denoise"],
    pick(t) {
      const kind = trackedKind(t);
      const sigma = estimated ? t.sigmaEstimate : t.sigma ?? t.sigmaEstimate;
      const fitted = t[kind].fitted;
      const i = fitted.findIndex((r) => r <= kappa * sigma * sigma);
      const index = i >= 0 ? i : fitted.length - 1;
      return { index, kind, stopStep: t.step[index]! };
    },
  };
}

/** The rules the benchmark compares, in table order. */
export function candidateRules(): ReplayRule[] {
  const rules: ReplayRule[] = [FIXED, DIPFIT_DEFAULT, EARLY_STOP_TRUE];
  for (const p of [300, 1000]) rules.push(wmvRule(p), wmvRule(p, true), wmvLiveRule(p));
  for (const w of [5, 10, 20]) for (const p of [300, 500]) rules.push(wmvResultRule(w, p));
  for (const a of [0.1, 0.3]) for (const p of [300, 500]) rules.push(emvRule(a, p));
  for (const p of [200, 300, 500, 1000, Number.POSITIVE_INFINITY]) rules.push(holdoutRule(p));
  for (const p of [300, 500]) rules.push(holdoutRule(p, { smooth: 5 }), holdoutRule(p, { rho: 1 }));
  for (const k of [1, 1.1]) rules.push(discrepancyRule(k), discrepancyRule(k, true));
  return rules;
}

/** A stopping rule of dipFit with its default settings, as a replay. */
export function replayOf(rule: StopRule): ReplayRule {
  return rule === "holdout"
    ? holdoutRule(HOLDOUT_PATIENCE)
    : rule === "wmv"
    ? wmvRule(ES_WMV_PATIENCE)
    : rule === "wmv-ema"
    ? wmvResultRule(10, HOLDOUT_PATIENCE)
    : emvRule(0.1, HOLDOUT_PATIENCE);
}

/** What `earlyStop: true` runs, per task (dip/stopping.ts TASK_STOPPING). */
export const EARLY_STOP_TRUE: ReplayRule = {
  name: "earlyStop: true",
  description: "each task's rule of earlyStop: true (dip/stopping.ts TASK_STOPPING)",
  pick: (t) => replayOf(defaultStopRule(t.task)).pick(t),
};

/** What a fit that sets neither earlyStop nor iterations does, per task. */
export const DIPFIT_DEFAULT: ReplayRule = {
  name: "dipFit default",
  description: "a fit that sets neither earlyStop nor iterations: the task's rule where it " +
    "stops by default, else the preset's steps",
  pick: (t) => (stopsByDefault(t.task) ? replayOf(defaultStopRule(t.task)) : FIXED).pick(t),
};
