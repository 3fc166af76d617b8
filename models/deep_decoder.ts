/**
 * The Deep Decoder (Heckel & Hand, ICLR 2019; repo reinhardh/supplement_deep_decoder,
 * `decodernw`) as plain {@link Network} data.
 *
 * @module
 */
import type { LayerNode, Network } from "./graph.ts";

/** Options of {@link deepDecoder}. */
export interface DeepDecoderOptions {
  /** k: channels of every layer. Default 64. */
  channels?: number;
  /**
   * Number of ×2 upsamplings. The net has `upsamplings + 1` conv layers (the reference
   * `num_channels_up=[k]*5` becomes 7 entries, i.e. 6 layers, 5 of them upsampling). Default 5.
   */
  upsamplings?: number;
  /** Channels of the image. Default 3. */
  outputChannels?: number;
  /** End with a sigmoid. Default true. */
  needSigmoid?: boolean;
}

/**
 * Builds the Deep Decoder: per layer a 1×1 conv (k→k, no bias) → bilinear ×2 (all layers but
 * the last) → ReLU → BN (affine); then a 1×1 conv (k→out, no bias) → sigmoid. z is
 * k × H/2^L × W/2^L (`downscale` 2^L). k=64 counts 25,536 parameters; k=128, 100,224.
 *
 * @example
 * ```ts
 * import { deepDecoder } from "./deep_decoder.ts";
 * const net = deepDecoder({ channels: 128 }); // z: 128×16×16 for a 512² image
 * ```
 */
export function deepDecoder(options: DeepDecoderOptions = {}): Network {
  const k = options.channels ?? 64;
  const ups = options.upsamplings ?? 5;
  const outputChannels = options.outputChannels ?? 3;
  for (
    const [name, v, min] of [["channels", k, 1], ["upsamplings", ups, 0], [
      "outputChannels",
      outputChannels,
      1,
    ]] as const
  ) {
    if (!Number.isInteger(v) || v < min) {
      throw new RangeError(
        `deepDecoder: expected an integer ≥ ${min} for ${name} but received ${v}`,
      );
    }
  }
  const downscale = 2 ** ups;
  const nodes: LayerNode[] = [{ op: "input", id: "z", channels: k, downscale }];
  let x = "z";
  for (let i = 0; i <= ups; i++) {
    const p = `layer${i}`;
    nodes.push({
      op: "conv",
      id: `${p}.conv`,
      input: x,
      outChannels: k,
      kernel: 1,
      stride: 1,
      pad: "zero",
      bias: false,
    });
    x = `${p}.conv`;
    if (i < ups) {
      nodes.push({ op: "upsample", id: `${p}.upsample`, input: x, mode: "bilinear" });
      x = `${p}.upsample`;
    }
    // Reference order (bn_before_act=False): ReLU, then BN.
    nodes.push({ op: "act", id: `${p}.relu`, input: x, act: "relu" }, {
      op: "bn",
      id: `${p}.bn`,
      input: `${p}.relu`,
      act: "none",
    });
    x = `${p}.bn`;
  }
  nodes.push({
    op: "conv",
    id: "head.conv",
    input: x,
    outChannels: outputChannels,
    kernel: 1,
    stride: 1,
    pad: "zero",
    bias: false,
  });
  let output = "head.conv";
  if (options.needSigmoid ?? true) {
    nodes.push({ op: "act", id: "head.sigmoid", input: "head.conv", act: "sigmoid" });
    output = "head.sigmoid";
  }
  return {
    name: `deepDecoder(k=${k}, ${ups} upsamplings → ${outputChannels})`,
    nodes,
    output,
    inputChannels: k,
    outputChannels,
    sizeMultiple: downscale,
  };
}
