/**
 * The printed tables of bench/quality.ts: the comparison (one row per image, then one mean row
 * per set, then the verdicts) and `--early-stop`'s (one row per fit). Each table is a list of
 * columns, so a new method is one entry: to add, say, an ESRGAN column, give {@link Row} its
 * field (`esrgan?: number`, set where `authors` is scored in run.ts) and add
 * `metric("esrgan", (r) => r.esrgan)` to {@link COMPARISON_COLUMNS}.
 *
 * @module
 */
import {
  EARLY_STOP_TOLERANCE_DB,
  type EarlyStopSettings,
  MIN_SEEDS,
  PAPER_TOLERANCE_DB,
  TORCH_TOLERANCE_DB,
} from "./protocol.ts";
import type { EarlyStopRow, Row } from "./report.ts";
import { LEARNED_MODELS } from "./learned.ts";
import { earlyStopVerdict, meanOf, paperVerdicts, torchVerdicts } from "./verdicts.ts";

/** A number with `digits` decimals, or "–" when absent or not finite. */
export const fmt = (
  v: number | undefined,
  digits = 2,
): string => (v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits));

/** {@link fmt} with a "+" on positive values. */
export const signed = (v: number | undefined): string =>
  (v !== undefined && v > 0 ? "+" : "") + fmt(v);

/** Prints `lines` as left-aligned columns. */
export function printColumns(lines: string[][]): void {
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  for (const line of lines) console.log(line.map((cell, i) => cell.padEnd(widths[i]!)).join("  "));
}

/** One column of a table: its head and the cell of one row. */
export interface Column<R> {
  /** The column's head. */
  readonly head: string;
  /** The cell of one row. */
  readonly cell: (row: R) => string;
  /** The cell of a set's mean row, from the set's rows; absent = an empty cell. */
  readonly mean?: (rows: readonly R[]) => string;
}

/**
 * A column of dB (or any number) whose set mean averages `pick` over the set, printed only when
 * every image of the set has a finite value.
 */
export function metric(
  head: string,
  pick: (row: Row) => number | undefined,
  format: (v: number | undefined) => string = fmt,
): Column<Row> {
  return {
    head,
    cell: (r) => format(pick(r)),
    mean: (group) => {
      const values = group.map(pick).filter((v): v is number =>
        v !== undefined && Number.isFinite(v)
      );
      return format(values.length === group.length ? meanOf(values) : undefined);
    },
  };
}

/** The comparison table's columns, left to right. */
export const COMPARISON_COLUMNS: readonly Column<Row>[] = [
  { head: "task", cell: (r) => r.task, mean: (group) => group[0]!.task },
  { head: "set", cell: (r) => r.set, mean: (group) => group[0]!.set },
  { head: "image", cell: (r) => r.image, mean: (group) => `mean (${group.length})` },
  { head: "size", cell: (r) => r.size },
  metric("input", (r) => r.input),
  {
    ...metric("ours", (r) => r.ours),
    cell: (r) => (r.skipped === undefined ? fmt(r.ours) : "skipped"),
  },
  metric("torch", (r) => r.torch),
  metric("ours−torch", (r) => r.diff, signed),
  metric("authors", (r) => r.authors),
  metric("bicubic", (r) => r.bicubic),
  ...LEARNED_MODELS.map((name) => metric(name, (r) => r.learned?.[name])),
  metric("paper", (r) => r.paper),
  { head: "ms/step", cell: (r) => fmt(r.msPerStep, 1) },
];

/** `--early-stop`'s table's columns, left to right. */
export const EARLY_STOP_COLUMNS: readonly Column<EarlyStopRow>[] = [
  { head: "image", cell: (r) => `${r.set}/${r.image}` },
  { head: "size", cell: (r) => r.size },
  { head: "seed", cell: (r) => String(r.seed) },
  { head: "input", cell: (r) => fmt(r.input) },
  {
    head: "stop step",
    cell: (r) => (r.stopStep === undefined ? `cap ${r.iterations}` : String(r.stopStep)),
  },
  { head: "returned at", cell: (r) => (r.wmvArgmin === undefined ? "–" : String(r.wmvArgmin + 1)) },
  { head: "returned", cell: (r) => fmt(r.psnr) },
  { head: "best", cell: (r) => fmt(r.bestPsnr) },
  { head: "best step", cell: (r) => (r.bestStep === undefined ? "–" : String(r.bestStep)) },
  { head: "gap", cell: (r) => fmt(r.gap) },
  { head: "ms/step", cell: (r) => fmt(r.msPerStep, 1) },
];

/**
 * The lines of a table: the heads, one line per row, and per group of rows (rows with one
 * `groupKey`) a mean line of the columns' `mean` cells.
 */
export function tableLines<R>(
  columns: readonly Column<R>[],
  rows: readonly R[],
  groupKey?: (row: R) => string,
): string[][] {
  const lines = [columns.map((c) => c.head), ...rows.map((r) => columns.map((c) => c.cell(r)))];
  if (groupKey) {
    const groups = new Map<string, R[]>();
    for (const r of rows) groups.set(groupKey(r), [...(groups.get(groupKey(r)) ?? []), r]);
    for (const group of groups.values()) {
      lines.push(columns.map((c) => (c.mean ? c.mean(group) : "")));
    }
  }
  return lines;
}

/** Prints the comparison table, the notes under it and the verdicts. */
export function printTable(
  rows: Row[],
  reduced: boolean,
  seeds: number,
  sizes: Readonly<Record<string, number>>,
): void {
  printColumns(tableLines(COMPARISON_COLUMNS, rows, (r) => `${r.task} ${r.set}`));
  console.log(
    `\nours and torch: mean over ${seeds} fit seed${seeds === 1 ? "" : "s"} per image; ` +
      (reduced
        ? "reduced protocol: 64² centre crops, 32 channels, fewer steps — compare ours/torch/authors on the same crop; " +
          "the paper column is the whole image at full settings"
        : "full protocol: reference presets on whole images; paper = the authors' published outputs (anchors.csv)"),
  );
  const skipped = rows.filter((r) => r.skipped !== undefined);
  if (skipped.length > 0) {
    console.log(
      `\nskipped (not fitted): ${
        skipped.map((r) => `${r.set}/${r.image} (${r.skipped})`).join("; ")
      }`,
    );
  }
  if (!reduced) {
    console.log(
      `\nissue 5 (full protocol): mean PSNR per set within ${PAPER_TOLERANCE_DB} dB of the paper`,
    );
    for (const v of paperVerdicts(rows, sizes)) console.log(v.line);
  }
  const verdicts = torchVerdicts(rows);
  if (verdicts.length > 0) {
    console.log(
      `\nissue 5 (a): mean PSNR within ${TORCH_TOLERANCE_DB} dB of torch, ≥ ${MIN_SEEDS} seeds`,
    );
    for (const v of verdicts) console.log(v.line);
  }
}

/** Prints `--early-stop`'s table, its settings and the verdict. */
export function printEarlyStop(rows: EarlyStopRow[], settings: EarlyStopSettings): void {
  printColumns(tableLines(EARLY_STOP_COLUMNS, rows));
  console.log(
    `\nES-WMV W = ${settings.window}, P = ${settings.patience}, cap ${settings.iterations} steps, ` +
      `PSNR checked every ${settings.checkEvery} steps, EMA off; returned = the output at the ` +
      `minimum windowed variance, made at step "returned at" (steps counted from 1 like the ` +
      `stop and best steps), best = the best PSNR seen along the run`,
  );
  console.log(
    `\nissue 5 (b): ES-WMV within ${EARLY_STOP_TOLERANCE_DB} dB of the best PSNR along the run`,
  );
  console.log(earlyStopVerdict(rows).line);
}
