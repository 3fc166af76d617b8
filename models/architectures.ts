/**
 * The generator families by name, each with its builder and the option keys it takes, and the
 * reference notebooks' networks as named option sets. dip/'s presets and models/mod.ts's
 * `denoisingNet()`-style builders both read these records, so a notebook's network is written
 * down once.
 *
 * @module
 */
import { deepDecoder } from "./deep_decoder.ts";
import type { Network } from "./graph.ts";
import { resnet } from "./resnet.ts";
import { hourglass, skip } from "./skip.ts";
import { ONNX_ARCHITECTURE } from "./onnx_architecture.ts";

/** The generator families dipFit can train. */
export type ArchName = "skip" | "hourglass" | "resnet" | "deep-decoder" | "onnx";

/** A family: its builder and the options it takes (channel counts are set by the caller). */
export interface Architecture {
  /** Builds the network for `inputChannels` → `outputChannels` from its options. */
  build(
    options: Readonly<Record<string, unknown>>,
    inputChannels: number,
    outputChannels: number,
  ): Network;
  /** Option keys of the builder (anything else is refused). */
  readonly keys: readonly string[];
  /** Options that hold one value per level (fitted when the number of levels changes). */
  readonly perLevel: readonly string[];
  /**
   * Weights to start from instead of the engine's initialisation (`paramTensors` order), when
   * the options ask for them (an imported ONNX generator's `keepWeights`).
   */
  weights?(options: Readonly<Record<string, unknown>>): Float32Array | undefined;
}

const SKIP_LEVEL_KEYS = [
  "channelsDown",
  "channelsUp",
  "channelsSkip",
  "filterSizeDown",
  "filterSizeUp",
  "upsampleMode",
  "downsampleMode",
];

/** Every family, by name. */
export const ARCHITECTURES: Readonly<Record<ArchName, Architecture>> = {
  skip: {
    build: (o, inputChannels, outputChannels) => skip({ ...o, inputChannels, outputChannels }),
    keys: [
      ...SKIP_LEVEL_KEYS,
      "filterSkipSize",
      "needSigmoid",
      "needBias",
      "pad",
      "act",
      "need1x1Up",
    ],
    perLevel: SKIP_LEVEL_KEYS,
  },
  hourglass: {
    build: (o, inputChannels, outputChannels) => hourglass({ ...o, inputChannels, outputChannels }),
    keys: [
      ...SKIP_LEVEL_KEYS.filter((k) => k !== "channelsSkip"),
      "needSigmoid",
      "needBias",
      "pad",
      "act",
      "need1x1Up",
    ],
    perLevel: SKIP_LEVEL_KEYS.filter((k) => k !== "channelsSkip"),
  },
  resnet: {
    build: (o, inputChannels, outputChannels) => resnet({ ...o, inputChannels, outputChannels }),
    keys: ["blocks", "channels", "act", "needSigmoid", "pad"],
    perLevel: [],
  },
  "deep-decoder": {
    // The deep decoder's z has its own channel count (k) and a small spatial size.
    build: (o, _inputChannels, outputChannels) => deepDecoder({ ...o, outputChannels }),
    keys: ["channels", "upsamplings", "needSigmoid"],
    perLevel: [],
  },
  // A generator designed elsewhere, read from an ONNX file (models/onnx_import.ts).
  onnx: ONNX_ARCHITECTURE,
};

/** A network as data: a family plus its options. */
export interface NetworkSpec {
  /** The family. */
  readonly arch: ArchName;
  /** The builder's options (without channel counts). */
  readonly options: Readonly<Record<string, unknown>>;
}

const five = <T>(v: T): T[] => [v, v, v, v, v];

/** What every notebook's encoder-decoder shares: 3×3 filters and reflection padding. */
const SHARED = { filterSizeDown: 3, filterSizeUp: 3, pad: "reflection" } as const;

/** The widths of the standard network: [128]×5 down and up. */
const WIDE = { channelsDown: five(128), channelsUp: five(128) };

/** The reference notebooks' generators (REFERENCE.md §1a), by the notebook they come from. */
export const NOTEBOOK_NETWORKS = {
  /** Denoising F16 and super-resolution (`get_net('skip')`): [128]×5, skip 4, k 3, bilinear. */
  denoising: {
    arch: "skip",
    options: { ...WIDE, channelsSkip: five(4), ...SHARED, upsampleMode: "bilinear" },
  },
  /** Blind JPEG (snail): [8, 16, 32, 64, 128], skip [0, 0, 0, 4, 4]. */
  jpeg: {
    arch: "skip",
    options: {
      channelsDown: [8, 16, 32, 64, 128],
      channelsUp: [8, 16, 32, 64, 128],
      channelsSkip: [0, 0, 0, 4, 4],
      ...SHARED,
      upsampleMode: "bilinear",
    },
  },
  /** Inpainting kate (text mask): [128]×5, skip 128, nearest. */
  inpainting: {
    arch: "skip",
    options: { ...WIDE, channelsSkip: five(128), ...SHARED, upsampleMode: "nearest" },
  },
  /** Inpainting vase (large hole): hourglass [128]×5 without skips, nearest. */
  inpaintingVase: { arch: "hourglass", options: { ...WIDE, ...SHARED, upsampleMode: "nearest" } },
  /** Flash/no-flash: as denoising with upsampling [n, n, b, b, b]. */
  flash: {
    arch: "skip",
    options: {
      ...WIDE,
      channelsSkip: five(4),
      ...SHARED,
      upsampleMode: ["nearest", "nearest", "bilinear", "bilinear", "bilinear"],
    },
  },
} as const satisfies Record<string, NetworkSpec>;

/**
 * `overrides` merged over `base` for family `arch`: keys the family does not take are dropped
 * from `base` (a preset's skip options under `arch: "hourglass"`), and when `overrides` sets
 * another number of levels (`channelsDown`), the base's per-level lists it does not set are
 * fitted to it — the first (finest) levels are kept and the last entry repeats if there are
 * more levels.
 */
export function mergeNetworkOptions(
  arch: ArchName,
  baseOptions: object,
  overrideOptions: object = {},
): Record<string, unknown> {
  const base = baseOptions as Readonly<Record<string, unknown>>;
  const overrides = overrideOptions as Readonly<Record<string, unknown>>;
  const { keys, perLevel } = ARCHITECTURES[arch];
  const merged: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(base)) if (keys.includes(key)) merged[key] = value;
  Object.assign(merged, overrides);
  const levels = Array.isArray(overrides.channelsDown) ? overrides.channelsDown.length : undefined;
  if (levels === undefined) return merged;
  for (const key of perLevel) {
    const value = merged[key];
    if (key in overrides || !Array.isArray(value) || value.length === levels) continue;
    merged[key] = Array.from({ length: levels }, (_, i) => value[Math.min(i, value.length - 1)]);
  }
  return merged;
}

/** Builds a {@link NetworkSpec} for `inputChannels` → `outputChannels`. */
export function buildNetwork(
  spec: NetworkSpec,
  inputChannels: number,
  outputChannels: number,
): Network {
  return ARCHITECTURES[spec.arch].build(spec.options, inputChannels, outputChannels);
}
