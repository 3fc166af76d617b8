/**
 * The stopping benchmark's tables: per rule, over every recorded fit, the mean and worst gap
 * to the peak along the run, how many fits end within 0.5 and 1.0 dB of it, the mean PSNR
 * against the fixed-step default's and the mean steps run; per image, for one rule, the PSNR
 * at the chosen step beside the peak and the fixed-step default.
 *
 * @module
 */
import { FIXED, PEAK, pickPsnr, type ReplayRule } from "./rules.ts";
import type { Trace } from "./trace.ts";

/** Issue 15's targets: mean gap, every fit within, and the count within. */
export const TARGETS = { meanGapDb: 0.3, worstGapDb: 1.0, withinDb: 0.5 };

/** One rule on one trace. */
export interface Outcome {
  readonly trace: Trace;
  readonly psnr: number;
  readonly peak: number;
  readonly fixed: number;
  readonly gap: number;
  readonly step: number;
  readonly stopStep: number;
}

/** One rule over a set of traces. */
export interface RuleSummary {
  readonly rule: string;
  readonly description: string;
  readonly fits: number;
  readonly meanPsnr: number;
  readonly meanFixed: number;
  readonly meanPeak: number;
  readonly meanGap: number;
  readonly worstGap: number;
  readonly worst: string;
  readonly within05: number;
  readonly within10: number;
  readonly meanStopStep: number;
  readonly meanIterations: number;
  /** Every target of issue 15 met. */
  readonly met: boolean;
}

/** `rule` on every trace it applies to. */
export function outcomes(rule: ReplayRule, traces: readonly Trace[]): Outcome[] {
  return traces.filter((t) => !rule.tasks || rule.tasks.includes(t.task)).map((trace) => {
    const pick = rule.pick(trace);
    const peak = pickPsnr(trace, PEAK.pick(trace));
    const psnr = pickPsnr(trace, pick);
    return {
      trace,
      psnr,
      peak,
      fixed: pickPsnr(trace, FIXED.pick(trace)),
      gap: peak - psnr,
      step: trace.step[pick.index]!,
      stopStep: pick.stopStep,
    };
  });
}

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/** Summary of `rule` over `traces`. */
export function summarize(rule: ReplayRule, traces: readonly Trace[]): RuleSummary | undefined {
  const rows = outcomes(rule, traces);
  if (rows.length === 0) return undefined;
  const worst = rows.reduce((a, b) => (b.gap > a.gap ? b : a));
  const meanGap = mean(rows.map((r) => r.gap));
  const meanPsnr = mean(rows.map((r) => r.psnr));
  const meanFixed = mean(rows.map((r) => r.fixed));
  return {
    rule: rule.name,
    description: rule.description,
    fits: rows.length,
    meanPsnr,
    meanFixed,
    meanPeak: mean(rows.map((r) => r.peak)),
    meanGap,
    worstGap: worst.gap,
    worst: `${worst.trace.task}/${worst.trace.name} s${worst.trace.seed}`,
    within05: rows.filter((r) => r.gap <= TARGETS.withinDb).length,
    within10: rows.filter((r) => r.gap <= TARGETS.worstGapDb).length,
    meanStopStep: mean(rows.map((r) => r.stopStep)),
    meanIterations: mean(rows.map((r) => r.trace.iterations)),
    met: meanGap <= TARGETS.meanGapDb && worst.gap <= TARGETS.worstGapDb &&
      meanPsnr >= meanFixed,
  };
}

const f2 = (x: number) => x.toFixed(2);

function table(header: string[], rows: string[][], left = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

/** The rule table: one row per rule. */
export function rulesTable(summaries: readonly RuleSummary[]): string {
  return table(
    [
      "rule",
      "fits",
      "mean",
      "fixed",
      "peak",
      "mean gap",
      "worst gap",
      "worst",
      "≤0.5",
      "≤1.0",
      "steps run",
      "targets",
    ],
    summaries.map((s) => [
      s.rule,
      String(s.fits),
      f2(s.meanPsnr),
      f2(s.meanFixed),
      f2(s.meanPeak),
      f2(s.meanGap),
      f2(s.worstGap),
      s.worst,
      `${s.within05}/${s.fits}`,
      `${s.within10}/${s.fits}`,
      `${Math.round(s.meanStopStep)}/${Math.round(s.meanIterations)}`,
      s.met ? "MET" : "not met",
    ]),
  );
}

/** Per fit, `rule` beside the peak and the fixed-step default. */
export function imageTable(rule: ReplayRule, traces: readonly Trace[]): string {
  const rows = outcomes(rule, traces);
  return table(
    [
      "image",
      "net",
      "seed",
      "input",
      "chosen",
      "at step",
      "stopped",
      "peak",
      "peak step",
      "gap",
      "fixed",
    ],
    rows.map((r) => {
      const t = r.trace;
      const peakPick = PEAK.pick(t);
      return [
        `${t.task}/${t.set}/${t.name}`,
        `${t.protocol.size}²/${t.protocol.channels ?? "preset"}`,
        String(t.seed),
        t.inputPsnr === undefined ? "–" : f2(t.inputPsnr),
        f2(r.psnr),
        String(r.step),
        String(r.stopStep),
        f2(r.peak),
        String(t.step[peakPick.index]),
        f2(r.gap),
        f2(r.fixed),
      ];
    }),
  );
}

/** A named rule of the before/after table. */
export interface Labelled {
  readonly label: string;
  readonly rule: ReplayRule;
}

/**
 * Before and after, per task and over all fits: for each labelled rule the mean PSNR, the mean
 * and worst gap to the peak, and the fits within 0.5 dB.
 */
export function beforeAfterTable(labelled: readonly Labelled[], traces: readonly Trace[]): string {
  const tasks = [...new Set(traces.map((t) => t.task))];
  const groups: [string, readonly Trace[]][] = [
    ...tasks.map((task): [string, readonly Trace[]] => [
      task,
      traces.filter((t) => t.task === task),
    ]),
    ["all", traces],
  ];
  const rows: string[][] = [];
  for (const [name, group] of groups) {
    for (const { label, rule } of labelled) {
      const s = summarize(rule, group);
      if (!s) continue;
      rows.push([
        name,
        label,
        String(s.fits),
        f2(s.meanPsnr),
        f2(s.meanPeak),
        f2(s.meanGap),
        f2(s.worstGap),
        s.worst,
        `${s.within05}/${s.fits}`,
        `${Math.round(s.meanStopStep)}/${Math.round(s.meanIterations)}`,
      ]);
    }
  }
  return table(
    ["task", "rule", "fits", "mean", "peak", "mean gap", "worst gap", "worst", "≤0.5", "steps run"],
    rows,
    2,
  );
}
