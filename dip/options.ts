/**
 * dipFit's options: one zod schema (types, checks and their messages, the JSON Schema of
 * recipes, `explain()` and the shortcut commands' flags all come from it) and their resolution
 * against the task's preset.
 *
 * What to compute (task, preset, network, lr, iterations, seed, …) is the recipe's; how to run it
 * (engine, threads, batch) is the run's: those three are accepted here as hints for
 * compatibility, and the run context (`run()` options, CLI flags, a worker's config) wins.
 *
 * @module
 */
import { RecipeError } from "../core/errors.ts";
import { parseOptions, z } from "../core/schema.ts";
import { ARCHITECTURES, mergeNetworkOptions } from "../models/architectures.ts";
import { ES_WMV_PATIENCE, ES_WMV_WINDOW } from "./early_stop.ts";
import {
  defaultStopRule,
  HOLDOUT_FRACTION,
  HOLDOUT_PATIENCE,
  STOP_RULES,
  type StopRule,
  stopsByDefault,
  tasksStoppingByDefault,
} from "./stopping.ts";
import {
  type ArchName,
  defaultPreset,
  type FitSettings,
  type NetOptions,
  PRESETS,
  TASK_NAMES,
  TASK_OPTIONS,
  type TaskName,
  TASKS,
  type TaskSpec,
} from "./tasks.ts";

/** Engines a fit can run on (`reference` is the slow plain-TypeScript executor, for tests). */
export type FitEngine = "webgpu" | "cpu" | "reference" | "auto";

/** Engine names, for schemas and flags. */
export const ENGINES = ["webgpu", "cpu", "reference", "auto"] as const;

/** Default readback interval k (steps between checks). */
export const DEFAULT_CHECK_EVERY = 50;

const ARCH_NAMES = Object.keys(ARCHITECTURES) as [ArchName, ...ArchName[]];

/**
 * The options of `dipFit`; everything but `task` defaults to the task's preset. The `flag`
 * metadata marks the options the shortcut commands (`dipline denoise`, `sr`, …) take.
 */
export const DipFitOptionsSchema = z.strictObject({
  task: z.enum(TASK_NAMES).meta({ description: "what to restore" }),
  preset: z.string().min(1).optional().meta({
    description: "a preset of the task (default: the task's own, e.g. sr4 for sr × 4)",
    flag: "preset",
    placeholder: "NAME",
  }),
  ...TASK_OPTIONS,
  arch: z.enum(ARCH_NAMES).optional().meta({
    description: "generator family; changing it drops the preset's net options it does not take",
    flag: "arch",
    placeholder: "A",
  }),
  net: z.record(z.string(), z.unknown()).optional().meta({
    description: "options of the architecture's builder, merged over the preset's",
  }),
  network: z.string().min(1).optional().meta({
    description: 'arch "onnx": the ONNX generator to train (Conv, BatchNormalization, ' +
      "activations, Concat, Resize, Pad, Add, strided downsampling)",
    flag: "network",
    placeholder: "FILE",
  }),
  keepWeights: z.boolean().optional().meta({
    description: 'arch "onnx": start from the file\'s weights instead of a fresh initialisation',
  }),
  saveNetwork: z.string().min(1).optional().meta({
    description: "write the fitted generator (graph, weights and z) as ONNX to this pattern in " +
      "the output folder ({name}, {dir}; {run} writes every run, else the first)",
    flag: "save-network",
    placeholder: "FILE",
  }),
  input: z.enum(["noise", "meshgrid", "image"]).optional().meta({
    description: "z: noise (U[0,1)·0.1), meshgrid (2 channels) or image (the guide)",
  }),
  inputDepth: z.int().min(1).optional().meta({ description: "channels of a noise z" }),
  regNoise: z.number().min(0).finite().optional().meta({
    description: "std of the fresh noise added to z every step (0 = off)",
    flag: "reg-noise",
    placeholder: "X",
  }),
  lr: z.number().gt(0).finite().optional().meta({
    description: "Adam learning rate",
    flag: "lr",
    placeholder: "X",
  }),
  iterations: z.int().min(1).optional().meta({
    description: "Adam steps (an upper bound with early stopping)",
    flag: "iterations",
    placeholder: "N",
  }),
  ema: z.number().min(0).max(0.999999).optional().meta({
    description: "EMA decay of the output, 0 = off",
  }),
  backtracking: z.boolean().optional().meta({
    description: "restore the last snapshot on a > 5 dB PSNR drop against the observation",
  }),
  seed: z.int().min(0).max(0xffffffff).optional().meta({
    description: "seed of parameters, z and input noise; run i uses seed + i (default 0)",
    flag: "seed",
    placeholder: "N",
  }),
  runs: z.int().min(1).optional().meta({
    description: "fits with seeds seed, seed + 1, … whose outputs are averaged (batched)",
    flag: "runs",
    placeholder: "N",
  }),
  batch: z.int().min(1).optional().meta({
    description: "most fits trained at once (a hint: the run's batch wins; default: memory)",
  }),
  engine: z.enum(ENGINES).optional().meta({
    description: "engine hint (the run's engine wins; default auto: WebGPU on a hardware " +
      "adapter, else cpu)",
    flag: "engine",
    placeholder: "E",
  }),
  threads: z.int().min(1).optional().meta({
    description: "cpu engine worker threads (a hint: the run's threads win)",
    flag: "threads",
    placeholder: "N",
  }),
  checkEvery: z.int().min(1).optional().meta({
    description:
      `steps between readbacks, backtracking and early-stop checks (default ${DEFAULT_CHECK_EVERY})`,
    flag: "check-every",
    placeholder: "K",
  }),
  previewEvery: z.int().min(0).optional().meta({
    description: "record a small PNG of the output every N checks (0 = off, the default; the " +
      "web page turns it on); a run keeps at most 50, spread over it",
  }),
  earlyStop: z.union([
    z.boolean(),
    z.strictObject({
      rule: z.enum(STOP_RULES).optional(),
      window: z.int().min(1).optional(),
      patience: z.int().min(1).optional(),
      holdout: z.number().gt(0).max(0.5).optional(),
    }),
  ]).optional().meta({
    description: `stop once the result stops improving and return it, no reference needed ` +
      `(default on for ${tasksStoppingByDefault().join(", ")} unless iterations is given, the ` +
      `preset's steps the cap): true for the task's rule ` +
      `(holdout: ${HOLDOUT_FRACTION * 100} % of the pixels held out, patience ` +
      `${HOLDOUT_PATIENCE}), or { rule: ${STOP_RULES.join(" | ")}, window, patience, holdout }`,
    flag: "early-stop",
  }),
  keepBest: z.boolean().optional().meta({
    description: "with a clean reference: return the output at the best-PSNR check instead " +
      "of the last (or early-stopped) one",
    flag: "keep-best",
  }),
  saveEvery: z.int().min(1).optional().meta({
    description: "write the output every K steps (at the first check at or after each " +
      "multiple; at most 50 files however long the run) as {name}_step{step}.png",
    flag: "save-every",
    placeholder: "K",
  }),
});

/** Options of `dipFit`; everything but `task` defaults to the task's preset. */
export type DipFitOptions = z.input<typeof DipFitOptionsSchema>;

/** Every option, resolved against the preset. */
export interface ResolvedFit extends FitSettings {
  /** What is restored. */
  readonly task: TaskName;
  /** The preset the settings came from. */
  readonly preset: string;
  /** The task's own options (SR's factor, deblurring's sigma, a mask file, …). */
  readonly taskOptions: Readonly<Record<string, unknown>>;
  /** Output size ÷ observation size (the SR factor; 1 for the other tasks). */
  readonly factor: number;
  /** Gaussian blur σ in pixels (`deblur` only). */
  readonly sigma?: number;
  /** Seed of the first run. */
  readonly seed: number;
  /** Fits averaged. */
  readonly runs: number;
  /** Fits trained at once (a hint); undefined = as many as memory allows. */
  readonly batch?: number;
  /** Engine asked for by the recipe (a hint). */
  readonly engine: FitEngine;
  /** CPU engine threads (a hint). */
  readonly threads?: number;
  /** Steps between readbacks (k). */
  readonly checkEvery: number;
  /** A preview of the output every this many checks (0 = none). */
  readonly previewEvery: number;
  /**
   * Early stopping, when on: the rule, its patience (steps after the minimum), the window in
   * steps of the variance rules (`wmv` on the device, `wmv-ema` on the host) and the share of
   * pixels held out of the loss (rule `holdout`; the stopping benchmark also sets it beside
   * `wmv` to record both in one run).
   */
  readonly earlyStop?: {
    readonly rule: StopRule;
    readonly patience: number;
    readonly window?: number;
    readonly holdout?: number;
  };
  /** Return the output at the best-PSNR check (with a clean reference). */
  readonly keepBest: boolean;
  /** Write the output every this many steps (rounded up to a check). */
  readonly saveEvery?: number;
  /** Inpainting mask file (pattern). */
  readonly mask?: string;
  /** Flash image file (pattern). */
  readonly guide?: string;
  /** Where to write the fitted generator as ONNX (a pattern), if asked. */
  readonly saveNetwork?: string;
}

function refuse(message: string): never {
  throw new RecipeError(`dipFit(): ${message}`);
}

/**
 * Validates options and resolves them against the task's preset.
 *
 * @throws {RecipeError} on an unknown option, a value out of range, an option of another task,
 * or a preset that does not belong to the task
 */
export function resolveFitOptions(options: DipFitOptions): ResolvedFit {
  const o = parseOptions(DipFitOptionsSchema, options, "dipFit()");
  const task: TaskSpec = TASKS[o.task];
  const given = o as Record<string, unknown>;
  const taskOptions: Record<string, unknown> = {};
  for (const key of Object.keys(TASK_OPTIONS)) {
    if (given[key] === undefined) continue;
    if (!(key in task.options)) {
      const owners = TASK_NAMES.filter((name) => key in TASKS[name].options);
      refuse(
        `${key} applies to task ${owners.map((n) => `"${n}"`).join(", ")} only, not "${o.task}"`,
      );
    }
    taskOptions[key] = given[key];
  }
  for (const key of task.required ?? []) {
    if (taskOptions[key] === undefined) {
      refuse(`task "${o.task}" needs ${key} but received none`);
    }
  }
  const presetName = o.preset ?? defaultPreset(o.task, taskOptions);
  const preset = PRESETS[presetName];
  if (!preset || !task.presets.includes(presetName)) {
    refuse(
      `Expected a preset of task "${o.task}" (${
        task.presets.join(", ")
      }) for preset but received ` +
        `"${o.preset}" of type string`,
    );
  }
  const arch = o.arch ?? preset.arch;
  const keys = ARCHITECTURES[arch].keys;
  for (const key of Object.keys(o.net ?? {})) {
    if (!keys.includes(key)) {
      refuse(`Unknown net option "${key}" for arch "${arch}" (expected one of ${keys.join(", ")})`);
    }
  }
  if (arch === "onnx" && o.network === undefined && o.net?.file === undefined) {
    refuse(`arch "onnx" needs network (the ONNX file) but received none`);
  }
  if (arch !== "onnx" && (o.network !== undefined || o.keepWeights !== undefined)) {
    refuse(`${o.network !== undefined ? "network" : "keepWeights"} applies to arch "onnx" only`);
  }
  const net = arch === "onnx"
    ? {
      ...o.net,
      ...(o.network !== undefined ? { file: o.network } : {}),
      ...(o.keepWeights !== undefined ? { keepWeights: o.keepWeights } : {}),
    }
    : mergeNetworkOptions(arch, preset.net, o.net ?? {});
  const input = o.input ?? preset.input;
  const takesGuide = (task.images ?? []).some((image) => image.role === "guide");
  if (input === "image" && !takesGuide) {
    refuse(`input "image" needs a task with a guide image (flash), not task "${o.task}"`);
  }
  // Without earlyStop and iterations the preset's steps are a cap where the task stops by
  // default; an explicit step count is honoured as asked.
  const earlyStop = resolveEarlyStop(
    o.earlyStop ?? (o.iterations === undefined && stopsByDefault(o.task)),
    o.task,
  );
  const runs = o.runs ?? 1;
  return {
    task: o.task,
    preset: presetName,
    taskOptions,
    factor: task.scale?.(taskOptions) ?? 1,
    ...(taskOptions.sigma !== undefined ? { sigma: taskOptions.sigma as number } : {}),
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
    previewEvery: o.previewEvery ?? 0,
    earlyStop,
    keepBest: o.keepBest ?? false,
    ...(o.saveEvery !== undefined ? { saveEvery: o.saveEvery } : {}),
    mask: taskOptions.mask as string | undefined,
    guide: taskOptions.guide as string | undefined,
    ...(o.saveNetwork !== undefined ? { saveNetwork: o.saveNetwork } : {}),
  };
}

/** `earlyStop` resolved: `true` is the default rule, an object fills in the rule's defaults. */
function resolveEarlyStop(
  option: DipFitOptions["earlyStop"],
  task: TaskName,
): ResolvedFit["earlyStop"] {
  if (option === undefined || option === false) return undefined;
  const given = option === true ? {} : option;
  // { window, patience } without a rule is ES-WMV, the only rule before there were others.
  const rule = given.rule ?? (given.window !== undefined ? "wmv" : defaultStopRule(task));
  if (given.holdout !== undefined && rule !== "holdout") {
    refuse(`earlyStop.holdout applies to rule "holdout" only, not "${rule}"`);
  }
  if (given.window !== undefined && (rule === "holdout" || rule === "emv")) {
    refuse(`earlyStop.window applies to rules "wmv" and "wmv-ema" only, not "${rule}"`);
  }
  if (rule === "wmv") {
    return {
      rule,
      window: given.window ?? ES_WMV_WINDOW,
      patience: given.patience ?? ES_WMV_PATIENCE,
    };
  }
  return {
    rule,
    patience: given.patience ?? HOLDOUT_PATIENCE,
    ...(rule === "wmv-ema" ? { window: given.window ?? ES_WMV_WINDOW } : {}),
    ...(rule === "holdout" ? { holdout: given.holdout ?? HOLDOUT_FRACTION } : {}),
  };
}
