/**
 * Issue 5's verdicts, computed from the rows of a run or a merge: (a) dipline's mean PSNR
 * against the PyTorch twin's, per task; (b) ES-WMV's output against the best PSNR along the
 * run; and the full protocol's mean per set against the paper's.
 *
 * @module
 */
import {
  EARLY_STOP_TOLERANCE_DB,
  MIN_SEEDS,
  PAPER_TOLERANCE_DB,
  TORCH_TOLERANCE_DB,
} from "./protocol.ts";

/** The arithmetic mean (NaN for no values). */
export function meanOf(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Per-seed PSNRs of one image, as {@link torchVerdicts} reads them. */
export interface SeedScores {
  /** The task the image belongs to (verdicts are per task). */
  readonly task: string;
  /** dipline's PSNR per seed (dB). */
  readonly oursPerSeed: readonly number[];
  /** The torch twin's PSNR per seed (dB); absent when it did not run. */
  readonly torchPerSeed?: readonly number[];
}

/** Issue 5 (a) for one task. */
export interface TorchVerdict {
  /** The task. */
  readonly task: string;
  /** Images with both ours and torch. */
  readonly images: number;
  /** The fewest seeds any of them has on either side. */
  readonly seeds: number;
  /** Mean over the images of the per-image means over seeds (dB). */
  readonly ours: number;
  /** The same for torch (dB). */
  readonly torch: number;
  /** ours − torch (dB). */
  readonly diff: number;
  /** The largest |ours − torch| of one image (dB), for information. */
  readonly maxAbsDiff: number;
  /** |diff| ≤ the tolerance and at least {@link MIN_SEEDS} seeds. */
  readonly met: boolean;
  /** One line saying all that. */
  readonly line: string;
}

/**
 * Issue 5 (a), per task in order of appearance: over the images that have torch values, the
 * mean PSNR (each image's mean over its seeds) of ours and torch and their difference, met when
 * |ours − torch| ≤ `tolerance` with at least {@link MIN_SEEDS} seeds. A task without any torch
 * value gets no verdict.
 */
export function torchVerdicts(
  rows: readonly SeedScores[],
  tolerance: number = TORCH_TOLERANCE_DB,
): TorchVerdict[] {
  const tasks = [...new Set(rows.map((r) => r.task))];
  const verdicts: TorchVerdict[] = [];
  for (const task of tasks) {
    const paired = rows.filter((r) =>
      r.task === task && r.torchPerSeed !== undefined && r.torchPerSeed.length > 0 &&
      r.oursPerSeed.length > 0
    );
    if (paired.length === 0) continue;
    const ourMeans = paired.map((r) => meanOf(r.oursPerSeed));
    const torchMeans = paired.map((r) => meanOf(r.torchPerSeed!));
    const ours = meanOf(ourMeans);
    const torch = meanOf(torchMeans);
    const diff = ours - torch;
    const maxAbsDiff = Math.max(...ourMeans.map((o, i) => Math.abs(o - torchMeans[i]!)));
    const seeds = Math.min(
      ...paired.map((r) => Math.min(r.oursPerSeed.length, r.torchPerSeed!.length)),
    );
    const close = Math.abs(diff) <= tolerance; // NaN (a failed fit) is never close
    const met = close && seeds >= MIN_SEEDS;
    const sign = (v: number) => (v > 0 ? "+" : "") + v.toFixed(2);
    const line = `${task}: ours ${ours.toFixed(2)} dB, torch ${torch.toFixed(2)} dB over ` +
      `${paired.length} image${paired.length === 1 ? "" : "s"} × ${seeds} seed${
        seeds === 1 ? "" : "s"
      }: ours − torch ${sign(diff)} dB (largest per image ${maxAbsDiff.toFixed(2)}), ` +
      (close ? "within" : "outside") + ` the ${tolerance} dB target` +
      (seeds < MIN_SEEDS ? ` (but fewer than ${MIN_SEEDS} seeds: not a test of issue 5 (a))` : "") +
      ` — ${met ? "MET" : "NOT MET"}`;
    verdicts.push({ task, images: paired.length, seeds, ours, torch, diff, maxAbsDiff, met, line });
  }
  return verdicts;
}

/** Issue 5 (b) over all early-stopped fits. */
export interface EarlyStopVerdict {
  /** Fits scored. */
  readonly fits: number;
  /** Fits in which ES-WMV fired before the cap. */
  readonly stopped: number;
  /** Mean of best − returned PSNR (dB). */
  readonly meanGap: number;
  /** Largest gap of one fit (dB). */
  readonly maxGap: number;
  /** meanGap ≤ the tolerance and the criterion fired in every fit. */
  readonly met: boolean;
  /** One line saying all that. */
  readonly line: string;
}

/**
 * Issue 5 (b): the mean over fits of (best PSNR along the run − PSNR of ES-WMV's output),
 * met when it is at most `tolerance` and ES-WMV stopped every fit before the cap (a fit that ran
 * to the cap did not test the criterion).
 */
export function earlyStopVerdict(
  fits: readonly { readonly gap: number; readonly stopStep?: number }[],
  tolerance: number = EARLY_STOP_TOLERANCE_DB,
): EarlyStopVerdict {
  const gaps = fits.map((f) => f.gap);
  const meanGap = meanOf(gaps);
  const maxGap = gaps.length > 0 ? Math.max(...gaps) : Number.NaN;
  const stopped = fits.filter((f) => f.stopStep !== undefined).length;
  const close = meanGap <= tolerance; // NaN is never close
  const met = close && fits.length > 0 && stopped === fits.length;
  const line = `ES-WMV: mean gap ${meanGap.toFixed(2)} dB (largest ${maxGap.toFixed(2)}) over ` +
    `${fits.length} fit${fits.length === 1 ? "" : "s"}, ${stopped} stopped before the cap: ` +
    (close ? "within" : "outside") + ` the ${tolerance} dB target` +
    (stopped < fits.length ? " (a fit that reached the cap did not test the criterion)" : "") +
    ` — ${met ? "MET" : "NOT MET"}`;
  return { fits: fits.length, stopped, meanGap, maxGap, met, line };
}

/** Issue 5 (full protocol) for one set of one task. */
export interface PaperVerdict {
  /** The task. */
  readonly task: string;
  /** The image set (color, set5, set14, gray50). */
  readonly set: string;
  /** Images of the set with a PSNR of ours and a paper anchor. */
  readonly images: number;
  /** Images the set has (anchors.csv). */
  readonly expected: number;
  /** Mean of ours over those images (dB). */
  readonly ours: number;
  /** Mean of the paper anchors over the same images (dB). */
  readonly paper: number;
  /** ours − paper (dB). */
  readonly diff: number;
  /** |diff| ≤ the tolerance over every image of the set. */
  readonly met: boolean;
  /** One line saying all that. */
  readonly line: string;
}

/** What {@link paperVerdicts} reads of one row. */
export interface PaperScore {
  /** The task. */
  readonly task: string;
  /** The image set. */
  readonly set: string;
  /** Our PSNR (mean over seeds); NaN or absent when the image was skipped. */
  readonly ours?: number;
  /** The paper anchor of the image. */
  readonly paper?: number;
}

/**
 * The paper comparison per task and set: the mean of ours against the mean of the anchors over
 * the same images, met when within `tolerance` and every image of the set (`expected`, keyed
 * `task/set`) was scored; a partial set is reported but never met. Sets with no scored image
 * get no verdict.
 */
export function paperVerdicts(
  rows: readonly PaperScore[],
  expected: Readonly<Record<string, number>>,
  tolerance: number = PAPER_TOLERANCE_DB,
): PaperVerdict[] {
  const keys = [...new Set(rows.map((r) => `${r.task}/${r.set}`))];
  const verdicts: PaperVerdict[] = [];
  for (const key of keys) {
    const [task, set] = key.split("/") as [string, string];
    const scored = rows.filter((r) =>
      r.task === task && r.set === set && r.ours !== undefined && Number.isFinite(r.ours) &&
      r.paper !== undefined && Number.isFinite(r.paper)
    );
    if (scored.length === 0) continue;
    const total = expected[key] ?? scored.length;
    const ours = meanOf(scored.map((r) => r.ours!));
    const paper = meanOf(scored.map((r) => r.paper!));
    const diff = ours - paper;
    const close = Math.abs(diff) <= tolerance;
    const complete = scored.length >= total;
    const met = close && complete;
    const line = `${task} ${set}: ours ${ours.toFixed(2)} dB, paper ${paper.toFixed(2)} dB over ` +
      `${scored.length} of ${total} images: ours − paper ${
        (diff > 0 ? "+" : "") + diff.toFixed(2)
      } dB, ` +
      (close ? "within" : "outside") + ` the ${tolerance} dB target` +
      (complete ? "" : ` (partial: ${total - scored.length} images missing)`) +
      ` — ${met ? "MET" : "NOT MET"}`;
    verdicts.push({
      task,
      set,
      images: scored.length,
      expected: total,
      ours,
      paper,
      diff,
      met,
      line,
    });
  }
  return verdicts;
}
