/**
 * Golden fingerprints of compiled plans: the standard presets' networks (and the other notebook
 * networks, every op and data term the compiler knows) compiled at two sizes, each plan hashed
 * with its step labels, gradient regions and listing. A refactor of engine/compile.ts must keep
 * every hash; a change that means to alter plans re-records them:
 *
 * ```sh
 * deno run -A tests/compile_golden_test.ts   # prints the table below from the current code
 * ```
 *
 * The network's own hash is checked first, so a change in models/ (not in the compiler) says so.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type CompileOptions,
  compilePlan,
  describePlan,
  downsampleTerm,
  gradientRegions,
  stepLabel,
} from "../engine/compile.ts";
import type { DataTerm, Plan } from "../engine/plan.ts";
import {
  deepDecoder,
  denoisingNet,
  featureInversionNet,
  flashNoFlashNet,
  inpaintingLibraryNet,
  inpaintingNet,
  inpaintingResNet,
  inpaintingVaseNet,
  jpegNet,
  type LayerNode,
  type Network,
  restorationBarbaraNet,
  restorationKateNet,
  skip,
  superResolutionNet,
} from "../models/mod.ts";

const mask: DataTerm = { kind: "mask" };
const identity: DataTerm = { kind: "identity" };
/** The deblur operator's shape: a factor-1 "downsample" by a blur's taps. */
const blur: DataTerm = { kind: "downsample", factor: 1, taps: [0.25, 0.5, 0.25], pad: 1 };
const compose = (...terms: DataTerm[]): DataTerm => ({ kind: "compose", terms });

type Settings = Omit<CompileOptions, "height" | "width" | "batch"> & { batch?: number };

/** dip/tasks.ts presets' compile settings (lr, input noise, EMA), by preset. */
const preset = {
  denoise: { lr: 0.01, regNoiseStd: 1 / 30, emaDecay: 0.99 },
  jpeg: { lr: 0.01, regNoiseStd: 1 / 30, emaDecay: 0.99 },
  sr: { lr: 0.01, regNoiseStd: 0.03, emaDecay: 0 },
  sr8: { lr: 0.01, regNoiseStd: 0.05, emaDecay: 0 },
  inpaint: { lr: 0.01, regNoiseStd: 0.03, emaDecay: 0 },
  bernoulli: { lr: 0.001, regNoiseStd: 0.03, emaDecay: 0 },
  flash: { lr: 0.1, regNoiseStd: 0, emaDecay: 0 },
  deblur: { lr: 0.01, regNoiseStd: 0.03, emaDecay: 0.99 },
} as const;

interface Case {
  readonly name: string;
  readonly network: () => Network;
  readonly settings: Settings;
  /** [height, width] pairs. */
  readonly sizes: readonly (readonly [number, number])[];
}

const two = [[64, 64], [96, 128]] as const;

const network = (name: string, nodes: LayerNode[], sizeMultiple: number): Network => ({
  name,
  nodes,
  output: nodes.at(-1)?.id ?? "missing",
  inputChannels: 2,
  outputChannels: 3,
  sizeMultiple,
});

/**
 * Concats that the notebooks' nets never make: z itself and a tensor with several consumers
 * (both copied, not aliased), a concat nested in a concat (an alias of an alias), and an add.
 */
const sharedConcatInputs = () =>
  network("shared concat inputs", [
    { op: "input", id: "z", channels: 2, downscale: 1 },
    {
      op: "conv",
      id: "c1",
      input: "z",
      outChannels: 4,
      kernel: 3,
      stride: 1,
      pad: "reflection",
      bias: true,
    },
    { op: "act", id: "a", input: "c1", act: "relu" },
    { op: "pool", id: "p", input: "a", mode: "avg" },
    { op: "upsample", id: "u", input: "p", mode: "nearest" },
    { op: "concat", id: "cat", inputs: ["z", "a", "u"] },
    { op: "add", id: "s", inputs: ["a", "u"] },
    { op: "concat", id: "cat2", inputs: ["cat", "s"] },
    {
      op: "conv",
      id: "o",
      input: "cat2",
      outChannels: 3,
      kernel: 1,
      stride: 1,
      pad: "zero",
      bias: false,
    },
    { op: "act", id: "out", input: "o", act: "sigmoid" },
  ], 2);

/** A concat of unequal sizes: the larger input is centre-cropped (odd sizes). */
const croppedConcat = () =>
  network("cropped concat", [
    { op: "input", id: "z", channels: 2, downscale: 1 },
    {
      op: "conv",
      id: "c1",
      input: "z",
      outChannels: 4,
      kernel: 3,
      stride: 1,
      pad: "reflection",
      bias: true,
    },
    { op: "bn", id: "a", input: "c1", act: "leaky_relu" },
    {
      op: "conv",
      id: "d",
      input: "a",
      outChannels: 4,
      kernel: 3,
      stride: 2,
      pad: "reflection",
      bias: true,
    },
    { op: "upsample", id: "u", input: "d", mode: "bilinear" },
    { op: "concat", id: "cat", inputs: ["a", "u"] },
    {
      op: "conv",
      id: "out",
      input: "cat",
      outChannels: 3,
      kernel: 1,
      stride: 1,
      pad: "zero",
      bias: true,
    },
  ], 1);

/** Every case; each is compiled at each of its sizes. */
export const CASES: readonly Case[] = [
  {
    name: "denoise",
    network: denoisingNet,
    settings: { ...preset.denoise, dataTerm: identity },
    sizes: two,
  },
  {
    name: "denoise+es-wmv",
    network: denoisingNet,
    settings: {
      ...preset.denoise,
      emaDecay: 0,
      earlyStopWindow: 100,
      dataTerm: identity,
      batch: 2,
    },
    sizes: two,
  },
  { name: "jpeg", network: jpegNet, settings: { ...preset.jpeg, dataTerm: identity }, sizes: two },
  {
    name: "sr4",
    network: superResolutionNet,
    settings: { ...preset.sr, dataTerm: downsampleTerm(4) },
    sizes: two,
  },
  {
    name: "sr8",
    network: superResolutionNet,
    settings: { ...preset.sr8, dataTerm: downsampleTerm(8) },
    sizes: [[64, 64], [128, 96]],
  },
  {
    name: "sr2-padded",
    network: superResolutionNet,
    settings: { ...preset.sr, dataTerm: compose(downsampleTerm(2), mask) },
    sizes: two,
  },
  {
    name: "inpaint",
    network: inpaintingNet,
    settings: { ...preset.inpaint, dataTerm: mask },
    sizes: two,
  },
  {
    name: "inpaint-bernoulli",
    network: restorationBarbaraNet,
    settings: { ...preset.bernoulli, dataTerm: mask },
    sizes: two,
  },
  {
    name: "inpaint-vase",
    network: inpaintingVaseNet,
    settings: { ...preset.inpaint, dataTerm: mask },
    sizes: two,
  },
  {
    name: "flash",
    network: flashNoFlashNet,
    settings: { ...preset.flash, dataTerm: identity },
    sizes: two,
  },
  {
    name: "deblur",
    network: denoisingNet,
    settings: { ...preset.deblur, dataTerm: blur },
    sizes: two,
  },
  {
    name: "deblur-padded",
    network: denoisingNet,
    settings: { ...preset.deblur, dataTerm: compose(blur, mask), batch: 3 },
    sizes: two,
  },
  {
    name: "denoise-unshared-gradients",
    network: denoisingNet,
    settings: { ...preset.denoise, dataTerm: identity, shareGradients: false },
    sizes: [[64, 64]],
  },
  {
    name: "library-depth4",
    network: () => inpaintingLibraryNet(4),
    settings: { ...preset.inpaint, dataTerm: mask },
    sizes: [[48, 48], [64, 96]],
  },
  {
    name: "resnet",
    network: inpaintingResNet,
    settings: { ...preset.inpaint, dataTerm: mask },
    sizes: [[24, 24], [40, 48]],
  },
  {
    name: "deep-decoder",
    network: deepDecoder,
    settings: { ...preset.denoise, dataTerm: identity },
    sizes: [[64, 64], [128, 96]],
  },
  {
    name: "kate-avg-pool",
    network: restorationKateNet,
    settings: { ...preset.inpaint, dataTerm: mask },
    sizes: two,
  },
  {
    name: "feature-inversion-zero-pad",
    network: featureInversionNet,
    settings: { ...preset.inpaint, dataTerm: identity },
    sizes: [[128, 128], [128, 192]],
  },
  {
    name: "shared-concat-inputs",
    network: sharedConcatInputs,
    settings: { ...preset.denoise, dataTerm: identity, earlyStopWindow: 3 },
    sizes: [[10, 10], [12, 8]],
  },
  {
    name: "cropped-concat",
    network: croppedConcat,
    settings: { ...preset.inpaint, dataTerm: mask, batch: 2 },
    sizes: [[11, 13], [9, 9]],
  },
  {
    name: "skip-max-and-lanczos-down",
    network: () =>
      skip({
        inputChannels: 4,
        outputChannels: 3,
        channelsDown: [8, 8, 8],
        channelsSkip: [2, 0, 2],
        downsampleMode: ["max", "lanczos2", "lanczos3"],
        upsampleMode: ["nearest", "bilinear", "nearest"],
      }),
    settings: {
      ...preset.sr,
      dataTerm: downsampleTerm(2, "lanczos3"),
      beta1: 0.5,
      beta2: 0.99,
      eps: 1e-6,
    },
    sizes: [[32, 32], [48, 40]],
  },
];

const small = () => skip({ inputChannels: 2, channelsDown: [4, 4], channelsSkip: [1, 1] });
const basic: CompileOptions = { ...preset.sr, batch: 1, height: 8, width: 8, dataTerm: identity };
const input = { op: "input", id: "z", channels: 2, downscale: 1 } as const;
const conv = (id: string, from: string, stride: 1 | 2 = 1): LayerNode => ({
  op: "conv",
  id,
  input: from,
  outChannels: 3,
  kernel: 3,
  stride,
  pad: "zero",
  bias: true,
});

/** Every refusal of compilePlan, each with its message (kept verbatim by the refactor). */
export const ERROR_CASES: readonly [string, () => unknown][] = [
  ["batch", () => compilePlan(small(), { ...basic, batch: 0 })],
  ["height", () => compilePlan(small(), { ...basic, height: 2.5 })],
  ["width", () => compilePlan(small(), { ...basic, width: -4 })],
  ["lr", () => compilePlan(small(), { ...basic, lr: 0 })],
  ["regNoiseStd", () => compilePlan(small(), { ...basic, regNoiseStd: -1 })],
  ["emaDecay", () => compilePlan(small(), { ...basic, emaDecay: 1 })],
  ["earlyStopWindow", () => compilePlan(small(), { ...basic, earlyStopWindow: 0 })],
  [
    "two inputs",
    () => compilePlan(network("two", [input, { ...input, id: "z2" }, conv("o", "z")], 1), basic),
  ],
  ["no input", () => compilePlan(network("none", [], 1), basic)],
  ["downscale", () => compilePlan(deepDecoder(), { ...basic, height: 63, width: 64 })],
  ["reflection", () => compilePlan(small(), { ...basic, height: 2, width: 2 })],
  [
    "add sizes",
    () =>
      compilePlan(
        network("add", [input, conv("a", "z"), conv("b", "z", 2), {
          op: "add",
          id: "s",
          inputs: ["a", "b"],
        }], 1),
        basic,
      ),
  ],
  [
    "empty node",
    () =>
      compilePlan(network("tiny", [input, { op: "pool", id: "p", input: "z", mode: "max" }], 1), {
        ...basic,
        height: 1,
        width: 1,
      }),
  ],
  [
    "output size",
    () =>
      compilePlan(skip({ inputChannels: 2, channelsDown: [4, 4, 4], channelsSkip: [0, 0, 0] }), {
        ...basic,
        height: 20,
        width: 16,
      }),
  ],
  [
    "mask last",
    () => compilePlan(small(), { ...basic, dataTerm: compose(mask, downsampleTerm(2)) }),
  ],
  ["downsample pad", () => compilePlan(small(), { ...basic, dataTerm: { ...blur, pad: 2 } })],
  ["downsample size", () => compilePlan(small(), { ...basic, dataTerm: downsampleTerm(16) })],
  [
    "unreached",
    () => compilePlan(network("dead", [input, conv("dead", "z"), conv("o", "z")], 1), basic),
  ],
  [
    "bn on z",
    () =>
      compilePlan(network("bn", [input, { op: "bn", id: "o", input: "z", act: "none" }], 1), basic),
  ],
];

/** `name: ErrorClass: message` of every error case. */
export function errorLines(): string[] {
  return ERROR_CASES.map(([name, run]) => {
    try {
      run();
      return `${name}: no error`;
    } catch (error) {
      return `${name}: ${(error as Error).name}: ${(error as Error).message}`;
    }
  });
}

const hex = (bytes: ArrayBuffer) =>
  [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");

async function sha256(text: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Typed arrays (a Lanczos kernel's initial values) as plain arrays, so every float counts. */
const replacer = (_key: string, value: unknown) =>
  value instanceof Float32Array ? Array.from(value) : value;

/** Everything a compile produced: the plan, each step's label, the dact regions, the listing. */
function planText(plan: Plan): string {
  const steps = [...plan.forward, ...plan.loss, ...plan.backward, ...plan.update];
  return JSON.stringify(
    {
      plan,
      labels: steps.map((s) => stepLabel(s) ?? null),
      regions: gradientRegions(plan) ?? null,
      listing: describePlan(plan),
    },
    replacer,
  );
}

/** `name@HxW` → [network hash, plan hash] of the current code (16 hex digits each). */
export async function fingerprints(): Promise<Record<string, [string, string]>> {
  const out: Record<string, [string, string]> = {};
  for (const c of CASES) {
    const network = c.network();
    const net = (await sha256(JSON.stringify(network))).slice(0, 16);
    for (const [height, width] of c.sizes) {
      const plan = compilePlan(network, { batch: 1, ...c.settings, height, width });
      out[`${c.name}@${height}x${width}`] = [net, (await sha256(planText(plan))).slice(0, 16)];
    }
  }
  return out;
}

/** Recorded from the compiler before it was split into passes (issue 9 item 6). */
const GOLDEN: Record<string, [string, string]> = {
  "denoise@64x64": ["fe9fc43890deed62", "c25577c6fc4164d9"],
  "denoise@96x128": ["fe9fc43890deed62", "bc11d1eb52621481"],
  "denoise+es-wmv@64x64": ["fe9fc43890deed62", "5bc65d4c174b7a2f"],
  "denoise+es-wmv@96x128": ["fe9fc43890deed62", "6c236696e4d5aa8b"],
  "jpeg@64x64": ["066d474219a8fcc7", "5a77642959d1762f"],
  "jpeg@96x128": ["066d474219a8fcc7", "61f7f5bfb2c83e54"],
  "sr4@64x64": ["fe9fc43890deed62", "f910214d7ad5850e"],
  "sr4@96x128": ["fe9fc43890deed62", "aa6dce713049db6c"],
  "sr8@64x64": ["fe9fc43890deed62", "e495a2ac79091ab3"],
  "sr8@128x96": ["fe9fc43890deed62", "b041e3b5198dd489"],
  "sr2-padded@64x64": ["fe9fc43890deed62", "f8d031948fcc3dfd"],
  "sr2-padded@96x128": ["fe9fc43890deed62", "bc2b7db9439a7b67"],
  "inpaint@64x64": ["1b8150cb00da8940", "7ea0e868135b072f"],
  "inpaint@96x128": ["1b8150cb00da8940", "e8b48c1d7736a711"],
  "inpaint-bernoulli@64x64": ["7f84bcbf47bdd360", "a2b24f29c8a671cc"],
  "inpaint-bernoulli@96x128": ["7f84bcbf47bdd360", "3fea968141b80ce1"],
  "inpaint-vase@64x64": ["6b797159673a4e06", "fedea5e5eae52047"],
  "inpaint-vase@96x128": ["6b797159673a4e06", "c1d67d61506f0dfa"],
  "flash@64x64": ["ba21d5fbd106ceb6", "03ca5c388c16e890"],
  "flash@96x128": ["ba21d5fbd106ceb6", "1e4ccb31ea6d63c0"],
  "deblur@64x64": ["fe9fc43890deed62", "8078f0e5ec835331"],
  "deblur@96x128": ["fe9fc43890deed62", "297929827024ccc8"],
  "deblur-padded@64x64": ["fe9fc43890deed62", "f36a084b82e52da2"],
  "deblur-padded@96x128": ["fe9fc43890deed62", "9419525f0be9177d"],
  "denoise-unshared-gradients@64x64": ["fe9fc43890deed62", "71a2dd80ae0ab996"],
  "library-depth4@48x48": ["aa32056b75ac1cfc", "87d32996a11697e3"],
  "library-depth4@64x96": ["aa32056b75ac1cfc", "23705daf4311148d"],
  "resnet@24x24": ["2aa4261ba81709dc", "359b3a2123ead077"],
  "resnet@40x48": ["2aa4261ba81709dc", "33ab80d7ea599811"],
  "deep-decoder@64x64": ["3df599f1187d6c96", "72d2ec048d2e0b5a"],
  "deep-decoder@128x96": ["3df599f1187d6c96", "6ffe6a43f5e5b69e"],
  "kate-avg-pool@64x64": ["ecf963b0fe4f4a67", "538a8410a3edffe3"],
  "kate-avg-pool@96x128": ["ecf963b0fe4f4a67", "7c4880369342841f"],
  "feature-inversion-zero-pad@128x128": ["ab0b3a1c1e96a7a3", "6f57654a5c0c3e85"],
  "feature-inversion-zero-pad@128x192": ["ab0b3a1c1e96a7a3", "553d0449f3103fe5"],
  "shared-concat-inputs@10x10": ["e957b8de743ff7f8", "9e4893463d63e925"],
  "shared-concat-inputs@12x8": ["e957b8de743ff7f8", "c5cb937cb7a76bda"],
  "cropped-concat@11x13": ["ab4c9869cf461cb0", "7bd3821607b5ba02"],
  "cropped-concat@9x9": ["ab4c9869cf461cb0", "441ee53df7089887"],
  "skip-max-and-lanczos-down@32x32": ["32e8cb5921d946bd", "11227c7e0ba39880"],
  "skip-max-and-lanczos-down@48x40": ["32e8cb5921d946bd", "028f293244aa3081"],
};

Deno.test("compilePlan() output is byte-identical to the recorded plans of every preset", async () => {
  const actual = await fingerprints();
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(GOLDEN).sort(), "the cases changed");
  for (const [key, [net, plan]] of Object.entries(actual)) {
    const [goldenNet, goldenPlan] = GOLDEN[key]!;
    assert.equal(
      net,
      goldenNet,
      `${key}: the network changed (models/), not the compiler; re-record if that is intended`,
    );
    assert.equal(plan, goldenPlan, `${key}: the compiled plan differs from the recorded one`);
  }
});

/** Recorded from the compiler before it was split into passes. */
const GOLDEN_ERRORS: string[] = [
  "batch: RangeError: compilePlan: expected a positive integer for batch but received 0",
  "height: RangeError: compilePlan: expected a positive integer for height but received 2.5",
  "width: RangeError: compilePlan: expected a positive integer for width but received -4",
  "lr: RangeError: compilePlan: expected a positive lr but received 0",
  "regNoiseStd: RangeError: compilePlan: expected regNoiseStd ≥ 0 but received -1",
  "emaDecay: RangeError: compilePlan: expected emaDecay in [0, 1) but received 1",
  "earlyStopWindow: RangeError: compilePlan: expected a positive integer for earlyStopWindow but received 0",
  "two inputs: RangeError: compilePlan(two): expected one input node but found z and z2",
  "no input: RangeError: none: expected output to name a node but received missing",
  "downscale: RangeError: compilePlan(deepDecoder(k=64, 5 upsamplings → 3)): expected height and width divisible by the input downscale 32 but received 63×64",
  "reflection: RangeError: compilePlan(skip(2→3, nd=[4×2], nu=[4×2], ns=[1×2])): conv l0.down.conv2 needs reflection padding 1 but its input is 1×1; expected height and width > 1 (use a larger image or fewer levels)",
  "add sizes: RangeError: compilePlan(add): expected add s to sum equal sizes but received 8×8 and 4×4",
  "empty node: RangeError: compilePlan(tiny): node p would be 0×0; expected a larger image",
  "output size: RangeError: compilePlan(skip(2→3, nd=[4×3], nu=[4×3], ns=[0×3])): expected the output to be 20×16 but it is 24×16; use a size that is a multiple of 8",
  "mask last: RangeError: compilePlan(skip(2→3, nd=[4×2], nu=[4×2], ns=[1×2])): expected the mask last in a compose data term but received it at position 1 of 2",
  "downsample pad: RangeError: compilePlan(skip(2→3, nd=[4×2], nu=[4×2], ns=[1×2])): expected downsample pad (taps − factor)/2 = 1 but received 2",
  "downsample size: RangeError: compilePlan(skip(2→3, nd=[4×2], nu=[4×2], ns=[1×2])): expected an image of at least 16² to downsample ×16",
  "unreached: RangeError: compilePlan(dead): node dead does not reach the output o",
  "bn on z: RangeError: compilePlan(bn): expected BN o to follow a layer, not the input z",
];

Deno.test("compilePlan() refuses what it refused before, with the same messages", () => {
  assert.deepEqual(errorLines(), GOLDEN_ERRORS);
});

if (import.meta.main) {
  console.log(errorLines().map((line) => `  ${JSON.stringify(line)},`).join("\n"));
  const table = await fingerprints();
  console.log(
    Object.entries(table).map(([k, [n, p]]) => `  ${JSON.stringify(k)}: ["${n}", "${p}"],`).join(
      "\n",
    ),
  );
}
