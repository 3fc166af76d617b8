/**
 * The reference ResNet generator (models/resnet.py) as plain {@link Network} data.
 *
 * @module
 */
import type { Activation, LayerNode, Network } from "./graph.ts";

/** Options of {@link resnet}. */
export interface ResNetOptions {
  /** Channels of z. Default 1 (inpainting library notebook). */
  inputChannels?: number;
  /** Channels of the image. Default 3. */
  outputChannels?: number;
  /** Residual blocks. Default 8 (inpainting library notebook). */
  blocks?: number;
  /** Width of every conv. Default 32 (inpainting library notebook). */
  channels?: number;
  /** Nonlinearity. Default "leaky_relu". */
  act?: Exclude<Activation, "sigmoid">;
  /** End with a sigmoid. Default true. */
  needSigmoid?: boolean;
  /** Padding of the first and last conv. Default "reflection" (the inner 3×3 convs pad zeros). */
  pad?: "reflection" | "zero";
}

/**
 * Builds the reference ResNet: conv3(in→C, bias) → act → N × [conv3 → BN → act → conv3 → BN,
 * both convs without bias, plus the block input] → conv3(C→C, bias, zero pad) → BN →
 * conv3(C→out, bias) → sigmoid. The inner convs are plain `nn.Conv2d(…, 3, 1, 1)` in the
 * reference, i.e. zero padding whatever `pad` says; only the first and last use `pad`.
 *
 * @example
 * ```ts
 * import { resnet } from "./resnet.ts";
 * const net = resnet({ inputChannels: 1, outputChannels: 3 }); // 158,979 parameters
 * ```
 */
export function resnet(options: ResNetOptions = {}): Network {
  const inputChannels = options.inputChannels ?? 1;
  const outputChannels = options.outputChannels ?? 3;
  const blocks = options.blocks ?? 8;
  const c = options.channels ?? 32;
  const act = options.act ?? "leaky_relu";
  const pad = options.pad ?? "reflection";
  for (
    const [name, v, min] of [["inputChannels", inputChannels, 1], [
      "outputChannels",
      outputChannels,
      1,
    ], [
      "blocks",
      blocks,
      0,
    ], ["channels", c, 1]] as const
  ) {
    if (!Number.isInteger(v) || v < min) {
      throw new RangeError(`resnet: expected an integer ≥ ${min} for ${name} but received ${v}`);
    }
  }
  const nodes: LayerNode[] = [
    { op: "input", id: "z", channels: inputChannels, downscale: 1 },
    {
      op: "conv",
      id: "first.conv",
      input: "z",
      outChannels: c,
      kernel: 3,
      stride: 1,
      pad,
      bias: true,
    },
    { op: "act", id: "first.act", input: "first.conv", act },
  ];
  let x = "first.act";
  for (let i = 0; i < blocks; i++) {
    const p = `block${i}`;
    nodes.push(
      {
        op: "conv",
        id: `${p}.conv1`,
        input: x,
        outChannels: c,
        kernel: 3,
        stride: 1,
        pad: "zero",
        bias: false,
      },
      { op: "bn", id: `${p}.bn1`, input: `${p}.conv1`, act },
      {
        op: "conv",
        id: `${p}.conv2`,
        input: `${p}.bn1`,
        outChannels: c,
        kernel: 3,
        stride: 1,
        pad: "zero",
        bias: false,
      },
      { op: "bn", id: `${p}.bn2`, input: `${p}.conv2`, act: "none" },
      { op: "add", id: `${p}.add`, inputs: [`${p}.bn2`, x] },
    );
    x = `${p}.add`;
  }
  nodes.push(
    {
      op: "conv",
      id: "last.conv1",
      input: x,
      outChannels: c,
      kernel: 3,
      stride: 1,
      pad: "zero",
      bias: true,
    },
    { op: "bn", id: "last.bn", input: "last.conv1", act: "none" },
    {
      op: "conv",
      id: "head.conv",
      input: "last.bn",
      outChannels: outputChannels,
      kernel: 3,
      stride: 1,
      pad,
      bias: true,
    },
  );
  let output = "head.conv";
  if (options.needSigmoid ?? true) {
    nodes.push({ op: "act", id: "head.sigmoid", input: "head.conv", act: "sigmoid" });
    output = "head.sigmoid";
  }
  return {
    name: `resnet(${inputChannels}→${outputChannels}, ${blocks} blocks × ${c})`,
    nodes,
    output,
    inputChannels,
    outputChannels,
    sizeMultiple: 1,
  };
}
