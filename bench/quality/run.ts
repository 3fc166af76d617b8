/**
 * Running the fits and scoring them: the comparison (every image and seed by dipline and, when
 * found, the torch twin, within the `--budget-s` budget) and `--early-stop`'s fits, each giving
 * its rows.
 *
 * @module
 */
import { join } from "node:path";
import { fitImage, resolveFitOptions } from "../../dip/fit.ts";
import { saveImage } from "../../image/save.ts";
import type { ProgressEvent } from "../../core/types.ts";
import { BudgetStop, FitBudget } from "./budget.ts";
import type { Item } from "./items.ts";
import { type EarlyStopSettings, type FitFlags, fitOptions, score } from "./protocol.ts";
import type { EarlyStopRow, Row } from "./report.ts";
import { fmt } from "./table.ts";
import { torchFit } from "./torch.ts";
import { meanOf } from "./verdicts.ts";
import { type BaselineScores, baselineScores } from "./learned.ts";
import type { ModelName } from "../../ops/model_named.ts";

/** Options of one benchmark run, from the command line. */
export interface RunSettings {
  /** The reduced protocol. */
  readonly reduced: boolean;
  /** What every fit shares. */
  readonly flags: FitFlags;
  /** The fit seeds of every image. */
  readonly seeds: readonly number[];
  /** The Python with PyTorch of the torch column; absent = no torch. */
  readonly python?: string;
  /** `--out`: where our outputs are saved. */
  readonly out?: string;
  /** `--json`: no per-fit lines of `--early-stop` on stderr. */
  readonly json: boolean;
  /** A temporary folder for the torch twin's files. */
  readonly scratch: string;
  /** `--budget-s`: fits that would not finish in time are skipped. */
  readonly budget?: FitBudget;
  /** `--esrgan`: the learned models scored beside DIP on the SR images (default: none). */
  readonly learned?: readonly ModelName[];
  /** `--baselines`: score bicubic and the learned models only, no DIP fits. */
  readonly baselinesOnly?: boolean;
}

const outputName = (item: Item, seed: number, seeds: number) =>
  `${item.task}_${item.name}${seeds > 1 ? `_seed${seed}` : ""}.png`;

/**
 * The scores of an image that do not depend on a fit: the authors' published output, the
 * paper anchor, and the observation (NaN for SR, whose input has another size).
 */
function imageScores(item: Item): Pick<Row, "authors" | "paper" | "input"> {
  return {
    authors: item.authors ? score(item.task, item.authors, item.clean) : undefined,
    paper: item.anchor,
    input: item.task === "sr" ? Number.NaN : score(item.task, item.observation, item.clean),
  };
}

/** The row of an image that was not fitted. */
function skippedRow(
  item: Item,
  seeds: readonly number[],
  why: string,
  baselines: BaselineScores = {},
): Row {
  return {
    ...baselines,
    task: item.task,
    set: item.set,
    image: item.name,
    size: `${item.clean.width}×${item.clean.height}`,
    seeds: [...seeds],
    ours: Number.NaN,
    oursPerSeed: [],
    ...imageScores(item),
    msPerStep: Number.NaN,
    iterations: 0,
    skipped: why,
  };
}

/**
 * Issue 5 (a): every image, every seed, dipline and (when found) the torch twin. With a budget,
 * an image whose fits would not finish in time is skipped (a row with `skipped`); `progress`
 * receives the rows after every image, the images not reached yet as skipped rows.
 */
export async function runComparison(
  items: Item[],
  run: RunSettings,
  progress?: (rows: Row[]) => Promise<void>,
): Promise<Row[]> {
  const rows: Row[] = [];
  const budget = run.budget ?? new FitBudget();
  for (const [index, item] of items.entries()) {
    const baselines = await baselineScores(item, run.learned ?? []);
    if (run.baselinesOnly) {
      rows.push(skippedRow(item, run.seeds, "not fitted (--baselines)", baselines));
      continue;
    }
    const oursPerSeed: number[] = [];
    const torchPerSeed: number[] = [];
    const ms: number[] = [];
    const torchMs: number[] = [];
    let iterations = 0;
    let skipped: string | undefined;
    for (const seed of run.seeds) {
      const options = fitOptions(item.task, run.reduced, run.flags, seed);
      const fit = resolveFitOptions(options);
      const pixels = item.clean.width * item.clean.height;
      // Every seed of an image or none: a partial image would bias the seed means.
      const refused = oursPerSeed.length === 0
        ? budget.refuse(fit.iterations * run.seeds.length, pixels)
        : undefined;
      if (refused) {
        skipped = refused;
        break;
      }
      const started = performance.now();
      // A fit that will not finish in time stops as soon as its own rate says so (from its
      // second check on: the first includes the first dispatches), or at the budget's end.
      const early = new AbortController();
      const deadline = budget.signal();
      const signal = deadline ? AbortSignal.any([deadline, early.signal]) : early.signal;
      let lastCheck: { step: number; stepsPerSecond: number } | undefined;
      const emit = (event: ProgressEvent) => {
        if (event.type !== "fit") return;
        lastCheck = { step: event.step, stepsPerSecond: event.stepsPerSecond };
        if (event.step < 2 * fit.checkEvery) return;
        const seedsAfter = run.seeds.length - oursPerSeed.length - 1;
        const stepsLeft = event.total - event.step + seedsAfter * fit.iterations;
        const why = budget.refuseRest(stepsLeft, event.stepsPerSecond);
        if (why) early.abort(new BudgetStop(why));
      };
      let result: Awaited<ReturnType<typeof fitImage>>;
      try {
        result = await fitImage(
          { observation: item.observation, mask: item.mask, clean: item.clean },
          fit,
          { name: item.name, signal, emit },
        );
      } catch (error) {
        if (lastCheck && lastCheck.stepsPerSecond > 0) {
          // What the stopped fit measured still predicts the next ones.
          const wall = (performance.now() - started) / 1000;
          budget.record(wall, lastCheck.step, pixels, 1000 / lastCheck.stepsPerSecond);
        }
        if (error instanceof BudgetStop) skipped = error.message;
        else if (error instanceof DOMException && error.name === "TimeoutError") {
          skipped = `aborted at the end of the budget (${budget.elapsed().toFixed(0)} s)`;
        } else throw error;
        break;
      }
      budget.record(
        (performance.now() - started) / 1000,
        result.iterations,
        pixels,
        result.msPerStep,
      );
      if (run.out) {
        await saveImage(result.image, join(run.out, outputName(item, seed, run.seeds.length)));
      }
      oursPerSeed.push(score(item.task, result.image, item.clean));
      ms.push(result.msPerStep);
      iterations = result.iterations;
      let torchNote = "";
      if (run.python) {
        const torch = await torchFit(run.python, item, options, run.flags.threads, run.scratch);
        torchPerSeed.push(score(item.task, torch.image, item.clean));
        torchMs.push(torch.msPerStep);
        torchNote = `, torch ${fmt(torchPerSeed.at(-1))} dB`;
      }
      console.error(
        `${item.task} ${item.set}/${item.name} seed ${seed}: ours ${fmt(oursPerSeed.at(-1))} dB` +
          torchNote +
          `, ${result.iterations} steps at ${fmt(result.msPerStep, 1)} ms (${result.engine}), ` +
          `${budget.elapsed().toFixed(0)} s elapsed`,
      );
    }
    if (skipped !== undefined) {
      console.error(`${item.task} ${item.set}/${item.name}: skipped, ${skipped}`);
      rows.push(skippedRow(item, run.seeds, skipped, baselines));
    } else {
      const ours = meanOf(oursPerSeed);
      const torch = run.python ? meanOf(torchPerSeed) : undefined;
      rows.push({
        task: item.task,
        set: item.set,
        image: item.name,
        size: `${item.clean.width}×${item.clean.height}`,
        seeds: [...run.seeds],
        ours,
        oursPerSeed,
        ...(torch !== undefined
          ? { torch, torchPerSeed, diff: ours - torch, torchMsPerStep: meanOf(torchMs) }
          : {}),
        ...imageScores(item),
        ...baselines,
        msPerStep: meanOf(ms),
        iterations,
      });
    }
    if (progress) {
      const pending = items.slice(index + 1).map((it) =>
        skippedRow(it, run.seeds, "not reached (the run was stopped)")
      );
      await progress([...rows, ...pending]);
    }
  }
  return rows;
}

/** Issue 5 (b): every denoising image and seed with ES-WMV on and the clean image present. */
export async function runEarlyStop(
  items: Item[],
  run: RunSettings,
  settings: EarlyStopSettings,
): Promise<EarlyStopRow[]> {
  const rows: EarlyStopRow[] = [];
  for (const item of items) {
    for (const seed of run.seeds) {
      const options = fitOptions(item.task, run.reduced, run.flags, seed, settings);
      const result = await fitImage(
        { observation: item.observation, mask: item.mask, clean: item.clean },
        resolveFitOptions(options),
        { name: item.name },
      );
      if (run.out) {
        await saveImage(result.image, join(run.out, outputName(item, seed, run.seeds.length)));
      }
      // fitImage scores the returned output against the clean image and counts it in the best.
      const returned = result.psnr!;
      const best = result.bestPsnr!;
      const row: EarlyStopRow = {
        task: item.task,
        set: item.set,
        image: item.name,
        size: `${item.clean.width}×${item.clean.height}`,
        seed,
        stopStep: result.stopStep,
        wmvArgmin: result.wmvArgmin,
        iterations: result.iterations,
        psnr: returned,
        bestPsnr: best,
        bestStep: result.bestStep,
        gap: best - returned,
        input: score(item.task, item.observation, item.clean),
        msPerStep: result.msPerStep,
      };
      rows.push(row);
      if (!run.json) {
        console.error(
          `${item.task} ${item.set}/${item.name} seed ${seed}: ` +
            (row.stopStep === undefined
              ? `no stop by the cap (${row.iterations})`
              : `stopped at ${row.stopStep}`) +
            `, returned ${fmt(returned)} dB, best ${fmt(best)} dB at ${row.bestStep ?? "–"}, ` +
            `gap ${fmt(row.gap)} dB, ${fmt(result.msPerStep, 1)} ms/step (${result.engine})`,
        );
      }
    }
  }
  return rows;
}
