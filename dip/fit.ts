/**
 * The fit driver of Deep Image Prior (Ulyanov, Vedaldi, Lempitsky, CVPR 2018): a randomly
 * initialised generator f_θ is fitted to one degraded observation x0 by minimising
 * ‖A(f_θ(z)) − x0‖², where the operator A is the task's physics (dip/tasks.ts, dip/operators.ts),
 * with the reference implementation's tricks: fresh input noise every step, an EMA of the
 * output, backtracking on a PSNR collapse, and (optionally) ES-WMV early stopping.
 *
 * Sizes: the observation is reflect-padded to the network's `sizeMultiple` (÷ the output scale)
 * and the result cropped back, so the output has exactly the input's size (× f for SR). The
 * padding never counts in the loss: a padded fit uses a mask that is 0 there (dip/pad.ts).
 *
 * Readback: every `checkEvery` steps (default 50) the loop reads the per-fit scalars (loss,
 * PSNR against the observation, ES-WMV minimum); backtracking and early stopping are decided
 * at those checks (dip/train_loop.ts).
 *
 * How the fits run — engine, threads, batch, trainer reuse — is the caller's {@link FitSchedule},
 * handed to the engine (engine/batching.ts); nothing here depends on it but speed.
 *
 * @module
 */
import { InputError } from "../core/errors.ts";
import { type Image, makeImage } from "../core/image.ts";
import type { OpContext } from "../core/types.ts";
import type { EngineName } from "../engine/backend.ts";
import { type BatchSchedule, trainInBatches } from "../engine/batching.ts";
import { compilePlan } from "../engine/compile.ts";
import { planWithWeights } from "../engine/weights.ts";
import { inputNoise } from "../engine/init.ts";
import type { Trainer } from "../engine/backend.ts";
import { createTrainer } from "../engine/mod.ts";
import { pcgHash } from "../engine/plan.ts";
import type { TrainerPool } from "../engine/trainer_pool.ts";
import { psnr } from "../image/metrics.ts";
import { ARCHITECTURES } from "../models/architectures.ts";
import type { Network } from "../models/graph.ts";
import type { StepScalars } from "../engine/backend.ts";
import { compose, identity, mask as maskOperator } from "./operators.ts";
import type { ResolvedFit } from "./options.ts";
import { cropData, isPadded, paddedMask, reflectPad, scalePadding } from "./pad.ts";
import { TASKS, type TaskSpec } from "./tasks.ts";
import { trainWithRetries } from "./train_loop.ts";
import { fitPadding } from "./geometry.ts";

export { fitPadding } from "./geometry.ts";
import { checkRule, holdoutMask } from "./stopping.ts";
import { type RunRecord, RunRecorder } from "./record.ts";

export {
  DEFAULT_CHECK_EVERY,
  type DipFitOptions,
  type FitEngine,
  type ResolvedFit,
  resolveFitOptions,
} from "./options.ts";
export { BATCH_ARENA_BYTES } from "../engine/batching.ts";

/** Builds the generator of a resolved fit for `inputChannels` → `outputChannels`. */
export function buildNetwork(
  fit: ResolvedFit,
  inputChannels: number,
  outputChannels: number,
): Network {
  return ARCHITECTURES[fit.arch].build(fit.net, inputChannels, outputChannels);
}

/** What one fit is given. */
export interface FitProblem {
  /** x0, the observation (the LR image for SR). */
  readonly observation: Image;
  /** Inpainting mask at the observation's size (1 known, 0 missing). */
  readonly mask?: Image;
  /** Flash/no-flash: the image used as z. */
  readonly guide?: Image;
  /** Ground truth at the output size, to report the PSNR along the run (optional). */
  readonly clean?: Image;
}

/** What a fit returns. */
export interface FitResult {
  /** The restoration (mean of the runs), exactly the output size. */
  readonly image: Image;
  /** Each run's output (cropped), in seed order. */
  readonly runs: readonly Image[];
  /** Steps run (fewer than asked when early stopping fired). */
  readonly iterations: number;
  /** The step at which ES-WMV stopped, if it did. */
  readonly stopStep?: number;
  /** The step of the minimum windowed variance (whose output is returned) with ES-WMV. */
  readonly wmvArgmin?: number;
  /** Wall time per step, readbacks and decisions included. */
  readonly msPerStep: number;
  /** The engine that ran (`webgpu`, `cpu`, `reference`). */
  readonly engine: string;
  /** Its adapter or CPU description. */
  readonly adapter: string;
  /** How many times backtracking restored a snapshot. */
  readonly restores: number;
  /** Final PSNR against `clean`, when given. */
  readonly psnr?: number;
  /** Best PSNR against `clean` seen at the checks, and its step. */
  readonly bestPsnr?: number;
  /** The step of `bestPsnr`. */
  readonly bestStep?: number;
  /** With `keepBest` and a clean image: the output at the best-PSNR check (mean of the runs). */
  readonly best?: Image;
  /** With a host stopping rule: the step of each run's returned output. */
  readonly chosenSteps?: readonly number[];
  /** The last loss of each fit. */
  readonly loss: readonly number[];
  /** The learning rate the fit finished with (smaller than asked after a divergence). */
  readonly lr: number;
  /** How many times a diverged fit was started over with a smaller lr. */
  readonly lrRetries: number;
  /** The fitted generators, when `saveNetwork` asked for them. */
  readonly generator?: FittedGenerator;
  /**
   * What the run did at every check, and previews every `previewEvery` checks (of the first
   * trainer when `runs` needed several).
   */
  readonly record: RunRecord;
}

/**
 * What an export of the fitted generators needs (models/onnx_export.ts): the network, the size
 * it was fitted at, the padding to crop from its output, and each run's final weights and z.
 */
export interface FittedGenerator {
  /** The network trained. */
  readonly network: Network;
  /** Height of its output (padded). */
  readonly height: number;
  /** Width of its output (padded). */
  readonly width: number;
  /** The padding cropped from its output to give the restoration. */
  readonly crop: {
    readonly top: number;
    readonly left: number;
    readonly bottom: number;
    readonly right: number;
  };
  /** Per run, in seed order: the weights after the last step, and z. */
  readonly runs: readonly { readonly params: Float32Array; readonly z: Float32Array }[];
}

/** Hooks a caller (the op, a benchmark, a test) may pass to {@link fitImage}. */
export interface FitHooks {
  /** Receives a "fit" progress event at every check. */
  readonly emit?: OpContext["emit"];
  /** Aborts the fit between checks. */
  readonly signal?: AbortSignal;
  /** Name used in progress events. */
  readonly name?: string;
  /** Replaces engine/mod.ts createTrainer (tests use a scripted trainer). */
  readonly createTrainer?: typeof createTrainer;
  /** How to run the fits (the run context's); default: the fit's own hints. */
  readonly schedule?: FitSchedule;
  /** With `saveEvery`: receives the output (mean of the first trainer's runs) at those steps. */
  readonly onSave?: (step: number, image: Image) => Promise<void>;
  /** Called at every accepted check of the first trainer (bench/stopping records runs so). */
  readonly onCheck?: (check: FitCheck) => Promise<void>;
}

/** What {@link FitHooks.onCheck} sees at a check. */
export interface FitCheck {
  /** Steps run. */
  readonly step: number;
  /** The scalars read back. */
  readonly scalars: StepScalars;
  /** Each run's output, EMA, or ES-WMV output at the variance minimum, as images. */
  read(name: "output" | "ema" | "best"): Promise<Image[]>;
}

/** Most files `saveEvery` writes per fit, however long the run. */
export const MAX_SAVES = 50;

/** How to run a fit: the run context's choice, which wins over the recipe's hints. */
export interface FitSchedule {
  /** Engine (default: the recipe's hint, else auto). */
  readonly engine?: EngineName;
  /** Cpu engine worker threads. */
  readonly threads?: number;
  /** Fits per trainer (default: as many as memory allows). */
  readonly batch?: number;
  /** Trainers reused across fits of the same shape (e.g. a folder of same-size images). */
  readonly pool?: TrainerPool;
}

/** Per-run seeds: parameters, z and the per-step input noise draw from distinct streams. */
export function runSeeds(seed: number): { params: number; z: number; noise: number } {
  return {
    params: seed >>> 0,
    z: pcgHash((seed ^ 0x2545f491) >>> 0),
    noise: pcgHash((seed ^ 0x9e3779b9) >>> 0),
  };
}

function repeat(data: Float32Array, times: number): Float32Array {
  const out = new Float32Array(data.length * times);
  for (let b = 0; b < times; b++) out.set(data, b * data.length);
  return out;
}

/** The images a task reads besides the observation, checked against the observation. */
function checkProblem(problem: FitProblem, fit: ResolvedFit, task: TaskSpec): void {
  const x0 = problem.observation;
  const f = fit.factor;
  for (const { role } of task.images ?? []) {
    if (role === "mask" && !problem.mask) {
      throw new InputError(`dipFit: task "${fit.task}" needs a mask but none was given`, {
        file: x0.name,
      });
    }
  }
  if (problem.mask && (problem.mask.height !== x0.height || problem.mask.width !== x0.width)) {
    throw new InputError(
      `dipFit: expected a ${x0.height}×${x0.width} mask but received ${problem.mask.height}×${problem.mask.width}`,
      { file: problem.mask.name },
    );
  }
  if (fit.input !== "image") return;
  const guide = problem.guide;
  if (!guide) {
    throw new InputError(`dipFit: input "image" needs a guide image but none was given`, {
      file: x0.name,
    });
  }
  if (guide.height !== x0.height * f || guide.width !== x0.width * f) {
    throw new InputError(
      `dipFit: expected a ${x0.height * f}×${
        x0.width * f
      } guide image but received ${guide.height}×${guide.width}`,
      { file: guide.name },
    );
  }
}

/**
 * Fits the generator to one observation and returns the restoration (the mean of
 * `fit.runs` fits with seeds seed, seed + 1, …, trained as many at a time as the schedule says).
 */
export async function fitImage(
  problem: FitProblem,
  fit: ResolvedFit,
  hooks: FitHooks = {},
): Promise<FitResult> {
  const task: TaskSpec = TASKS[fit.task];
  checkProblem(problem, fit, task);
  const transform = task.transform;
  const x0 = transform
    ? transform.forward(problem.observation, fit.taskOptions)
    : problem.observation;
  const toImage = (image: Image) => transform ? transform.inverse(image, fit.taskOptions) : image;
  const channels = x0.channels;
  const f = fit.factor;
  const guide = problem.guide;
  const inputChannels = fit.input === "image" ? guide!.channels : fit.inputDepth;
  const network = buildNetwork(fit, inputChannels, channels);

  const padding = fitPadding(network, f, x0.height, x0.width);
  const padded = isPadded(padding);
  const target = padded ? reflectPad(x0, padding) : x0;
  const known = padded ? paddedMask(x0.height, x0.width, padding, problem.mask) : problem.mask;
  // The holdout rule's pixels are left out of the loss (dip/stopping.ts).
  const held = fit.earlyStop?.holdout !== undefined
    ? holdoutMask(target.height, target.width, fit.earlyStop.holdout, fit.seed, known?.data)
    : undefined;
  const lossMask = held
    ? makeImage(1, target.height, target.width, held.map((h, i) => (1 - h) * (known?.data[i] ?? 1)))
    : known;
  const base = task.operator(fit.taskOptions);
  const unmasked = base.usesMask ? identity() : base;
  const operator = padded || held ? compose(unmasked, maskOperator()) : base;
  const outPadding = scalePadding(padding, f);
  const height = target.height * f;
  const width = target.width * f;

  const clean = problem.clean
    ? referenceAtSize(problem.clean, { channels, height: x0.height * f, width: x0.width * f })
    : undefined;
  const results: Float32Array[] = [];
  let stepsRun = 0;
  let lr = fit.lr;
  let lrRetries = 0;
  let stopStep: number | undefined;
  let wmvArgmin: number | undefined;
  let restores = 0;
  let msTotal = 0;
  let engineName = "";
  let adapter = "";
  let bestPsnr: number | undefined;
  let bestStep: number | undefined;
  const bests: Float32Array[] = [];
  const chosenSteps: number[] = [];
  const losses: number[] = [];
  const outSize = channels * height * width;
  const schedule: BatchSchedule = {
    engine: hooks.schedule?.engine ?? fit.engine,
    threads: hooks.schedule?.threads ?? fit.threads,
    batch: hooks.schedule?.batch ?? fit.batch,
    pool: hooks.schedule?.pool,
    create: hooks.createTrainer ?? createTrainer,
  };

  // Given weights (an imported ONNX generator's, with keepWeights) replace the initialisation.
  const weights = ARCHITECTURES[fit.arch].weights?.(fit.net);
  const generators: FittedGenerator["runs"][number][] = [];
  let recorded: { recorder: RunRecorder; steps: number; ms: number } | undefined;
  const compile = (batch: number, lr = fit.lr) => {
    const plan = compilePlan(network, {
      batch,
      height,
      width,
      dataTerm: operator.dataTerm,
      lr,
      regNoiseStd: fit.regNoise,
      emaDecay: fit.ema,
      earlyStopWindow: fit.earlyStop?.rule === "wmv" ? fit.earlyStop.window : undefined,
    });
    return weights ? planWithWeights(plan, weights) : plan;
  };

  await trainInBatches(compile, fit.runs, schedule, async ({ trainer, plan, first, batch }) => {
    const seeds = Array.from({ length: batch }, (_, b) => runSeeds(fit.seed + first + b));
    engineName = trainer.engine;
    adapter = trainer.adapter;
    const z0 = plan.io.z0;
    const zSize = z0.c * z0.h * z0.w;
    const zParts = seeds.map((s) =>
      fit.input === "image"
        ? reflectPad(guide!, outPadding).data
        : inputNoise(fit.input, z0.c, z0.h, z0.w, s.z)
    );
    const z = new Float32Array(batch * zSize);
    zParts.forEach((part, b) => z.set(part.subarray(0, zSize), b * zSize));
    /** Fresh parameters, moments, noise seeds and inputs: a fit from its start. */
    const prepare = async (t: Trainer) => {
      await t.reset(seeds.map((s) => s.params));
      t.setNoiseSeeds(seeds.map((s) => s.noise));
      t.upload("z0", z);
      t.upload("target", repeat(target.data, batch));
      if (operator.usesMask) t.upload("mask", repeat(lossMask!.data, batch));
    };
    // A fit that diverges is started over with a smaller lr (dip/train_loop.ts): a trainer of
    // its own, since the lr is baked into the plan; the batch's trainer goes back to the pool.
    let active: Trainer = trainer;
    const start = async (lr: number): Promise<Trainer> => {
      if (lr === fit.lr) {
        await prepare(trainer);
        return trainer;
      }
      if (active !== trainer) active.dispose();
      active = await schedule.create(compile(batch, lr), {
        engine: schedule.engine,
        threads: schedule.threads,
      });
      await prepare(active);
      return active;
    };
    try {
      const toOutput = (data: Float32Array) =>
        toImage(
          cropToImage(
            meanOfRuns(data, batch, outSize),
            channels,
            height,
            width,
            outPadding,
            x0.name,
          ),
        );
      const recorder = recorded === undefined
        ? new RunRecorder({
          checkEvery: fit.checkEvery,
          iterations: fit.iterations,
          ema: fit.ema,
          fits: batch,
          previewEvery: fit.previewEvery,
        })
        : undefined;
      const firstTrainer = recorder !== undefined;
      const perRun = (data: Float32Array) =>
        Array.from({ length: batch }, (_, b) =>
          toImage(
            cropToImage(
              data.subarray(b * outSize, (b + 1) * outSize),
              channels,
              height,
              width,
              outPadding,
              x0.name,
            ),
          ));
      const rule = fit.earlyStop && fit.earlyStop.rule !== "wmv"
        ? checkRule(fit.earlyStop.rule, {
          fits: batch,
          outSize,
          patience: fit.earlyStop.patience,
          checkEvery: fit.checkEvery,
          window: fit.earlyStop.window ?? fit.checkEvery * 2,
          holdout: held && {
            target: target.data,
            channels,
            held,
            apply: (x) => unmasked.apply(x, channels, height, width),
          },
        })
        : undefined;
      const saveEvery = fit.saveEvery === undefined ? undefined : Math.max(
        fit.saveEvery,
        Math.ceil(fit.iterations / MAX_SAVES / fit.checkEvery) * fit.checkEvery,
      );
      const outcome = await trainWithRetries(start, fit, {
        release: () => {}, // the batch's trainer is released by trainInBatches, a retry's below
        batch,
        outSize,
        recorder,
        rule,
        keepBest: fit.keepBest && clean !== undefined,
        ...(firstTrainer && saveEvery !== undefined && hooks.onSave
          ? { saveEvery, onSave: (step, data) => hooks.onSave!(step, toOutput(data)) }
          : {}),
        ...(firstTrainer && hooks.onCheck
          ? {
            onCheck: (step, scalars, read) =>
              hooks.onCheck!({ step, scalars, read: async (name) => perRun(await read(name)) }),
          }
          : {}),
        previewImage: toOutput,
        evaluateClean: clean
          ? (data) => {
            const mean = meanOfRuns(data, batch, outSize);
            return psnr(
              toImage(cropToImage(mean, channels, height, width, outPadding, x0.name)),
              clean!,
            );
          }
          : undefined,
        hooks,
      });
      stepsRun = Math.max(stepsRun, outcome.steps);
      if (recorder) recorded = { recorder, steps: outcome.steps, ms: outcome.ms };
      stopStep = outcome.stopStep ?? stopStep;
      wmvArgmin = outcome.wmvArgmin ?? wmvArgmin;
      restores += outcome.restores;
      msTotal += outcome.ms;
      losses.push(...outcome.loss);
      if (
        outcome.bestPsnr !== undefined && (bestPsnr === undefined || outcome.bestPsnr > bestPsnr)
      ) {
        bestPsnr = outcome.bestPsnr;
        bestStep = outcome.bestStep;
      }
      for (let b = 0; b < batch; b++) {
        results.push(outcome.output.slice(b * outSize, (b + 1) * outSize));
        if (outcome.bestOutput) {
          bests.push(outcome.bestOutput.slice(b * outSize, (b + 1) * outSize));
        }
      }
      chosenSteps.push(...outcome.chosenSteps ?? []);
      lr = outcome.lr;
      lrRetries = Math.max(lrRetries, outcome.lrRetries);
      if (fit.saveNetwork !== undefined) {
        if (!active.readParams) {
          throw new Error(`dipFit: the ${active.engine} trainer cannot read its weights back`);
        }
        const params = await active.readParams();
        const n = plan.paramsPerFit;
        for (let b = 0; b < batch; b++) {
          generators.push({
            params: params.slice(b * n, (b + 1) * n),
            z: z.slice(b * zSize, (b + 1) * zSize),
          });
        }
      }
    } finally {
      if (active !== trainer) active.dispose();
    }
  });

  const runs = results.map((data) =>
    toImage(cropToImage(data, channels, height, width, outPadding, x0.name))
  );
  const mean = new Float32Array(runs[0]!.data.length);
  for (const run of runs) {
    for (let i = 0; i < mean.length; i++) mean[i]! += run.data[i]! / runs.length;
  }
  const image = makeImage(channels, runs[0]!.height, runs[0]!.width, mean, x0.name);
  const finalPsnr = clean ? psnr(image, clean) : undefined;
  let best = bests.length === results.length && bests.length > 0
    ? meanOfImages(
      bests.map((data) => toImage(cropToImage(data, channels, height, width, outPadding, x0.name))),
    )
    : undefined;
  if (finalPsnr !== undefined && (bestPsnr === undefined || finalPsnr > bestPsnr)) {
    bestPsnr = finalPsnr;
    bestStep = stepsRun;
    if (best) best = image;
  }
  const record = await recorded!.recorder.finish({
    steps: recorded!.steps,
    lr: fit.lr,
    ms: recorded!.ms,
    stopStep,
    // The record's ES step (reports, the page and the progress line show it as "output of
    // step N"): with a host rule, the check whose output was returned.
    wmvArgmin: wmvArgmin ?? chosenSteps[0],
    bestPsnr,
    bestStep,
    images: { observed: problem.observation, restored: image, clean, factor: f },
  });
  hooks.emit?.({ type: "record", name: hooks.name ?? "", record: { ...record, previews: [] } });
  return {
    image,
    runs,
    record,
    iterations: stepsRun,
    stopStep,
    wmvArgmin,
    msPerStep: stepsRun > 0 ? msTotal / stepsRun : 0,
    engine: engineName,
    adapter,
    restores,
    psnr: finalPsnr,
    bestPsnr,
    bestStep,
    ...(best ? { best } : {}),
    ...(chosenSteps.length > 0 ? { chosenSteps } : {}),
    loss: losses,
    lr,
    lrRetries,
    ...(fit.saveNetwork !== undefined
      ? { generator: { network, height, width, crop: outPadding, runs: generators } }
      : {}),
  };
}

function meanOfImages(images: readonly Image[]): Image {
  const first = images[0]!;
  const mean = new Float32Array(first.data.length);
  for (const image of images) {
    for (let i = 0; i < mean.length; i++) mean[i]! += image.data[i]! / images.length;
  }
  return makeImage(first.channels, first.height, first.width, mean, first.name);
}

function meanOfRuns(data: Float32Array, batch: number, size: number): Float32Array {
  if (batch === 1) return data.subarray(0, size);
  const mean = new Float32Array(size);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < size; i++) mean[i]! += data[b * size + i]! / batch;
  }
  return mean;
}

function cropToImage(
  data: Float32Array,
  channels: 1 | 3,
  height: number,
  width: number,
  padding: ReturnType<typeof scalePadding>,
  name: string,
): Image {
  const cropped = cropData(data, channels, height, width, padding);
  return makeImage(
    channels,
    height - padding.top - padding.bottom,
    width - padding.left - padding.right,
    cropped,
    name,
  );
}

/**
 * The reference image at the output's size: SR degradations floor the LR size, so a clean HR
 * image may be a few pixels larger than the output; its top-left region is compared.
 */
export function referenceAtSize(
  clean: Image,
  like: Pick<Image, "channels" | "height" | "width">,
): Image {
  if (clean.height === like.height && clean.width === like.width) return clean;
  if (clean.height < like.height || clean.width < like.width || clean.channels !== like.channels) {
    throw new InputError(
      `dipFit: expected a ${like.channels}×${like.height}×${like.width} (or larger) reference but received ` +
        `${clean.channels}×${clean.height}×${clean.width}`,
      { file: clean.name },
    );
  }
  return makeImage(
    clean.channels,
    like.height,
    like.width,
    cropData(clean.data, clean.channels, clean.height, clean.width, {
      top: 0,
      left: 0,
      bottom: clean.height - like.height,
      right: clean.width - like.width,
    }),
    clean.name,
  );
}

/** Reads a mask image as 1 channel of 0/1 (values above one half are known). */
export function binaryMask(image: Image): Image {
  const plane = image.height * image.width;
  const out = new Float32Array(plane);
  for (let i = 0; i < plane; i++) {
    let v = 0;
    for (let c = 0; c < image.channels; c++) v += image.data[c * plane + i]!;
    out[i] = v / image.channels > 0.5 ? 1 : 0;
  }
  return makeImage(1, image.height, image.width, out, image.name);
}
