/**
 * The `pool` layer: 2×2 average or max pooling with stride 2. Lowers to the plan's `pool` step
 * and `pool_bwd`. ONNX: AveragePool / MaxPool 2×2.
 *
 * @module
 */
import { defineLayer, oneInput } from "./kind.ts";

/** 2×2 pooling with stride 2 (`avg` or `max`); output floor(H/2)×floor(W/2). */
export interface PoolNode {
  /** The kind. */
  op: "pool";
  /** Unique within the network. */
  id: string;
  /** The node it reads. */
  input: string;
  /** Average or maximum of each 2×2 block. */
  mode: "avg" | "max";
}

/** The `pool` layer kind. */
export const poolLayer = defineLayer<PoolNode>({
  op: "pool",
  summary: "2×2 average or max pooling, stride 2",
  inputs: oneInput,
  channels: (_node, [c]) => c!,
  shape: (_node, [x], c) => ({ c, h: Math.floor(x!.h / 2), w: Math.floor(x!.w / 2) }),
  downscale: () => 2,
  forward: (node, ctx) =>
    ctx.emit({ kind: "pool", x: ctx.view(node.input), y: ctx.y, mode: node.mode }),
  backward: (node, ctx) => {
    if (!ctx.needsGrad(node.input)) return;
    const x = ctx.view(node.input);
    ctx.gradientTo(node.input, (grad, _gslice, accumulate) => ({
      kind: "pool_bwd",
      x,
      dy: grad(node.id),
      dx: grad(node.input),
      mode: node.mode,
      accumulate,
    }));
  },
  describe: (node) => `${node.mode} ← ${node.input}`,
  onnx: {
    export: (node, ctx) =>
      ctx.node(
        node.mode === "avg" ? "AveragePool" : "MaxPool",
        node.id,
        [ctx.tensorName(node.input)],
        ctx.out,
        [ctx.attr.ints("kernel_shape", [2, 2]), ctx.attr.ints("strides", [2, 2])],
      ),
  },
});
