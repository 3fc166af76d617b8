/**
 * The `conv` layer: a 2-D convolution with "same" padding in one of three modes, then a stride,
 * bias optional. Lowers to the plan's `conv` step; its gradient is `conv_bwd_weight` (weight
 * and bias) then `conv_bwd_data` (input). ONNX: Conv, with a Pad node before it for reflection
 * and replicate padding.
 *
 * @module
 */
import { defineLayer, oneInput } from "./kind.ts";

/** How a convolution pads: `reflection` (ReflectionPad2d((k-1)/2)), `zero`, or `replicate`. */
export type PadMode = "reflection" | "zero" | "replicate";

/**
 * 2-D convolution, bias optional, "same" padding of (k-1)/2 in `pad` mode, then `stride`.
 * Output size: floor((H + 2p - k) / stride) + 1 with p = (k-1)/2 (k odd) — PyTorch's rule.
 */
export interface ConvNode {
  /** The kind. */
  op: "conv";
  /** Unique within the network. */
  id: string;
  /** The node it reads. */
  input: string;
  /** Output channels. */
  outChannels: number;
  /** Kernel size k (odd). */
  kernel: number;
  /** Stride. */
  stride: 1 | 2;
  /** How the borders are padded. */
  pad: PadMode;
  /** Whether it adds a bias per output channel. */
  bias: boolean;
}

/** Output size of a conv with padding p on each side (PyTorch's rule). */
export function convOut(n: number, k: number, p: number, stride: number): number {
  return Math.floor((n + 2 * p - k) / stride) + 1;
}

/** The `conv` layer kind. */
export const convLayer = defineLayer<ConvNode>({
  op: "conv",
  summary: "2-D convolution, same padding (reflection, zero or replicate), stride 1 or 2",
  inputs: oneInput,
  channels: (node) => node.outChannels,
  shape: (node, [x], c, { where }) => {
    const p = (node.kernel - 1) / 2;
    if (node.pad === "reflection" && (p >= x!.h || p >= x!.w)) {
      throw new RangeError(
        `${where}: conv ${node.id} needs reflection padding ${p} but its input is ${x!.h}×${
          x!.w
        }; expected height and width > ${p} (use a larger image or fewer levels)`,
      );
    }
    return {
      c,
      h: convOut(x!.h, node.kernel, p, node.stride),
      w: convOut(x!.w, node.kernel, p, node.stride),
    };
  },
  downscale: (node) => node.stride,
  params: (node, inChannels) => {
    const fanIn = inChannels * node.kernel * node.kernel;
    const weight = {
      suffix: "weight",
      shape: [node.outChannels, inChannels, node.kernel, node.kernel],
      init: "uniform",
      fanIn,
    } as const;
    return node.bias
      ? [weight, { suffix: "bias", shape: [node.outChannels], init: "uniform", fanIn }]
      : [weight];
  },
  forward: (node, ctx) => {
    const x = ctx.view(node.input);
    const { y } = ctx;
    const bias = node.bias ? ctx.param("bias") : undefined;
    ctx.emit({
      kind: "conv",
      x,
      y,
      weight: ctx.param("weight"),
      ...(bias ? { bias } : {}),
      k: node.kernel,
      stride: node.stride,
      pad: node.pad,
    });
    ctx.macs(y.c * x.c * node.kernel * node.kernel * y.h * y.w);
  },
  backward: (node, ctx) => convBackward(node, ctx),
  describe: (node) =>
    `${node.kernel}×${node.kernel}/${node.stride} ${node.pad}${
      node.bias ? " +bias" : ""
    } ← ${node.input}`,
  onnx: {
    export: (node, ctx) => {
      const p = (node.kernel - 1) / 2;
      let input = ctx.tensorName(node.input);
      let pads = [p, p, p, p];
      if (p > 0 && node.pad !== "zero") {
        input = ctx.pad(
          `${node.id}.pad`,
          input,
          p,
          node.pad === "reflection" ? "reflect" : "edge",
        );
        pads = [0, 0, 0, 0];
      }
      const inputs = [input, ctx.weight("weight")];
      if (node.bias) inputs.push(ctx.weight("bias"));
      ctx.node("Conv", node.id, inputs, ctx.out, [
        ctx.attr.ints("kernel_shape", [node.kernel, node.kernel]),
        ctx.attr.ints("strides", [node.stride, node.stride]),
        ctx.attr.ints("pads", pads),
      ]);
    },
  },
});

/**
 * The gradient steps of a node lowered to one `conv` step (a `conv` or `lanczos_down` layer):
 * `conv_bwd_weight`, then `conv_bwd_data` unless the input is z. Reuses the forward step's
 * geometry, so forward and backward cannot disagree.
 */
export function convBackward(
  node: { readonly id: string; readonly input: string },
  ctx: import("./kind.ts").BackwardContext,
): void {
  const fwd = ctx.forwardStep();
  if (fwd?.kind !== "conv") {
    throw new Error(`${ctx.where}: internal error, no forward conv for ${node.id}`);
  }
  const { x, weight, bias, k, stride, pad } = fwd;
  const padding = fwd.padding;
  const extra = padding !== undefined ? { padding } : {};
  ctx.paramGradient((grad) => ({
    kind: "conv_bwd_weight",
    x,
    dy: grad(node.id),
    weight,
    ...(bias ? { bias } : {}),
    k,
    stride,
    pad,
    ...extra,
  }));
  if (ctx.needsGrad(node.input)) {
    ctx.gradientTo(node.input, (grad, _gslice, accumulate) => ({
      kind: "conv_bwd_data",
      dy: grad(node.id),
      dx: grad(node.input),
      weight,
      k,
      stride,
      pad,
      ...extra,
      accumulate,
    }));
  }
}
