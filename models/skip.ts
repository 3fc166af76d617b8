/**
 * The reference `skip()` encoder–decoder (Ulyanov et al., models/skip.py) and `hourglass()`
 * (the same net without skip connections), built as plain {@link Network} data.
 *
 * @module
 */
import type { Activation, LayerNode, Network, PadMode } from "./graph.ts";

/** How the stride-2 conv of each level downsamples (reference `downsample_mode`). */
export type DownsampleMode = "stride" | "avg" | "max" | "lanczos2" | "lanczos3";

/** ×2 upsampling of a level (reference `upsample_mode`). */
export type UpsampleMode = "nearest" | "bilinear";

/**
 * Options of {@link skip}. Defaults are those of the notebooks' `get_net('skip')` (input 32,
 * [128]×5, skip 4, k 3, bilinear, reflection), not the bare `skip()` signature's.
 */
export interface SkipOptions {
  /** Channels of z (reference `num_input_channels`). Default 32 (the notebooks' input depth). */
  inputChannels?: number;
  /** Channels of the image (reference `num_output_channels`). Default 3. */
  outputChannels?: number;
  /** nd: channels of each level's down path. Default [128]×5 (reference `get_net('skip')`). */
  channelsDown?: readonly number[];
  /** nu: channels of each level's up path. Default: same as `channelsDown`. */
  channelsUp?: readonly number[];
  /** ns: channels of each level's skip branch (0 = none). Default [4]×levels. */
  channelsSkip?: readonly number[];
  /** kd: kernel of the down convs, per level or one value. Default 3. */
  filterSizeDown?: number | readonly number[];
  /** ku: kernel of the up convs, per level or one value. Default 3. */
  filterSizeUp?: number | readonly number[];
  /** Kernel of the skip convs. Default 1. */
  filterSkipSize?: number;
  /** End with a sigmoid. Default true. */
  needSigmoid?: boolean;
  /** Convs carry a bias. Default true. */
  needBias?: boolean;
  /** Padding of every conv. Default "reflection" (what every notebook passes). */
  pad?: "reflection" | "zero";
  /** Upsampling, per level or one value. Default "bilinear" (`get_net('skip')`). */
  upsampleMode?: UpsampleMode | readonly UpsampleMode[];
  /** Downsampling of each level's first conv, per level or one value. Default "stride". */
  downsampleMode?: DownsampleMode | readonly DownsampleMode[];
  /** Nonlinearity. Default "leaky_relu" (slope 0.2). */
  act?: Exclude<Activation, "sigmoid">;
  /** Add a 1×1 conv → BN → act after each level's up conv. Default true. */
  need1x1Up?: boolean;
}

function perLevel<T>(value: T | readonly T[], levels: number, name: string): T[] {
  if (Array.isArray(value)) {
    if (value.length !== levels) {
      throw new RangeError(
        `skip: expected ${name} to have one entry per level (${levels}) but received ${value.length}`,
      );
    }
    return [...value] as T[];
  }
  return new Array<T>(levels).fill(value as T);
}

function checkChannels(values: readonly number[], name: string, allowZero: boolean): void {
  for (const v of values) {
    if (!Number.isInteger(v) || v < (allowZero ? 0 : 1)) {
      throw new RangeError(
        `skip: expected ${
          allowZero ? "non-negative" : "positive"
        } integer entries in ${name} but received ${v}`,
      );
    }
  }
}

function checkKernel(k: number, name: string): void {
  if (!Number.isInteger(k) || k < 1 || k % 2 === 0) {
    throw new RangeError(
      `skip: expected an odd positive kernel size for ${name} but received ${k}`,
    );
  }
}

/**
 * Builds the reference `skip()` network. Per level i (REFERENCE.md §1a): the skip branch
 * conv(d_in→ns, 1) → BN → act; the deeper branch conv(d_in→nd, kd, stride 2) → BN → act →
 * conv(nd→nd, kd) → BN → act → level i+1 → upsample ×2; then concat (centre-crop) of both
 * (just the deeper branch when ns = 0) → BN → conv(ns+k→nu, ku) → BN → act → [conv1×1 → BN →
 * act]; the head is conv1×1(nu[0]→out) → sigmoid.
 *
 * @example
 * ```ts
 * import { skip } from "./skip.ts";
 * const net = skip({ inputChannels: 32, outputChannels: 3 }); // the denoising net
 * ```
 */
export function skip(options: SkipOptions = {}): Network {
  const inputChannels = options.inputChannels ?? 32;
  const outputChannels = options.outputChannels ?? 3;
  const nd = [...(options.channelsDown ?? [128, 128, 128, 128, 128])];
  const levels = nd.length;
  if (levels < 1) {
    throw new RangeError("skip: expected at least one level in channelsDown but received none");
  }
  const nu = [...(options.channelsUp ?? nd)];
  const ns = [...(options.channelsSkip ?? new Array<number>(levels).fill(4))];
  if (nu.length !== levels || ns.length !== levels) {
    throw new RangeError(
      `skip: expected channelsUp and channelsSkip to have ${levels} entries but received ${nu.length} and ${ns.length}`,
    );
  }
  checkChannels(nd, "channelsDown", false);
  checkChannels(nu, "channelsUp", false);
  checkChannels(ns, "channelsSkip", true);
  checkChannels([inputChannels, outputChannels], "inputChannels/outputChannels", false);
  const kd = perLevel(options.filterSizeDown ?? 3, levels, "filterSizeDown");
  const ku = perLevel(options.filterSizeUp ?? 3, levels, "filterSizeUp");
  const kSkip = options.filterSkipSize ?? 1;
  kd.forEach((k) => checkKernel(k, "filterSizeDown"));
  ku.forEach((k) => checkKernel(k, "filterSizeUp"));
  checkKernel(kSkip, "filterSkipSize");
  const up = perLevel<UpsampleMode>(options.upsampleMode ?? "bilinear", levels, "upsampleMode");
  const down = perLevel<DownsampleMode>(
    options.downsampleMode ?? "stride",
    levels,
    "downsampleMode",
  );
  const pad: PadMode = options.pad ?? "reflection";
  const bias = options.needBias ?? true;
  const act: Activation = options.act ?? "leaky_relu";
  const need1x1Up = options.need1x1Up ?? true;
  const needSigmoid = options.needSigmoid ?? true;

  const nodes: LayerNode[] = [{ op: "input", id: "z", channels: inputChannels, downscale: 1 }];
  const conv = (
    id: string,
    input: string,
    outChannels: number,
    kernel: number,
    stride: 1 | 2 = 1,
  ) => nodes.push({ op: "conv", id, input, outChannels, kernel, stride, pad, bias });
  const bn = (id: string, input: string, a: Activation = act) =>
    nodes.push({ op: "bn", id, input, act: a });

  /** Emits level i reading `input` (d_in channels); returns the id of its output (nu[i] ch). */
  const level = (i: number, input: string): string => {
    const p = `l${i}`;
    const nsI = ns[i]!, ndI = nd[i]!, nuI = nu[i]!, kdI = kd[i]!, kuI = ku[i]!;
    let skipOut: string | undefined;
    if (nsI > 0) {
      conv(`${p}.skip.conv`, input, nsI, kSkip);
      bn(`${p}.skip.bn`, `${p}.skip.conv`);
      skipOut = `${p}.skip.bn`;
    }
    // Reference conv(): a non-stride downsample mode runs the conv at stride 1, then pools.
    const mode = down[i]!;
    if (mode === "stride") {
      conv(`${p}.down.conv1`, input, ndI, kdI, 2);
      bn(`${p}.down.bn1`, `${p}.down.conv1`);
    } else {
      conv(`${p}.down.conv1`, input, ndI, kdI, 1);
      const poolId = `${p}.down.pool`;
      if (mode === "avg" || mode === "max") {
        nodes.push({ op: "pool", id: poolId, input: `${p}.down.conv1`, mode });
      } else {nodes.push({
          op: "lanczos_down",
          id: poolId,
          input: `${p}.down.conv1`,
          factor: 2,
          kernel: mode,
        });}
      bn(`${p}.down.bn1`, poolId);
    }
    conv(`${p}.down.conv2`, `${p}.down.bn1`, ndI, kdI);
    bn(`${p}.down.bn2`, `${p}.down.conv2`);
    const deeper = i + 1 < levels ? level(i + 1, `${p}.down.bn2`) : `${p}.down.bn2`;
    nodes.push({ op: "upsample", id: `${p}.up.upsample`, input: deeper, mode: up[i]! });
    let merged = `${p}.up.upsample`;
    if (skipOut !== undefined) {
      nodes.push({ op: "concat", id: `${p}.concat`, inputs: [skipOut, `${p}.up.upsample`] });
      merged = `${p}.concat`;
    }
    // Reference: this BN is added even when ns = 0, and has no activation after it.
    bn(`${p}.up.bn0`, merged, "none");
    conv(`${p}.up.conv`, `${p}.up.bn0`, nuI, kuI);
    bn(`${p}.up.bn`, `${p}.up.conv`);
    if (!need1x1Up) return `${p}.up.bn`;
    conv(`${p}.up.conv1x1`, `${p}.up.bn`, nuI, 1);
    bn(`${p}.up.bn1x1`, `${p}.up.conv1x1`);
    return `${p}.up.bn1x1`;
  };

  const top = level(0, "z");
  conv("head.conv", top, outputChannels, 1);
  let output = "head.conv";
  if (needSigmoid) {
    nodes.push({ op: "act", id: "head.sigmoid", input: "head.conv", act: "sigmoid" });
    output = "head.sigmoid";
  }
  const list = (v: readonly number[]) =>
    v.every((x) => x === v[0]) ? `[${v[0]}×${v.length}]` : `[${v.join(",")}]`;
  return {
    name: `skip(${inputChannels}→${outputChannels}, nd=${list(nd)}, nu=${list(nu)}, ns=${
      list(ns)
    })`,
    nodes,
    output,
    inputChannels,
    outputChannels,
    sizeMultiple: 2 ** levels,
  };
}

/**
 * The paper's "hourglass": {@link skip} without skip connections (ns = 0 at every level).
 *
 * @example
 * ```ts
 * import { hourglass } from "./skip.ts";
 * const net = hourglass({ inputChannels: 2, upsampleMode: "nearest" }); // inpainting vase
 * ```
 */
export function hourglass(options: Omit<SkipOptions, "channelsSkip"> = {}): Network {
  const levels = options.channelsDown?.length ?? 5;
  const net = skip({ ...options, channelsSkip: new Array<number>(levels).fill(0) });
  return { ...net, name: net.name.replace(/^skip/, "hourglass") };
}
