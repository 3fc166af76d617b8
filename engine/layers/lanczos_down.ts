/**
 * The `lanczos_down` layer: the reference's Lanczos `Downsampler` inside a network, a trainable
 * full n→n conv with stride `factor` whose weight starts as the Lanczos kernel on the channel
 * diagonal. Lowers to the plan's `conv` step with replicate padding (k − factor)/2, so its
 * gradient is the conv's. ONNX: Pad(edge) + strided Conv.
 *
 * @module
 */
import { lanczosTaps, lanczosWeight } from "../compile/lanczos.ts";
import { convBackward } from "./conv.ts";
import { defineLayer, oneInput } from "./kind.ts";

/**
 * The reference's Lanczos `Downsampler` inside a network: a trainable full n→n conv with
 * stride `factor` initialised to the Lanczos kernel on the diagonal (bias 0), replicate
 * padding to keep exactly H/factor.
 */
export interface LanczosDownNode {
  /** The kind. */
  op: "lanczos_down";
  /** Unique within the network. */
  id: string;
  /** The node it reads. */
  input: string;
  /** Downsampling factor (the stride). */
  factor: number;
  /** Lanczos support a = 2 or 3. */
  kernel: "lanczos2" | "lanczos3";
}

/** The kernel width of the reference Lanczos `Downsampler` at phase 0.5: (a·2f+1) − 1. */
export function lanczosKernelSize(factor: number, kernel: "lanczos2" | "lanczos3"): number {
  const support = kernel === "lanczos2" ? 2 : 3;
  return 2 * support * factor;
}

/** The `lanczos_down` layer kind. */
export const lanczosDownLayer = defineLayer<LanczosDownNode>({
  op: "lanczos_down",
  summary: "the reference Lanczos Downsampler as a trainable strided conv",
  inputs: oneInput,
  channels: (_node, [c]) => c!,
  shape: (node, [x], c) => ({
    c,
    h: Math.floor(x!.h / node.factor),
    w: Math.floor(x!.w / node.factor),
  }),
  downscale: (node) => node.factor,
  // Reference Downsampler: a full nn.Conv2d(n, n, K, stride=f) with bias, trainable.
  params: (node, inChannels) => {
    const k = lanczosKernelSize(node.factor, node.kernel);
    return [
      { suffix: "weight", shape: [inChannels, inChannels, k, k], init: "lanczos", fanIn: 0 },
      { suffix: "bias", shape: [inChannels], init: "zero", fanIn: 0 },
    ];
  },
  initValues: (node, param) => lanczosWeight(node.factor, node.kernel, param.shape[0]!),
  forward: (node, ctx) => {
    const x = ctx.view(node.input);
    const { y } = ctx;
    const k = lanczosTaps(node.factor, node.kernel).length;
    ctx.emit({
      kind: "conv",
      x,
      y,
      weight: ctx.param("weight"),
      bias: ctx.param("bias"),
      k,
      stride: node.factor,
      pad: "replicate",
      padding: (k - node.factor) / 2,
    });
    ctx.macs(y.c * x.c * k * k * y.h * y.w);
  },
  backward: (node, ctx) => convBackward(node, ctx),
  describe: (node) => `${node.kernel} ÷${node.factor} ← ${node.input}`,
  onnx: {
    export: (node, ctx) => {
      const k = lanczosKernelSize(node.factor, node.kernel);
      const padded = ctx.pad(
        `${node.id}.pad`,
        ctx.tensorName(node.input),
        (k - node.factor) / 2,
        "edge",
      );
      ctx.node(
        "Conv",
        node.id,
        [padded, ctx.weight("weight"), ctx.weight("bias")],
        ctx.out,
        [
          ctx.attr.ints("kernel_shape", [k, k]),
          ctx.attr.ints("strides", [node.factor, node.factor]),
          ctx.attr.ints("pads", [0, 0, 0, 0]),
        ],
      );
    },
  },
});
