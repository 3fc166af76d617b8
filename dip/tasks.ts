/**
 * Tasks and presets of dipFit, as data. A task is one record: its data term (the operator A in
 * ‖A(f_θ(z)) − x0‖²), the extra options it takes (with their schemas), the images it reads
 * besides the observation, its presets, its output scale, an optional variance-stabilising
 * transform of the observation, and its CLI shortcut. dipFit has no task-specific branches:
 * adding a task is one record here, its operator in dip/operators.ts, and tests.
 *
 * Presets are the reference notebooks' settings (DmitryUlyanov/deep-image-prior, REFERENCE.md
 * §1c), with their networks from models/architectures.ts:
 *
 * | preset | notebook | net | input | reg | lr | iters | EMA | backtracking |
 * |---|---|---|---|---|---|---|---|---|
 * | `denoise` | denoising F16 | skip 32→C, [128]×5, ns [4]×5, bilinear | noise 32 | 1/30 | 0.01 | 3000 | 0.99 | yes |
 * | `jpeg` | denoising snail | skip 3→C, [8,16,32,64,128], ns [0,0,0,4,4] | noise 3 | 1/30 | 0.01 | 2400 | 0.99 | yes |
 * | `sr2` | (not in the reference: the ×4 settings) | as denoise | noise 32 | 0.03 | 0.01 | 2000 | – | – |
 * | `sr4` | super-resolution ×4 | as denoise | noise 32 | 0.03 | 0.01 | 2000 | – | – |
 * | `sr8` | super-resolution ×8 | as denoise | noise 32 | 0.05 | 0.01 | 4000 | – | – |
 * | `inpaint` | inpainting kate | skip, ns [128]×5, nearest | noise 32 | 0.03 | 0.01 | 6001 | – | – |
 * | `inpaint-bernoulli` | restoration barbara (50% pixels) | as denoise | noise 32 | 0.03 | 0.001 | 11000 | – | yes |
 * | `inpaint-vase` | inpainting vase | hourglass (ns 0), nearest | meshgrid 2 | 0.03 | 0.01 | 5001 | – | – |
 * | `flash` | flash/no-flash | skip 3→C, ns [4]×5, up [n,n,b,b,b] | the flash image | 0 | 0.1 | 601 | – | – |
 * | `deblur` | (not in the reference: dipline's choice, from the SR ×4 and denoising notebooks) | as denoise | noise 32 | 0.03 | 0.01 | 3000 | 0.99 | – |
 * | `poisson` | (not in the reference: the denoising notebook on the Anscombe transform) | as denoise | noise 32 | 1/30 | 0.01 | 3000 | 0.99 | yes |
 *
 * @module
 */
import type { Image } from "../core/image.ts";
import { z } from "../core/schema.ts";
import {
  ARCHITECTURES,
  type ArchName,
  type NetworkSpec,
  NOTEBOOK_NETWORKS,
} from "../models/architectures.ts";
import { anscombe, inverseAnscombe } from "./anscombe.ts";
import { gaussianBlur, identity, lanczosDown, mask, type Operator } from "./operators.ts";

export type { ArchName } from "../models/architectures.ts";

/** What the network's input z is. */
export type InputKind = "noise" | "meshgrid" | "image";

/** Architecture options passed to the builder (channel counts are set by dipFit). */
export type NetOptions = Readonly<Record<string, unknown>>;

/** Every setting of a preset (a fully specified fit). */
export interface FitSettings {
  /** Generator family. */
  readonly arch: ArchName;
  /** Options of the architecture's builder, e.g. `{ channelsDown: [128, 128, 128, 128, 128] }`. */
  readonly net: NetOptions;
  /** What z is. */
  readonly input: InputKind;
  /** Channels of z (noise); meshgrid is always 2, an image input its channel count. */
  readonly inputDepth: number;
  /** Std of the fresh Gaussian noise added to z at every step (reference `reg_noise_std`). */
  readonly regNoise: number;
  /** Adam learning rate. */
  readonly lr: number;
  /** Adam steps. */
  readonly iterations: number;
  /** EMA decay of the output (0 = off; the result is then the last output). */
  readonly ema: number;
  /** Restore the last snapshot when the PSNR against the observation drops > 5 dB. */
  readonly backtracking: boolean;
}

/**
 * An image a task reads besides the observation: from a slot of the frame, or from a file
 * named by one of its options (a `{name}` pattern), e.g. inpainting's mask.
 */
export interface TaskImage {
  /** The role in the fit (what {@link FitProblem} field it fills). */
  readonly role: "mask" | "guide";
  /** The frame slot it is read from when the option is not given. */
  readonly slot: string;
  /** The option that names a file instead (a `{name}` pattern). */
  readonly option: string;
}

/**
 * A transform of the observation into a domain where the data term is a plain squared error
 * (e.g. Anscombe's for shot noise); the fit runs there and the output is mapped back.
 */
export interface ObservationTransform {
  /** Observation → fitting domain (values in [0, 1]). */
  forward(image: Image, options: Readonly<Record<string, unknown>>): Image;
  /** Fitting domain → image (values in [0, 1]). */
  inverse(image: Image, options: Readonly<Record<string, unknown>>): Image;
}

/** The `dipline <command>` shortcut of a task. */
export interface TaskShortcut {
  /** The subcommand, e.g. `"sr"`. */
  readonly command: string;
  /** One line for `dipline --help`. */
  readonly summary: string;
  /** A paragraph for `dipline <command> --help`. */
  readonly description: string;
  /** Positional arguments, e.g. `["in"]`, or `["flash", "noflash"]` (the guide, then the input). */
  readonly positionals: readonly string[];
}

/** One task of dipFit. */
export interface TaskSpec {
  /** One line for docs and `--help`. */
  readonly summary: string;
  /** Options only this task takes (e.g. SR's factor), with their schemas. */
  readonly options: Readonly<Record<string, z.ZodType>>;
  /** Of those, the ones a recipe must give. */
  readonly required?: readonly string[];
  /** The data term, given the task's options. */
  operator(options: Readonly<Record<string, unknown>>): Operator;
  /** Output size ÷ observation size (SR's factor); default 1. */
  scale?(options: Readonly<Record<string, unknown>>): number;
  /** Images it reads besides the observation. */
  readonly images?: readonly TaskImage[];
  /** The presets that make sense for it; the first is the default unless {@link defaultPreset}. */
  readonly presets: readonly string[];
  /** The default preset given the task's options (SR: by factor). */
  defaultPreset?(options: Readonly<Record<string, unknown>>): string;
  /** A variance-stabilising transform of the observation, if the data term needs one. */
  readonly transform?: ObservationTransform;
  /** Its CLI shortcut, if it has one. */
  readonly shortcut?: TaskShortcut;
}

const MASK: TaskImage = { role: "mask", slot: "mask", option: "mask" };
const GUIDE: TaskImage = { role: "guide", slot: "guide", option: "guide" };

/** A `{name}` file pattern option. */
const filePattern = (description: string, placeholder: string) =>
  z.string().min(1).optional().meta({ description, placeholder });

/** Every option a task may take, with its schema; each task record picks its own. */
export const TASK_OPTIONS = {
  factor: z.union([z.literal(2), z.literal(4), z.literal(8)]).optional().meta({
    description: "SR factor: 2, 4 or 8 (default 4)",
    placeholder: "F",
  }),
  mask: filePattern(
    'mask file (white known, black missing) instead of the "mask" slot; {name} = the input\'s name',
    "FILE",
  ),
  guide: filePattern(
    'the flash image file instead of the "guide" slot; {name} = the input\'s name',
    "FILE",
  ),
  sigma: z.number().positive().finite().optional().meta({
    description: "σ in pixels of the Gaussian blur the observation went through",
    placeholder: "SIGMA",
  }),
  peak: z.number().positive().finite().optional().meta({
    description: "photons at full white of the noisy image (y = Poisson(peak·x)/peak)",
    placeholder: "PEAK",
  }),
};

/** Every task, by name. */
export const TASKS = {
  denoise: {
    summary: "Gaussian noise removal (identity data term)",
    options: {},
    operator: () => identity(),
    presets: ["denoise", "jpeg"],
    shortcut: {
      command: "denoise",
      summary: "Restore a noisy (or JPEG-damaged) image with Deep Image Prior",
      description:
        "Fits a randomly initialised skip network to <in> and writes its output (EMA, backtracking:\n" +
        "the reference denoising notebook, 3000 steps). --preset jpeg uses the smaller blind JPEG net.",
      positionals: ["in"],
    },
  },
  jpeg: {
    summary: "blind JPEG-artifact removal (identity data term, the small snail network)",
    options: {},
    operator: () => identity(),
    presets: ["jpeg", "denoise"],
  },
  sr: {
    summary:
      "super-resolution: the output, Lanczos2-downsampled by factor, matches the observation",
    options: { factor: TASK_OPTIONS.factor },
    operator: (o) => lanczosDown((o.factor as 2 | 4 | 8 | undefined) ?? 4),
    scale: (o) => (o.factor as number | undefined) ?? 4,
    presets: ["sr2", "sr4", "sr8"],
    defaultPreset: (o) => `sr${(o.factor as number | undefined) ?? 4}`,
    shortcut: {
      command: "sr",
      summary: "Super-resolve an image ×2, ×4 or ×8 with Deep Image Prior",
      description:
        "Fits a skip network whose output, downsampled by the reference Lanczos2 kernel, matches the\n" +
        "low-resolution <in>; writes the output, F times larger (default F = 4: 2000 steps, input\n" +
        "noise 0.03; F = 8: 4000 steps, 0.05).",
      positionals: ["in"],
    },
  },
  inpaint: {
    summary: "inpainting: only the known pixels (mask 1) count in the loss",
    options: { mask: TASK_OPTIONS.mask },
    operator: () => mask(),
    images: [MASK],
    presets: ["inpaint", "inpaint-bernoulli", "inpaint-vase"],
    shortcut: {
      command: "inpaint",
      summary: "Fill the missing pixels of an image with Deep Image Prior",
      description:
        "Fits a skip network to the known pixels of <in> (white in --mask) and writes its output,\n" +
        "which fills the holes (the reference inpainting notebook, 6001 steps; --preset\n" +
        "inpaint-bernoulli for scattered missing pixels, inpaint-vase for one large hole).",
      positionals: ["in"],
    },
  },
  flash: {
    summary: "flash/no-flash: the flash image is z, the noisy no-flash image the target",
    options: { guide: TASK_OPTIONS.guide },
    operator: () => identity(),
    images: [GUIDE],
    presets: ["flash"],
    shortcut: {
      command: "restore-flash",
      summary: "Restore a no-flash photo with its flash twin as the network input",
      description:
        "Fits a skip network that maps <flash> to <noflash> (the reference flash/no-flash notebook:\n" +
        "lr 0.1, 601 steps, no input noise) and writes its output. A run can get stuck on a\n" +
        "reddish image: try another --seed.",
      positionals: ["flash", "noflash"],
    },
  },
  deblur: {
    summary:
      "deblurring: the output, blurred by a Gaussian of sigma pixels, matches the observation",
    options: { sigma: TASK_OPTIONS.sigma },
    required: ["sigma"],
    operator: (o) => gaussianBlur(o.sigma as number),
    presets: ["deblur", "sr4", "denoise"],
    shortcut: {
      command: "deblur",
      summary: "Remove a known Gaussian blur with Deep Image Prior",
      description:
        "Fits a skip network whose output, blurred by a Gaussian of --sigma pixels, matches <in>\n" +
        "(dipline's deblur preset: the SR ×4 notebook's settings plus EMA 0.99, 3000 steps).",
      positionals: ["in"],
    },
  },
  poisson: {
    summary: "shot-noise (Poisson) denoising on the Anscombe transform of the photon counts",
    options: { peak: TASK_OPTIONS.peak },
    required: ["peak"],
    operator: () => identity(),
    transform: {
      forward: (image, o) => anscombe(image, o.peak as number),
      inverse: (image, o) => inverseAnscombe(image, o.peak as number),
    },
    presets: ["poisson", "denoise"],
    shortcut: {
      command: "denoise-poisson",
      summary: "Remove shot noise (low light) with Deep Image Prior",
      description:
        "Maps <in> to the Anscombe domain of its photon counts (--peak photons at white), where\n" +
        "shot noise is nearly Gaussian with unit variance, fits the denoising network there and\n" +
        "maps the output back with the exact unbiased inverse (Mäkitalo & Foi 2011).",
      positionals: ["in"],
    },
  },
} as const satisfies Record<string, TaskSpec>;

/** What dipFit restores. */
export type TaskName = keyof typeof TASKS;

/** The task names, in the registry's order. */
export const TASK_NAMES = Object.keys(TASKS) as [TaskName, ...TaskName[]];

/** The record of a task. */
export function taskSpec(name: TaskName): TaskSpec {
  return TASKS[name];
}

/** The network of a preset, from models/'s notebook networks. */
function net(spec: NetworkSpec): Pick<FitSettings, "arch" | "net"> {
  return { arch: spec.arch, net: spec.options };
}

/** The settings the SR notebooks share (input noise differs by factor). */
const srSettings = (regNoise: number, iterations: number): FitSettings => ({
  ...net(NOTEBOOK_NETWORKS.denoising),
  input: "noise",
  inputDepth: 32,
  regNoise,
  lr: 0.01,
  iterations,
  ema: 0,
  backtracking: false,
});

/** The presets, by name (REFERENCE.md §1c). */
export const PRESETS: Readonly<Record<string, FitSettings>> = {
  // reference denoising notebook (F16, σ=25)
  denoise: {
    ...net(NOTEBOOK_NETWORKS.denoising),
    input: "noise",
    inputDepth: 32,
    regNoise: 1 / 30, // reg_noise_std = 1/30 (the notebook suggests 1/20 for σ=50)
    lr: 0.01,
    iterations: 3000,
    ema: 0.99, // exp_weight = 0.99
    backtracking: true,
  },
  // reference denoising notebook, blind JPEG case (snail)
  jpeg: {
    ...net(NOTEBOOK_NETWORKS.jpeg),
    input: "noise",
    inputDepth: 3,
    regNoise: 1 / 30,
    lr: 0.01,
    iterations: 2400,
    ema: 0.99,
    backtracking: true,
  },
  // not in the reference (it has ×4 and ×8 only): the ×4 settings
  sr2: srSettings(0.03, 2000),
  // reference super-resolution notebook, factor 4
  sr4: srSettings(0.03, 2000),
  // reference super-resolution notebook, factor 8
  sr8: srSettings(0.05, 4000),
  // reference inpainting notebook, kate (text mask)
  inpaint: {
    ...net(NOTEBOOK_NETWORKS.inpainting),
    input: "noise",
    inputDepth: 32,
    regNoise: 0.03,
    lr: 0.01,
    iterations: 6001,
    ema: 0,
    backtracking: false,
  },
  // reference restoration notebook, barbara (Bernoulli: 50% of the pixels kept)
  "inpaint-bernoulli": {
    ...net(NOTEBOOK_NETWORKS.denoising),
    input: "noise",
    inputDepth: 32,
    regNoise: 0.03,
    lr: 0.001,
    iterations: 11000,
    ema: 0,
    backtracking: true, // the notebook checks every 50 steps
  },
  // reference inpainting notebook, vase (large hole; meshgrid input, no skips)
  "inpaint-vase": {
    ...net(NOTEBOOK_NETWORKS.inpaintingVase),
    input: "meshgrid",
    inputDepth: 2,
    regNoise: 0.03,
    lr: 0.01,
    iterations: 5001,
    ema: 0,
    backtracking: false,
  },
  // reference flash/no-flash notebook: the flash image is z, the no-flash image the target
  flash: {
    ...net(NOTEBOOK_NETWORKS.flash),
    input: "image",
    inputDepth: 3,
    regNoise: 0,
    lr: 0.1,
    iterations: 601,
    ema: 0,
    backtracking: false,
  },
  // Not in the reference (it has no deblurring notebook, REFERENCE.md §4 row 10): dipline's
  // choice, from its closest notebook, super-resolution ×4 — also a linear low-pass data term
  // under which the network must invent the lost detail: the denoising/SR skip net, input
  // noise 0.03, lr 0.01, no backtracking; 3000 steps as denoising (the observation constrains
  // every pixel) and the denoising notebook's EMA 0.99, because a blurred photo is noisy too.
  // Checked on a 128² F16 crop (σ 1.5 px, noise 5/255, 32 channels, cpu engine): 24.58 dB
  // observed → 27.41 dB without EMA, 28.08 dB with it after 3000 steps (still rising at 3000);
  // kodim03 likewise: 28.38 → 29.20 / 29.83 dB at 1000 steps, 31.01 dB with EMA at 3000.
  deblur: { ...srSettings(0.03, 3000), ema: 0.99 },
  // Not in the reference: shot noise becomes nearly Gaussian with unit variance under the
  // Anscombe transform (dip/anscombe.ts), where the denoising notebook's settings apply.
  poisson: {
    ...net(NOTEBOOK_NETWORKS.denoising),
    input: "noise",
    inputDepth: 32,
    regNoise: 1 / 30,
    lr: 0.01,
    iterations: 3000,
    ema: 0.99,
    backtracking: true,
  },
};

/** The preset a task uses unless told otherwise. */
export function defaultPreset(task: TaskName, options: Readonly<Record<string, unknown>>): string {
  const spec: TaskSpec = TASKS[task];
  return spec.defaultPreset?.(options) ?? spec.presets[0]!;
}

/** The `net` options that set every level's width to `channels`. */
export function channelsOverride(
  arch: ArchName,
  net: Readonly<Record<string, unknown>>,
  channels: number,
): Record<string, unknown> {
  if (arch === "resnet" || arch === "deep-decoder") return { channels };
  const levels = Array.isArray(net.channelsDown) ? net.channelsDown.length : 5;
  const widths = new Array<number>(levels).fill(channels);
  const out: Record<string, unknown> = { channelsDown: widths, channelsUp: widths };
  // Skip widths above the new width (e.g. inpainting's 128) shrink with it.
  if (arch === "skip" && Array.isArray(net.channelsSkip)) {
    out.channelsSkip = (net.channelsSkip as number[]).map((s) => Math.min(s, channels));
  }
  return out;
}

/** Option keys of each architecture's builder (anything else in `net` is refused). */
export const NET_KEYS: Readonly<Record<ArchName, readonly string[]>> = Object.fromEntries(
  Object.entries(ARCHITECTURES).map(([name, arch]) => [name, arch.keys]),
) as Record<ArchName, readonly string[]>;
