/**
 * The rows of a run and the report `--json` prints, `--json-out` writes and `--merge` reads
 * back and pools: one {@link Row} per image of the comparison, one {@link EarlyStopRow} per fit
 * of `--early-stop`.
 *
 * @module
 */
import type { Task } from "./protocol.ts";
import {
  meanOf,
  type PaperVerdict,
  paperVerdicts,
  type TorchVerdict,
  torchVerdicts,
} from "./verdicts.ts";

/** One image of the comparison with torch: means over the seeds, and each seed's value. */
export interface Row {
  /** The task. */
  task: Task;
  /** The image set (color, set5, set14, gray50). */
  set: string;
  /** The image's name (file stem). */
  image: string;
  /** Width×height of the scored image. */
  size: string;
  /** The fit seeds, in the order of the per-seed arrays. */
  seeds: number[];
  /** Mean of {@link Row.oursPerSeed} (dB). */
  ours: number;
  /** dipline's PSNR per seed (dB). */
  oursPerSeed: number[];
  /** Mean of {@link Row.torchPerSeed} (dB). */
  torch?: number;
  /** The twin's PSNR per seed (dB). */
  torchPerSeed?: number[];
  /** ours − torch (dB). */
  diff?: number;
  /** PSNR of the authors' published output on the same region (dB). */
  authors?: number;
  /** SR: bicubic ×4 of the same LR image (dB). */
  bicubic?: number;
  /** SR: each learned model's PSNR on the same LR image (dB), by name (bench/quality/learned.ts). */
  learned?: Record<string, number>;
  /** SR: each learned model's wall time on the image (ms). */
  learnedMs?: Record<string, number>;
  /** The paper anchor (anchors.csv, dB). */
  paper?: number;
  /** PSNR of the observation (NaN for SR, whose input has another size). */
  input: number;
  /** dipline's mean ms/step. */
  msPerStep: number;
  /** The twin's mean ms/step. */
  torchMsPerStep?: number;
  /** Steps run per fit. */
  iterations: number;
  /** Why the image was not fitted (the budget ran out); ours is then NaN. */
  skipped?: string;
}

/** One fit of `--early-stop`. */
export interface EarlyStopRow {
  /** The task (denoise). */
  task: Task;
  /** The image set. */
  set: string;
  /** The image's name. */
  image: string;
  /** Width×height of the scored image. */
  size: string;
  /** The fit seed. */
  seed: number;
  /** The step at which ES-WMV stopped; undefined when the fit reached the cap. */
  stopStep?: number;
  /** The step index (from 0) of the minimum windowed variance, whose output is returned. */
  wmvArgmin?: number;
  /** Steps run. */
  iterations: number;
  /** PSNR of the returned output. */
  psnr: number;
  /** Best PSNR along the run (at the checks, and the returned output). */
  bestPsnr: number;
  /** The step of {@link EarlyStopRow.bestPsnr}. */
  bestStep?: number;
  /** bestPsnr − psnr (≥ 0). */
  gap: number;
  /** PSNR of the observation. */
  input: number;
  /** dipline's ms/step. */
  msPerStep: number;
}

/** What `--json` prints and `--json-out` writes for the comparison (and `--merge` reads). */
export interface QualityReport {
  /** The reduced protocol. */
  readonly reduced: boolean;
  /** The engine asked for. */
  readonly engine?: string;
  /** The fit seeds. */
  readonly seeds: number[];
  /** Images per task/set in anchors.csv. */
  readonly setSizes: Record<string, number>;
  /** One row per image, fitted or skipped. */
  readonly rows: Row[];
  /** Issue 5 (a), when torch ran. */
  readonly verdicts: TorchVerdict[];
  /** The paper comparison per set (full protocol only). */
  readonly paperVerdicts: PaperVerdict[];
  /** The images not fitted, per task, as `--only` lists for a later run. */
  readonly skipped: { task: string; only: string }[];
}

/** The report of `rows`: the verdicts, and the skipped images per task as `--only` lists. */
export function makeReport(
  rows: Row[],
  reduced: boolean,
  seeds: readonly number[],
  sizes: Readonly<Record<string, number>>,
  engine?: string,
): QualityReport {
  const skipped: { task: string; only: string }[] = [];
  for (const task of new Set(rows.filter((r) => r.skipped).map((r) => r.task))) {
    const names = rows.filter((r) => r.task === task && r.skipped).map((r) => r.image);
    skipped.push({ task, only: names.join(",") });
  }
  return {
    reduced,
    engine,
    seeds: [...seeds],
    setSizes: { ...sizes },
    rows,
    verdicts: torchVerdicts(rows),
    paperVerdicts: reduced ? [] : paperVerdicts(rows, sizes),
    skipped,
  };
}

/** Reads a report that `--json`/`--json-out` wrote (null numbers back to NaN). */
export async function readReport(path: string): Promise<QualityReport> {
  let report: Partial<QualityReport>;
  try {
    report = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    throw new Error(`quality --merge: expected a JSON report in ${path} but could not read it`, {
      cause: error,
    });
  }
  if (!Array.isArray(report.rows) || !Array.isArray(report.seeds)) {
    throw new Error(
      `quality --merge: expected an object with rows and seeds (quality.ts --json) in ${path} ` +
        `but received keys ${Object.keys(report).join(", ")}`,
    );
  }
  // JSON has no NaN: JSON.stringify wrote null for the skipped rows' numbers.
  for (const row of report.rows) {
    for (const key of ["ours", "input", "msPerStep"] as const) {
      if (row[key] === null) row[key] = Number.NaN;
    }
  }
  return report as QualityReport;
}

/**
 * Merges the reports of several slices into one: rows are keyed by task, set and image; a fitted
 * row replaces a skipped one, and two fitted rows of one image pool their seeds (a seed present
 * in both keeps the later value). The verdicts are recomputed over the merged rows.
 *
 * @throws {Error} when the reports mix the reduced and the full protocol
 */
export function mergeReports(reports: readonly QualityReport[]): QualityReport {
  if (reports.length === 0) throw new Error("quality --merge: expected at least one report");
  const reduced = reports[0]!.reduced;
  if (reports.some((r) => r.reduced !== reduced)) {
    throw new Error(
      "quality --merge: expected reports of one protocol but received both reduced and full ones",
    );
  }
  const sizes: Record<string, number> = {};
  const rows = new Map<string, Row>();
  for (const report of reports) {
    for (const [key, n] of Object.entries(report.setSizes ?? {})) {
      sizes[key] = Math.max(sizes[key] ?? 0, n);
    }
    for (const row of report.rows) {
      const key = `${row.task}/${row.set}/${row.image}`;
      const before = rows.get(key);
      if (!before || before.skipped !== undefined) rows.set(key, { ...row });
      else if (row.skipped === undefined) rows.set(key, poolSeeds(before, row));
    }
  }
  const merged = [...rows.values()];
  const seeds = [...new Set(merged.flatMap((r) => (r.skipped ? [] : r.seeds)))].sort((a, b) =>
    a - b
  );
  const engines = [...new Set(reports.map((r) => r.engine).filter((e) => e !== undefined))];
  return makeReport(merged, reduced, seeds, sizes, engines.join(","));
}

/** One image's row from two fitted rows: the per-seed values pooled by seed. */
function poolSeeds(a: Row, b: Row): Row {
  const pool = (rowA: Row, rowB: Row, pick: (r: Row) => number[] | undefined) => {
    const bySeed = new Map<number, number>();
    for (const r of [rowA, rowB]) {
      const values = pick(r);
      if (values) r.seeds.forEach((seed, i) => bySeed.set(seed, values[i]!));
    }
    return bySeed;
  };
  const ours = pool(a, b, (r) => r.oursPerSeed);
  const seeds = [...ours.keys()].sort((x, y) => x - y);
  const oursPerSeed = seeds.map((seed) => ours.get(seed)!);
  const row: Row = {
    ...b,
    seeds,
    oursPerSeed,
    ours: meanOf(oursPerSeed),
    msPerStep: meanOf([a.msPerStep, b.msPerStep]),
  };
  if (a.torchPerSeed && b.torchPerSeed) {
    const torch = pool(a, b, (r) => r.torchPerSeed);
    row.torchPerSeed = seeds.map((seed) => torch.get(seed)!);
    row.torch = meanOf(row.torchPerSeed);
    row.diff = row.ours - row.torch;
  }
  return row;
}
