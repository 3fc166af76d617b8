/**
 * dipFit: Deep Image Prior restoration (Ulyanov, Vedaldi, Lempitsky, CVPR 2018) as a pipeline
 * op. A randomly initialised generator f_θ is fitted to one degraded observation x0 by
 * minimising ‖A(f_θ(z)) − x0‖², where the operator A is the task's physics (dip/operators.ts),
 * with the reference implementation's tricks: fresh input noise every step, an EMA of the
 * output, backtracking on a PSNR collapse, and (optionally) ES-WMV early stopping.
 *
 * Tasks: `denoise` and `jpeg` (identity), `sr` (Lanczos2 downsampling by `factor`; the LR image
 * is in slot "image", the output is f times larger), `inpaint` (mask from slot "mask" or a
 * file: 1/255 known, 0 missing), `flash` (slot "guide" holds the flash image, used as z; the
 * no-flash image in "image" is the target), `deblur` (Gaussian blur of `sigma` pixels, see
 * dip/operators.ts gaussianBlur; not in the reference). Presets are the reference notebooks'
 * settings (dip/tasks.ts).
 *
 * Sizes: the observation is reflect-padded to the network's `sizeMultiple` (÷ the SR factor)
 * and the result cropped back, so the output has exactly the input's size (× f for SR). The
 * padding never counts in the loss: a padded fit uses a mask that is 0 there (dip/pad.ts).
 *
 * Readback: every `checkEvery` steps (default 50) the loop reads the per-fit scalars (loss,
 * PSNR against the observation, ES-WMV minimum); backtracking and early stopping are decided
 * at those checks, so backtracking has granularity k = checkEvery instead of the reference's
 * every step (its barbara notebook also checks every 50).
 *
 * @module
 */
import { compilePlan } from "../engine/compile.ts";
import { inputNoise } from "../engine/init.ts";
import { createTrainer } from "../engine/mod.ts";
import { pcgHash, type Plan } from "../engine/plan.ts";
import type { Trainer } from "../engine/backend.ts";
import type { Network } from "../models/graph.ts";
import { deepDecoder } from "../models/deep_decoder.ts";
import { resnet } from "../models/resnet.ts";
import { hourglass, skip } from "../models/skip.ts";
import { InputError, RecipeError } from "../core/errors.ts";
import type { OpContext } from "../core/types.ts";
import { ES_WMV_PATIENCE, ES_WMV_WINDOW } from "./early_stop.ts";
import { trainLoop } from "./train_loop.ts";
import { type Image, makeImage } from "../core/image.ts";
import { psnr } from "../image/metrics.ts";
import {
  compose,
  gaussianBlur,
  identity,
  lanczosDown,
  mask as maskOperator,
  type Operator,
} from "./operators.ts";
import {
  cropData,
  isPadded,
  paddedMask,
  paddingToMultiple,
  reflectPad,
  scalePadding,
} from "./pad.ts";
import {
  type ArchName,
  defaultPreset,
  type FitSettings,
  type InputKind,
  NET_KEYS,
  type NetOptions,
  PRESETS,
  TASK_PRESETS,
  type TaskName,
} from "./tasks.ts";

/** Engines dipFit can run on (`reference` is the slow plain-TypeScript executor, for tests). */
export type FitEngine = "webgpu" | "cpu" | "reference" | "auto";

/** Options of {@link dipFit}; everything but `task` defaults to the task's preset. */
export interface DipFitOptions {
  /** What to restore. */
  readonly task: TaskName;
  /** A preset name from dip/tasks.ts; default: the task's own (`sr4` for `sr` × 4). */
  readonly preset?: string;
  /** SR factor: 2, 4 or 8 (default 4). Only for `sr`. */
  readonly factor?: number;
  /** σ in pixels of the Gaussian blur the observation went through. Only for `deblur`. */
  readonly sigma?: number;
  /** Generator family; changing it drops the preset's `net` options. */
  readonly arch?: ArchName;
  /** Options of the architecture's builder, merged over the preset's. */
  readonly net?: Readonly<NetOptions>;
  /** z: `noise` (U[0,1)·0.1), `meshgrid` (2 channels) or `image` (the guide slot). */
  readonly input?: InputKind;
  /** Channels of a noise z. */
  readonly inputDepth?: number;
  /** Std of the fresh noise added to z every step (0 = off). */
  readonly regNoise?: number;
  /** Adam learning rate. */
  readonly lr?: number;
  /** Adam steps (an upper bound with early stopping). */
  readonly iterations?: number;
  /** EMA decay of the output, 0 = off. */
  readonly ema?: number;
  /** Backtracking on a > 5 dB PSNR drop against the observation. */
  readonly backtracking?: boolean;
  /** Seed of the first run (parameters, z, input noise); run i uses seed + i. Default 0. */
  readonly seed?: number;
  /** Fits with distinct seeds whose outputs are averaged (what `average({ runs })` sets). */
  readonly runs?: number;
  /**
   * Most fits trained at once in one batched trainer. Default: as many as memory allows (every
   * arena of the batch within {@link BATCH_ARENA_BYTES}, halved again if the engine refuses).
   */
  readonly batch?: number;
  /** Default `auto` (WebGPU on a hardware adapter, else the CPU engine). */
  readonly engine?: FitEngine;
  /** Worker threads of the CPU engine. */
  readonly threads?: number;
  /** Steps between readbacks of the scalars (and decisions). Default 50. */
  readonly checkEvery?: number;
  /**
   * ES-WMV early stopping: `true` for window 100 and patience 1000 (Wang et al.), or explicit
   * values. The result is then the output at the minimum windowed variance.
   */
  readonly earlyStop?: boolean | { readonly window?: number; readonly patience?: number };
  /**
   * Inpainting: a mask file (255 known, 0 missing) instead of the "mask" slot; `{name}` is
   * replaced by the input's name, e.g. `"masks/{name}_mask.png"`.
   */
  readonly mask?: string;
  /**
   * Flash/no-flash: the flash image file instead of the "guide" slot; `{name}` as for `mask`,
   * e.g. `"pairs/{name}_flash.jpg"` while the inputs are the no-flash photos.
   */
  readonly guide?: string;
}

/** Every option, resolved against the preset. */
export interface ResolvedFit extends FitSettings {
  /** What is restored. */
  readonly task: TaskName;
  /** The preset the settings came from. */
  readonly preset: string;
  /** SR factor (1 for the other tasks). */
  readonly factor: number;
  /** Gaussian blur σ in pixels (`deblur` only). */
  readonly sigma?: number;
  /** Seed of the first run. */
  readonly seed: number;
  /** Fits averaged. */
  readonly runs: number;
  /** Fits trained at once; undefined = as many as memory allows. */
  readonly batch?: number;
  /** Engine asked for. */
  readonly engine: FitEngine;
  /** CPU engine threads. */
  readonly threads?: number;
  /** Steps between readbacks (k). */
  readonly checkEvery: number;
  /** ES-WMV window and patience, when early stopping is on. */
  readonly earlyStop?: { readonly window: number; readonly patience: number };
  /** Inpainting mask file (pattern). */
  readonly mask?: string;
  /** Flash image file (pattern). */
  readonly guide?: string;
}

const OPTION_KEYS = [
  "task",
  "preset",
  "factor",
  "sigma",
  "arch",
  "net",
  "input",
  "inputDepth",
  "regNoise",
  "lr",
  "iterations",
  "ema",
  "backtracking",
  "seed",
  "runs",
  "batch",
  "engine",
  "threads",
  "checkEvery",
  "earlyStop",
  "mask",
  "guide",
] as const;

const TASKS: readonly TaskName[] = ["denoise", "sr", "inpaint", "jpeg", "flash", "deblur"];
const ARCHS: readonly ArchName[] = ["skip", "hourglass", "resnet", "deep-decoder"];
const INPUTS: readonly InputKind[] = ["noise", "meshgrid", "image"];
const ENGINES: readonly FitEngine[] = ["webgpu", "cpu", "reference", "auto"];

/**
 * The largest arena a batched trainer may need when the batch is chosen automatically (1 GiB:
 * under the 2 GiB maxBufferSize many WebGPU adapters report).
 */
export const BATCH_ARENA_BYTES = 2 ** 30;

/** Default readback interval k (steps between checks). */
export const DEFAULT_CHECK_EVERY = 50;

function describe(value: unknown): string {
  if (typeof value === "string") return `"${value}" of type string`;
  if (Array.isArray(value)) return `${JSON.stringify(value)} of type array`;
  return `${String(value)} of type ${value === null ? "null" : typeof value}`;
}

function fail(what: string, name: string, value: unknown): never {
  throw new RecipeError(`dipFit: Expected ${what} for ${name} but received ${describe(value)}`);
}

function checkNumber(
  name: string,
  value: unknown,
  { integer = false, min = -Infinity, max = Infinity, minOpen = false } = {},
): void {
  const ok = typeof value === "number" && Number.isFinite(value) &&
    (!integer || Number.isInteger(value)) && (minOpen ? value > min : value >= min) && value <= max;
  if (!ok) {
    const kind = integer ? "integer" : "number";
    const range = minOpen ? `> ${min}` : min === -Infinity ? "" : `≥ ${min}`;
    fail(
      `${kind}${range ? ` ${range}` : ""}${max !== Infinity ? ` and ≤ ${max}` : ""}`,
      name,
      value,
    );
  }
}

/**
 * Validates options and resolves them against the task's preset.
 *
 * @throws {RecipeError} on an unknown option, a value out of range, or a preset that does not
 * belong to the task
 */
export function resolveFitOptions(options: DipFitOptions): ResolvedFit {
  if (options === null || typeof options !== "object") {
    fail("an options object", "options", options);
  }
  for (const key of Object.keys(options)) {
    if (!(OPTION_KEYS as readonly string[]).includes(key)) {
      throw new RecipeError(
        `dipFit: Unknown option "${key}" (expected one of ${OPTION_KEYS.join(", ")})`,
      );
    }
  }
  const o = options;
  if (!TASKS.includes(o.task)) fail(`one of ${TASKS.join(", ")}`, "task", o.task);
  if (o.factor !== undefined) {
    if (o.task !== "sr") {
      throw new RecipeError(`dipFit: factor applies to task "sr" only, not "${o.task}"`);
    }
    if (o.factor !== 2 && o.factor !== 4 && o.factor !== 8) fail("2, 4 or 8", "factor", o.factor);
  }
  const factor = o.task === "sr" ? o.factor ?? 4 : 1;
  if (o.sigma !== undefined && o.task !== "deblur") {
    throw new RecipeError(`dipFit: sigma applies to task "deblur" only, not "${o.task}"`);
  }
  if (o.task === "deblur") {
    if (o.sigma === undefined) {
      throw new RecipeError(
        `dipFit: task "deblur" needs sigma (the blur σ in pixels) but received none`,
      );
    }
    checkNumber("sigma", o.sigma, { min: 0, minOpen: true });
  }
  const presetName = o.preset ?? defaultPreset(o.task, factor);
  const preset = PRESETS[presetName];
  if (!preset || !TASK_PRESETS[o.task].includes(presetName)) {
    fail(`a preset of task "${o.task}" (${TASK_PRESETS[o.task].join(", ")})`, "preset", o.preset);
  }
  if (o.arch !== undefined && !ARCHS.includes(o.arch)) {
    fail(`one of ${ARCHS.join(", ")}`, "arch", o.arch);
  }
  const arch = o.arch ?? preset.arch;
  if (o.net !== undefined) {
    if (o.net === null || typeof o.net !== "object" || Array.isArray(o.net)) {
      fail("an object", "net", o.net);
    }
    for (const key of Object.keys(o.net)) {
      if (!NET_KEYS[arch].includes(key)) {
        throw new RecipeError(
          `dipFit: Unknown net option "${key}" for arch "${arch}" (expected one of ${
            NET_KEYS[arch].join(", ")
          })`,
        );
      }
    }
  }
  // A different arch keeps only the preset options it understands (e.g. skip → hourglass).
  const net: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(preset.net)) {
    if (NET_KEYS[arch].includes(key)) net[key] = value;
  }
  Object.assign(net, o.net ?? {});
  fitLevels(net, o.net);
  if (o.input !== undefined && !INPUTS.includes(o.input)) {
    fail(`one of ${INPUTS.join(", ")}`, "input", o.input);
  }
  const input = o.input ?? preset.input;
  if (o.inputDepth !== undefined) {
    checkNumber("inputDepth", o.inputDepth, { integer: true, min: 1 });
  }
  if (o.regNoise !== undefined) checkNumber("regNoise", o.regNoise, { min: 0 });
  if (o.lr !== undefined) checkNumber("lr", o.lr, { min: 0, minOpen: true });
  if (o.iterations !== undefined) {
    checkNumber("iterations", o.iterations, { integer: true, min: 1 });
  }
  if (o.ema !== undefined) checkNumber("ema", o.ema, { min: 0, max: 0.999999 });
  if (o.backtracking !== undefined && typeof o.backtracking !== "boolean") {
    fail("boolean", "backtracking", o.backtracking);
  }
  if (o.seed !== undefined) checkNumber("seed", o.seed, { integer: true, min: 0, max: 0xffffffff });
  if (o.runs !== undefined) checkNumber("runs", o.runs, { integer: true, min: 1 });
  if (o.batch !== undefined) checkNumber("batch", o.batch, { integer: true, min: 1 });
  if (o.engine !== undefined && !ENGINES.includes(o.engine)) {
    fail(`one of ${ENGINES.join(", ")}`, "engine", o.engine);
  }
  if (o.threads !== undefined) checkNumber("threads", o.threads, { integer: true, min: 1 });
  if (o.checkEvery !== undefined) {
    checkNumber("checkEvery", o.checkEvery, { integer: true, min: 1 });
  }
  let earlyStop: ResolvedFit["earlyStop"];
  if (o.earlyStop !== undefined && o.earlyStop !== false) {
    if (o.earlyStop === true) earlyStop = { window: ES_WMV_WINDOW, patience: ES_WMV_PATIENCE };
    else if (typeof o.earlyStop === "object" && o.earlyStop !== null) {
      for (const key of Object.keys(o.earlyStop)) {
        if (key !== "window" && key !== "patience") {
          throw new RecipeError(
            `dipFit: Unknown earlyStop option "${key}" (expected window, patience)`,
          );
        }
      }
      const window = o.earlyStop.window ?? ES_WMV_WINDOW;
      const patience = o.earlyStop.patience ?? ES_WMV_PATIENCE;
      checkNumber("earlyStop.window", window, { integer: true, min: 1 });
      checkNumber("earlyStop.patience", patience, { integer: true, min: 1 });
      earlyStop = { window, patience };
    } else fail("boolean or { window, patience }", "earlyStop", o.earlyStop);
  }
  if (o.mask !== undefined) {
    if (o.task !== "inpaint") {
      throw new RecipeError(`dipFit: mask applies to task "inpaint" only, not "${o.task}"`);
    }
    if (typeof o.mask !== "string" || o.mask.length === 0) fail("a mask file path", "mask", o.mask);
  }
  if (o.guide !== undefined) {
    if (o.task !== "flash") {
      throw new RecipeError(`dipFit: guide applies to task "flash" only, not "${o.task}"`);
    }
    if (typeof o.guide !== "string" || o.guide.length === 0) {
      fail("a guide file path", "guide", o.guide);
    }
  }
  if (input === "image" && o.task !== "flash") {
    throw new RecipeError(
      `dipFit: input "image" needs the guide slot of task "flash", not task "${o.task}"`,
    );
  }
  const runs = o.runs ?? 1;
  return {
    task: o.task,
    preset: presetName,
    factor,
    ...(o.task === "deblur" ? { sigma: o.sigma } : {}),
    arch,
    net: net as NetOptions,
    input,
    inputDepth: input === "meshgrid" ? 2 : o.inputDepth ?? preset.inputDepth,
    regNoise: o.regNoise ?? preset.regNoise,
    lr: o.lr ?? preset.lr,
    iterations: o.iterations ?? preset.iterations,
    ema: o.ema ?? preset.ema,
    backtracking: o.backtracking ?? preset.backtracking,
    seed: o.seed ?? 0,
    runs,
    batch: o.batch === undefined ? undefined : Math.min(runs, o.batch),
    engine: o.engine ?? "auto",
    threads: o.threads,
    checkEvery: o.checkEvery ?? DEFAULT_CHECK_EVERY,
    earlyStop,
    mask: o.mask,
    guide: o.guide,
  };
}

const PER_LEVEL_KEYS = [
  "channelsUp",
  "channelsSkip",
  "filterSizeDown",
  "filterSizeUp",
  "upsampleMode",
  "downsampleMode",
];

/**
 * When the user's `channelsDown` has another number of levels than the preset, the preset's
 * per-level lists the user did not set are fitted to it: the first (finest) levels are kept,
 * and the last entry repeats if the user asked for more levels.
 */
function fitLevels(net: Record<string, unknown>, user: Readonly<NetOptions> | undefined): void {
  const levels = Array.isArray(net.channelsDown) ? net.channelsDown.length : undefined;
  if (levels === undefined || !user?.channelsDown) return;
  for (const key of PER_LEVEL_KEYS) {
    const value = net[key];
    if (key in user || !Array.isArray(value) || value.length === levels) continue;
    net[key] = Array.from({ length: levels }, (_, i) => value[Math.min(i, value.length - 1)]);
  }
}

/** Builds the generator of a resolved fit for `inputChannels` → `outputChannels`. */
export function buildNetwork(
  fit: ResolvedFit,
  inputChannels: number,
  outputChannels: number,
): Network {
  const net = fit.net as Record<string, unknown>;
  switch (fit.arch) {
    case "skip":
      return skip({ ...net, inputChannels, outputChannels });
    case "hourglass":
      return hourglass({ ...net, inputChannels, outputChannels });
    case "resnet":
      return resnet({ ...net, inputChannels, outputChannels });
    case "deep-decoder":
      // The deep decoder's z has its own channel count (k) and a small spatial size.
      return deepDecoder({ ...net, outputChannels });
  }
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
  /** The last loss of each fit. */
  readonly loss: readonly number[];
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
}

/** Per-run seeds: parameters, z and the per-step input noise draw from distinct streams. */
export function runSeeds(seed: number): { params: number; z: number; noise: number } {
  return {
    params: seed >>> 0,
    z: pcgHash((seed ^ 0x2545f491) >>> 0),
    noise: pcgHash((seed ^ 0x9e3779b9) >>> 0),
  };
}

function baseOperator(fit: ResolvedFit): Operator {
  switch (fit.task) {
    case "sr":
      return lanczosDown(fit.factor);
    case "inpaint":
      return maskOperator();
    case "deblur":
      return gaussianBlur(fit.sigma!);
    default:
      return identity();
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function repeat(data: Float32Array, times: number): Float32Array {
  const out = new Float32Array(data.length * times);
  for (let b = 0; b < times; b++) out.set(data, b * data.length);
  return out;
}

/**
 * Fits the generator to one observation and returns the restoration (the mean of
 * `fit.runs` fits with seeds seed, seed + 1, …, trained `fit.batch` at a time).
 */
export async function fitImage(
  problem: FitProblem,
  fit: ResolvedFit,
  hooks: FitHooks = {},
): Promise<FitResult> {
  const x0 = problem.observation;
  const channels = x0.channels;
  const f = fit.factor;
  if (fit.task === "inpaint" && !problem.mask) {
    throw new InputError(`dipFit: task "inpaint" needs a mask but none was given`, {
      file: x0.name,
    });
  }
  if (problem.mask && (problem.mask.height !== x0.height || problem.mask.width !== x0.width)) {
    throw new InputError(
      `dipFit: expected a ${x0.height}×${x0.width} mask but received ${problem.mask.height}×${problem.mask.width}`,
      { file: problem.mask.name },
    );
  }
  const guide = problem.guide;
  if (fit.input === "image") {
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
  const inputChannels = fit.input === "image" ? guide!.channels : fit.inputDepth;
  const network = buildNetwork(fit, inputChannels, channels);

  // Pad the observation so the output (× f) is a multiple of the network's size multiple.
  const multiple = network.sizeMultiple / gcd(network.sizeMultiple, f);
  // Every level must keep at least 2 pixels (a reflection-padded 3×3 conv needs them): the
  // output is at least 2 × sizeMultiple on each side (the reference crashes below that, #57).
  const minimum = Math.ceil((2 * network.sizeMultiple) / f);
  const padding = paddingToMultiple(x0.height, x0.width, multiple, minimum);
  const padded = isPadded(padding);
  const target = padded ? reflectPad(x0, padding) : x0;
  const lossMask = padded ? paddedMask(x0.height, x0.width, padding, problem.mask) : problem.mask;
  const base = baseOperator(fit);
  const operator = padded ? compose(base.usesMask ? identity() : base, maskOperator()) : base;
  const outPadding = scalePadding(padding, f);
  const height = target.height * f;
  const width = target.width * f;

  const clean = problem.clean
    ? referenceAtSize(problem.clean, { channels, height: x0.height * f, width: x0.width * f })
    : undefined;
  const results: Float32Array[] = [];
  let stepsRun = 0;
  let stopStep: number | undefined;
  let wmvArgmin: number | undefined;
  let restores = 0;
  let msTotal = 0;
  let engineName = "";
  let adapter = "";
  let bestPsnr: number | undefined;
  let bestStep: number | undefined;
  const losses: number[] = [];
  const make = hooks.createTrainer ?? createTrainer;
  const outSize = channels * height * width;

  const compile = (batch: number) =>
    compilePlan(network, {
      batch,
      height,
      width,
      dataTerm: operator.dataTerm,
      lr: fit.lr,
      regNoiseStd: fit.regNoise,
      emaDecay: fit.ema,
      earlyStopWindow: fit.earlyStop?.window,
    });
  let maxBatch = fit.batch ?? autoBatch(compile(1), fit.runs);

  for (let first = 0; first < fit.runs;) {
    const batch = Math.min(maxBatch, fit.runs - first);
    const seeds = Array.from({ length: batch }, (_, b) => runSeeds(fit.seed + first + b));
    const plan = compile(batch);
    let trainer: Trainer;
    try {
      trainer = await make(plan, { engine: fit.engine, threads: fit.threads });
    } catch (error) {
      // An automatic batch the engine cannot hold: halve it and try again.
      if (fit.batch !== undefined || batch === 1) throw error;
      maxBatch = Math.ceil(batch / 2);
      continue;
    }
    first += batch;
    try {
      engineName = trainer.engine;
      adapter = trainer.adapter;
      await trainer.reset(seeds.map((s) => s.params));
      trainer.setNoiseSeeds(seeds.map((s) => s.noise));
      const z0 = plan.io.z0;
      const zSize = z0.c * z0.h * z0.w;
      const zParts = seeds.map((s) =>
        fit.input === "image"
          ? reflectPad(guide!, outPadding).data
          : inputNoise(fit.input, z0.c, z0.h, z0.w, s.z)
      );
      const z = new Float32Array(batch * zSize);
      zParts.forEach((part, b) => z.set(part.subarray(0, zSize), b * zSize));
      trainer.upload("z0", z);
      trainer.upload("target", repeat(target.data, batch));
      if (operator.usesMask) trainer.upload("mask", repeat(lossMask!.data, batch));

      const outcome = await trainLoop(trainer, fit, {
        batch,
        outSize,
        evaluateClean: clean
          ? (data) => {
            const mean = meanOfRuns(data, batch, outSize);
            return psnr(
              cropToImage(mean, channels, height, width, outPadding, x0.name),
              clean!,
            );
          }
          : undefined,
        hooks,
      });
      stepsRun = Math.max(stepsRun, outcome.steps);
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
      }
    } finally {
      trainer.dispose();
    }
  }

  const runs = results.map((data) =>
    cropToImage(data, channels, height, width, outPadding, x0.name)
  );
  const mean = new Float32Array(runs[0]!.data.length);
  for (const run of runs) {
    for (let i = 0; i < mean.length; i++) mean[i]! += run.data[i]! / runs.length;
  }
  const image = makeImage(channels, runs[0]!.height, runs[0]!.width, mean, x0.name);
  const finalPsnr = clean ? psnr(image, clean) : undefined;
  if (finalPsnr !== undefined && (bestPsnr === undefined || finalPsnr > bestPsnr)) {
    bestPsnr = finalPsnr;
    bestStep = stepsRun;
  }
  return {
    image,
    runs,
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
    loss: losses,
  };
}

/** How many fits of `plan` (compiled for batch 1) fit in {@link BATCH_ARENA_BYTES} per arena. */
function autoBatch(plan: Plan, runs: number): number {
  const largest = Math.max(...Object.values(plan.arenaSizes)) * 4;
  return Math.max(1, Math.min(runs, Math.floor(BATCH_ARENA_BYTES / Math.max(1, largest))));
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
