/**
 * The pipeline's `dipFit` op: Deep Image Prior restoration of slot "image" (dip/fit.ts). It
 * gathers the images the task reads (from slots, or files named after the input), takes the
 * run's schedule (engine, threads, batch, a trainer pool shared by the run's inputs) from the
 * op context, and writes the restoration back to "image".
 *
 * @module
 */
import { InputError } from "../core/errors.ts";
import type { EstimableOp, ExplainableOp, ExplainContext } from "../core/graph.ts";
import type { Image } from "../core/image.ts";
import { defineOp } from "../core/op_spec.ts";
import type { Frame, OpContext } from "../core/types.ts";
import { TrainerPool } from "../engine/trainer_pool.ts";
import { describeEstimate, estimateFit } from "../dip/estimate.ts";
import { explainFit } from "../dip/explain.ts";
import {
  binaryMask,
  type DipFitOptions,
  fitImage,
  type FitProblem,
  type FitSchedule,
  referenceAtSize,
  resolveFitOptions,
} from "../dip/fit.ts";
import { DipFitOptionsSchema } from "../dip/options.ts";
import { TASKS, type TaskSpec } from "../dip/tasks.ts";
import { loadImage } from "../image/load.ts";
import { psnr, ssim, SSIM_SIZE } from "../image/metrics.ts";
import { saveImage, writeFileAtomic } from "../image/save.ts";
import { exportOnnx } from "../models/onnx_export.ts";
import type { FittedGenerator } from "../dip/fit.ts";
import { resolveOutputPath } from "./save.ts";

/** The `dipFit` op's declaration (options: {@link DipFitOptionsSchema}). */
export const dipFitSpec = defineOp({
  kind: "dipFit",
  summary: "restore image with Deep Image Prior (task, preset and every reference setting)",
  options: DipFitOptionsSchema,
  create: (options) => dipFit(options),
});

/** The run-wide trainer pool's key in {@link OpContext.run}'s resources. */
const POOL_KEY = "dip.trainers";

/** The fit schedule of the run, if any: its engine, threads, batch, and a shared trainer pool. */
function scheduleOf(ctx: OpContext): FitSchedule | undefined {
  const run = ctx.run;
  if (!run) return undefined;
  return {
    engine: run.engine,
    threads: run.threads,
    batch: run.batch,
    pool: run.reuse
      ? run.resource(POOL_KEY, () => new TrainerPool(), (pool) => pool.dispose())
      : undefined,
  };
}

/**
 * The dipFit op: restores slot "image" (the observation) and writes the result back to
 * "image", keeping the other slots. meta.info gets `iterations`, `msPerStep`, `engine`,
 * `adapter`, `preset`, `restores`, the run's `record` (dip/record.ts) and (with early stopping)
 * `stopStep` and `returnedStep`; with a "clean" slot meta.metrics gets `psnr`, `bestPsnr` (the
 * best seen at the checks) and `psnrGap` (best − returned). With `keepBest` (needs the clean
 * slot) the returned image is the output at the best-PSNR check. With `saveEvery` the output is
 * also written every K steps as `{name}_step{step}.png` in the output folder.
 *
 * @example
 * ```ts
 * import { dipFit } from "./dip_fit.ts";
 * const op = dipFit({ task: "sr", factor: 4, iterations: 500 });
 * ```
 */
export function dipFit(options: DipFitOptions): ExplainableOp & EstimableOp {
  const fit = resolveFitOptions(options);
  const task: TaskSpec = TASKS[fit.task];
  const reads = ["image"];
  for (const image of task.images ?? []) {
    if (fit.taskOptions[image.option] === undefined) reads.push(image.slot);
  }
  return {
    kind: "dipFit",
    reads,
    writes: ["image"],
    params: Object.freeze({ ...options }),
    explain: (context?: ExplainContext) => explainFit(fit, context),
    estimate: async (input, run) =>
      describeEstimate(
        await estimateFit(fit, input, { engine: run.engine, threads: run.threads }),
      ),
    ...(fit.saveNetwork !== undefined
      ? {
        outputs: (name: string, relative: string | undefined, outDir: string) =>
          networkPaths(fit.saveNetwork!, fit.runs, name, relative, outDir),
      }
      : {}),
    async run(frame: Frame, ctx: OpContext): Promise<Frame> {
      const problem: { -readonly [K in keyof FitProblem]: FitProblem[K] } = {
        observation: frame.slots.image!,
        clean: frame.slots.clean,
      };
      for (const { role, slot, option } of task.images ?? []) {
        const file = (fit.taskOptions[option] as string | undefined)?.replaceAll(
          "{name}",
          frame.meta.name,
        );
        const image: Image = file ? await loadImage(file) : frame.slots[slot]!;
        problem[role] = role === "mask" ? binaryMask(image) : image;
      }
      if (fit.keepBest && !problem.clean) {
        throw new InputError(
          `dipFit: keepBest needs a clean reference (degrade's "clean" slot, or --reference) ` +
            `but ${frame.meta.name} has none`,
          { file: frame.meta.name },
        );
      }
      const schedule = scheduleOf(ctx);
      const reusedBefore = schedule?.pool?.reused ?? 0;
      const saved: string[] = [];
      const result = await fitImage(problem, fit, {
        emit: (event) => ctx.emit(event),
        signal: ctx.signal,
        name: frame.meta.name,
        schedule,
        ...(fit.saveEvery !== undefined
          ? {
            onSave: async (step: number, image: Image) => {
              const path = resolveOutputPath(
                `{name}_step${step}.png`,
                frame.meta.name,
                frame.meta.relative,
                ctx.outDir,
              );
              await saveImage(image, path);
              saved.push(path);
            },
          }
          : {}),
      });
      const returned = fit.keepBest && result.best ? result.best : result.image;
      const info: Record<string, unknown> = {
        ...frame.meta.info,
        task: fit.task,
        preset: fit.preset,
        iterations: result.iterations,
        msPerStep: result.msPerStep,
        engine: result.engine,
        adapter: result.adapter,
        runs: fit.runs,
        restores: result.restores,
        ...(result.lrRetries > 0 ? { lr: result.lr, lrRetries: result.lrRetries } : {}),
        // Whether the compiled trainer came from the run's pool (an earlier same-size input).
        trainerReused: (schedule?.pool?.reused ?? 0) > reusedBefore,
        // Curves, events and previews of the run (core/run_record.ts): reports and pages draw it.
        record: result.record,
      };
      if (fit.earlyStop) {
        info.stopRule = fit.earlyStop.rule;
        info.stopStep = result.stopStep ?? null;
        if (fit.earlyStop.rule === "wmv") info.wmvArgmin = result.wmvArgmin ?? null;
        // The step whose output is returned (the first run's, for several).
        info.returnedStep = result.chosenSteps?.[0] ??
          (result.wmvArgmin === undefined ? null : result.wmvArgmin + 1);
      }
      if (saved.length > 0) info.saved = saved;
      const metrics: Record<string, number> = { ...frame.meta.metrics };
      if (result.psnr !== undefined) {
        const kept = returned !== result.image;
        const clean = referenceAtSize(frame.slots.clean!, returned);
        metrics.psnr = kept ? psnr(returned, clean) : result.psnr;
        metrics.bestPsnr = Math.max(result.bestPsnr!, metrics.psnr);
        metrics.psnrGap = metrics.bestPsnr - metrics.psnr;
        if (clean.height >= SSIM_SIZE && clean.width >= SSIM_SIZE) {
          metrics.ssim = ssim(returned, clean);
        }
        info.bestStep = result.bestStep;
        if (kept) info.returnedStep = result.bestStep;
      }
      if (fit.saveNetwork !== undefined && result.generator) {
        const paths = networkPaths(
          fit.saveNetwork,
          fit.runs,
          frame.meta.name,
          frame.meta.relative,
          ctx.outDir,
        );
        info.networks = await saveNetworks(result.generator, paths, fit.seed, ctx.overwrite);
      }
      return {
        slots: { ...frame.slots, image: returned },
        meta: { ...frame.meta, info, metrics },
      };
    },
  };
}

/** The files `saveNetwork` writes: every run's with `{run}` in the pattern, else the first's. */
function networkPaths(
  pattern: string,
  runs: number,
  name: string,
  relative: string | undefined,
  outDir: string,
): string[] {
  const count = pattern.includes("{run}") ? runs : 1;
  return Array.from(
    { length: count },
    (_, i) => resolveOutputPath(pattern.replaceAll("{run}", String(i)), name, relative, outDir),
  );
}

/**
 * Writes the fitted generators as ONNX (graph, final weights, z; the crop box in the metadata),
 * each file atomically; with `overwrite` false an existing file is kept. Returns the paths.
 */
async function saveNetworks(
  generator: FittedGenerator,
  paths: readonly string[],
  seed: number,
  overwrite: boolean,
): Promise<string[]> {
  for (const [i, path] of paths.entries()) {
    if (!overwrite && await Deno.stat(path).then(() => true, () => false)) continue;
    const run = generator.runs[i]!;
    const bytes = exportOnnx(generator.network, {
      params: run.params,
      z: run.z,
      height: generator.height,
      width: generator.width,
      crop: generator.crop,
      metadata: { "dipline.seed": String(seed + i) },
      docString: "A Deep Image Prior generator fitted by dipline: run it with no input; crop " +
        "the output by the dipline.crop metadata to get the restoration's size.",
    });
    await writeFileAtomic(path, bytes);
  }
  return [...paths];
}
