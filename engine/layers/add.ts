/**
 * The `add` layer: the elementwise sum of two tensors of one shape (ResNet blocks). Lowers to
 * the plan's `add` step; its gradient is a `copy_grad` to each input. ONNX: Add.
 *
 * @module
 */
import { defineLayer } from "./kind.ts";

/** Elementwise sum of two tensors of one shape (ResNet blocks). */
export interface AddNode {
  /** The kind. */
  op: "add";
  /** Unique within the network. */
  id: string;
  /** The two nodes it sums. */
  inputs: [string, string];
}

/** The `add` layer kind. */
export const addLayer = defineLayer<AddNode>({
  op: "add",
  summary: "elementwise sum of two tensors of one shape",
  inputs: (node) => node.inputs,
  channels: (node, [a, b], where) => {
    if (a !== b) {
      throw new RangeError(
        `${where}: expected add ${node.id} to sum equal channel counts but received ${a} and ${b}`,
      );
    }
    return a!;
  },
  shape: (node, [a, b], _c, { where }) => {
    if (a!.h !== b!.h || a!.w !== b!.w) {
      throw new RangeError(
        `${where}: expected add ${node.id} to sum equal sizes but received ${a!.h}×${a!.w} and ${
          b!.h
        }×${b!.w}`,
      );
    }
    return { ...a! };
  },
  forward: (node, ctx) =>
    ctx.emit({
      kind: "add",
      a: ctx.view(node.inputs[0]),
      b: ctx.view(node.inputs[1]),
      y: ctx.y,
    }),
  backward: (node, ctx) => {
    for (const x of node.inputs) {
      if (!ctx.needsGrad(x)) continue;
      ctx.gradientTo(x, (grad, _gslice, accumulate) => ({
        kind: "copy_grad",
        dy: grad(node.id),
        dx: grad(x),
        accumulate,
      }));
    }
  },
  describe: (node) => `← ${node.inputs.join(", ")}`,
  onnx: {
    export: (node, ctx) => ctx.node("Add", node.id, node.inputs.map(ctx.tensorName), ctx.out),
  },
});
