/**
 * Tasks and presets of dipFit: each preset is the reference notebook's settings
 * (DmitryUlyanov/deep-image-prior, REFERENCE.md §1c), and a user overrides any field.
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
 *
 * @module
 */
import type { DeepDecoderOptions } from "../models/deep_decoder.ts";
import type { ResNetOptions } from "../models/resnet.ts";
import type { SkipOptions } from "../models/skip.ts";

/** What dipFit restores. */
export type TaskName = "denoise" | "sr" | "inpaint" | "jpeg" | "flash" | "deblur";

/** The generator families dipFit can train. */
export type ArchName = "skip" | "hourglass" | "resnet" | "deep-decoder";

/** What the network's input z is. */
export type InputKind = "noise" | "meshgrid" | "image";

/** Architecture options passed to the builder (channels are set by dipFit). */
export type NetOptions =
  & Omit<SkipOptions, "inputChannels" | "outputChannels">
  & Omit<ResNetOptions, "inputChannels" | "outputChannels">
  & Omit<DeepDecoderOptions, "outputChannels">;

/** Every option of a preset (a fully specified fit). */
export interface FitSettings {
  /** Generator family. */
  readonly arch: ArchName;
  /** Options of the architecture's builder, e.g. `{ channelsDown: [128, 128, 128, 128, 128] }`. */
  readonly net: Readonly<NetOptions>;
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

/** Allowed keys of each architecture's `net` options (anything else is refused). */
export const NET_KEYS: Readonly<Record<ArchName, readonly string[]>> = {
  skip: [
    "channelsDown",
    "channelsUp",
    "channelsSkip",
    "filterSizeDown",
    "filterSizeUp",
    "filterSkipSize",
    "needSigmoid",
    "needBias",
    "pad",
    "upsampleMode",
    "downsampleMode",
    "act",
    "need1x1Up",
  ],
  hourglass: [
    "channelsDown",
    "channelsUp",
    "filterSizeDown",
    "filterSizeUp",
    "needSigmoid",
    "needBias",
    "pad",
    "upsampleMode",
    "downsampleMode",
    "act",
    "need1x1Up",
  ],
  resnet: ["blocks", "channels", "act", "needSigmoid", "pad"],
  "deep-decoder": ["channels", "upsamplings", "needSigmoid"],
};

const five = (n: number): number[] => [n, n, n, n, n];

/** The denoising/SR network of `get_net('skip')`: [128]×5, skip 4, k 3, bilinear, reflection. */
const standardSkip: NetOptions = {
  channelsDown: five(128),
  channelsUp: five(128),
  channelsSkip: five(4),
  filterSizeDown: 3,
  filterSizeUp: 3,
  upsampleMode: "bilinear",
  pad: "reflection",
};

/** The presets, by name (REFERENCE.md §1c). */
export const PRESETS: Readonly<Record<string, FitSettings>> = {
  // reference denoising notebook (F16, σ=25)
  denoise: {
    arch: "skip",
    net: standardSkip,
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
    arch: "skip",
    net: {
      channelsDown: [8, 16, 32, 64, 128],
      channelsUp: [8, 16, 32, 64, 128],
      channelsSkip: [0, 0, 0, 4, 4],
      filterSizeDown: 3,
      filterSizeUp: 3,
      upsampleMode: "bilinear",
      pad: "reflection",
    },
    input: "noise",
    inputDepth: 3,
    regNoise: 1 / 30,
    lr: 0.01,
    iterations: 2400,
    ema: 0.99,
    backtracking: true,
  },
  // not in the reference (it has ×4 and ×8 only): the ×4 settings
  sr2: {
    arch: "skip",
    net: standardSkip,
    input: "noise",
    inputDepth: 32,
    regNoise: 0.03,
    lr: 0.01,
    iterations: 2000,
    ema: 0,
    backtracking: false,
  },
  // reference super-resolution notebook, factor 4
  sr4: {
    arch: "skip",
    net: standardSkip,
    input: "noise",
    inputDepth: 32,
    regNoise: 0.03,
    lr: 0.01,
    iterations: 2000,
    ema: 0,
    backtracking: false,
  },
  // reference super-resolution notebook, factor 8
  sr8: {
    arch: "skip",
    net: standardSkip,
    input: "noise",
    inputDepth: 32,
    regNoise: 0.05,
    lr: 0.01,
    iterations: 4000,
    ema: 0,
    backtracking: false,
  },
  // reference inpainting notebook, kate (text mask)
  inpaint: {
    arch: "skip",
    net: { ...standardSkip, channelsSkip: five(128), upsampleMode: "nearest" },
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
    arch: "skip",
    net: standardSkip,
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
    arch: "hourglass",
    net: {
      channelsDown: five(128),
      channelsUp: five(128),
      filterSizeDown: 3,
      filterSizeUp: 3,
      upsampleMode: "nearest",
      pad: "reflection",
    },
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
    arch: "skip",
    net: {
      ...standardSkip,
      upsampleMode: ["nearest", "nearest", "bilinear", "bilinear", "bilinear"],
    },
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
  deblur: {
    arch: "skip",
    net: standardSkip,
    input: "noise",
    inputDepth: 32,
    regNoise: 0.03,
    lr: 0.01,
    iterations: 3000,
    ema: 0.99,
    backtracking: false,
  },
};

/** The preset a task uses unless told otherwise. */
export function defaultPreset(task: TaskName, factor?: number): string {
  switch (task) {
    case "sr":
      return `sr${factor ?? 4}`;
    default:
      return task;
  }
}

/** The presets that make sense for a task (others are refused). */
export const TASK_PRESETS: Readonly<Record<TaskName, readonly string[]>> = {
  denoise: ["denoise", "jpeg"],
  jpeg: ["jpeg", "denoise"],
  sr: ["sr2", "sr4", "sr8"],
  inpaint: ["inpaint", "inpaint-bernoulli", "inpaint-vase"],
  flash: ["flash"],
  deblur: ["deblur", "sr4", "denoise"],
};

/** The `net` options that set every level's width to `channels`. */
export function channelsOverride(
  arch: ArchName,
  net: Record<string, unknown>,
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
