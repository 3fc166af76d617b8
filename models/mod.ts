/**
 * Network builders (pure data), parameter counting, and the reference notebooks' networks as
 * presets. Each preset's parameter count is asserted in tests/models_test.ts against
 * REFERENCE.md §1a.
 *
 * @example
 * ```ts
 * import { countParams, denoisingNet } from "./mod.ts";
 * console.log(countParams(denoisingNet())); // 2217831
 * ```
 *
 * @module
 */
import type { Network } from "./graph.ts";
import { hourglass, skip, type SkipOptions } from "./skip.ts";
import { resnet, type ResNetOptions } from "./resnet.ts";

export type { Activation, LayerNode, Network, PadMode } from "./graph.ts";
export { hourglass, skip } from "./skip.ts";
export type { DownsampleMode, SkipOptions, UpsampleMode } from "./skip.ts";
export { resnet } from "./resnet.ts";
export type { ResNetOptions } from "./resnet.ts";
export { deepDecoder } from "./deep_decoder.ts";
export type { DeepDecoderOptions } from "./deep_decoder.ts";
export {
  countParams,
  inferChannels,
  lanczosKernelSize,
  nodeParams,
  paramTensors,
} from "./count.ts";
export type { ParamTensor } from "./count.ts";
export { describeNetwork } from "./describe.ts";
export {
  type Architecture,
  ARCHITECTURES,
  type ArchName,
  buildNetwork,
  mergeNetworkOptions,
  type NetworkSpec,
  NOTEBOOK_NETWORKS,
} from "./architectures.ts";
import { mergeNetworkOptions, NOTEBOOK_NETWORKS } from "./architectures.ts";

const five = (v: number) => [v, v, v, v, v];

/**
 * Denoising F16 and super-resolution (`get_net('skip')`): 32→3, nd=nu=[128]×5, ns=[4]×5,
 * k 3, bilinear, reflection. 2,217,831 parameters.
 */
export function denoisingNet(options: SkipOptions = {}): Network {
  return skip({
    inputChannels: 32,
    outputChannels: 3,
    ...mergeNetworkOptions("skip", NOTEBOOK_NETWORKS.denoising.options, options),
  });
}

/** Super-resolution ×4/×8: the same net as {@link denoisingNet}. */
export function superResolutionNet(options: SkipOptions = {}): Network {
  return denoisingNet(options);
}

/** Restoration barbara (50% pixels, gray): {@link denoisingNet} with 1 output channel. 2,217,573. */
export function restorationBarbaraNet(options: SkipOptions = {}): Network {
  return denoisingNet({ outputChannels: 1, ...options });
}

/** Blind JPEG deblocking (snail): 3→3, nd=nu=[8,16,32,64,128], ns=[0,0,0,4,4]. 572,827. */
export function jpegNet(options: SkipOptions = {}): Network {
  return skip({
    inputChannels: 3,
    outputChannels: 3,
    ...mergeNetworkOptions("skip", NOTEBOOK_NETWORKS.jpeg.options, options),
  });
}

/** Text inpainting (kate): 32→3, [128]×5, ns=[128]×5, nearest. 3,002,627. */
export function inpaintingNet(options: SkipOptions = {}): Network {
  return skip({
    inputChannels: 32,
    outputChannels: 3,
    ...mergeNetworkOptions("skip", NOTEBOOK_NETWORKS.inpainting.options, options),
  });
}

/** Region inpainting (vase): hourglass 2 (meshgrid) →3, [128]×5, nearest. 2,157,955. */
export function inpaintingVaseNet(options: Omit<SkipOptions, "channelsSkip"> = {}): Network {
  return hourglass({
    inputChannels: 2,
    outputChannels: 3,
    ...mergeNetworkOptions("hourglass", NOTEBOOK_NETWORKS.inpaintingVase.options, options),
  });
}

/**
 * Region inpainting (library) `skip_depth{6,4,2}`: 1→3, nd=nu=[16,32,64,128,128,128][:depth],
 * ns 0, kd 5, ku 3, nearest, no 1×1 up. 2,996,467 / 1,060,339 / 59,635.
 */
export function inpaintingLibraryNet(depth: 2 | 4 | 6 = 6, options: SkipOptions = {}): Network {
  const nd = [16, 32, 64, 128, 128, 128].slice(0, depth);
  return skip({
    inputChannels: 1,
    outputChannels: 3,
    channelsDown: nd,
    channelsSkip: nd.map(() => 0),
    filterSizeDown: 5,
    filterSizeUp: 3,
    upsampleMode: "nearest",
    need1x1Up: false,
    ...options,
  });
}

/** Region inpainting (library) ResNet: 1→3, 8 blocks of 32 channels. 158,979. */
export function inpaintingResNet(options: ResNetOptions = {}): Network {
  return resnet({ inputChannels: 1, outputChannels: 3, blocks: 8, channels: 32, ...options });
}

/** Restoration kate (2% pixels): 32→3, [16,32,64,128,128], ns 0, avg-down, bilinear. 1,027,379. */
export function restorationKateNet(options: SkipOptions = {}): Network {
  return skip({
    inputChannels: 32,
    outputChannels: 3,
    channelsDown: [16, 32, 64, 128, 128],
    channelsSkip: five(0),
    downsampleMode: "avg",
    ...options,
  });
}

/** Flash / no-flash (input is the 3-channel flash image): 3→3, [128]×5, ns 4, up [n,n,b,b,b]. 2,184,307. */
export function flashNoFlashNet(options: SkipOptions = {}): Network {
  return skip({
    inputChannels: 3,
    outputChannels: 3,
    ...mergeNetworkOptions("skip", NOTEBOOK_NETWORKS.flash.options, options),
  });
}

/**
 * Feature inversion: 32 (appendix: 2) →3, [16,32,64,128,128,128], ns [4]×6,
 * k [7,7,5,5,3,3], avg-down, nearest, zero pad. 2,606,763 (2,583,123 with 2 input channels).
 */
export function featureInversionNet(options: SkipOptions = {}): Network {
  const k = [7, 7, 5, 5, 3, 3];
  return skip({
    inputChannels: 32,
    outputChannels: 3,
    channelsDown: [16, 32, 64, 128, 128, 128],
    channelsSkip: [4, 4, 4, 4, 4, 4],
    filterSizeDown: k,
    filterSizeUp: k,
    downsampleMode: "avg",
    upsampleMode: "nearest",
    pad: "zero",
    ...options,
  });
}

/**
 * Activation maximisation: 32→3, [16,32,64,128,128,128], ns [0,4,4,4,4,4],
 * kd [5,3,5,5,3,5], ku [5,3,5,3,5,3], avg-down, bilinear. 2,948,567.
 */
export function activationMaxNet(options: SkipOptions = {}): Network {
  return skip({
    inputChannels: 32,
    outputChannels: 3,
    channelsDown: [16, 32, 64, 128, 128, 128],
    channelsSkip: [0, 4, 4, 4, 4, 4],
    filterSizeDown: [5, 3, 5, 5, 3, 5],
    filterSizeUp: [5, 3, 5, 3, 5, 3],
    downsampleMode: "avg",
    ...options,
  });
}
