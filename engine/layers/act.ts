/**
 * The `act` layer: a pointwise activation on its own. Lowers to the plan's `act` step and
 * `act_bwd`. ONNX: LeakyRelu (α 0.2) / Relu / Sigmoid / Elu / x·Sigmoid(x), or Identity.
 *
 * @module
 */
import type { Activation } from "../plan.ts";
import { defineLayer, oneInput } from "./kind.ts";

/** A pointwise activation on its own. */
export interface ActNode {
  /** The kind. */
  op: "act";
  /** Unique within the network. */
  id: string;
  /** The node it reads. */
  input: string;
  /** The nonlinearity. */
  act: Activation;
}

/** The `act` layer kind. */
export const actLayer = defineLayer<ActNode>({
  op: "act",
  summary: "a pointwise activation",
  inputs: oneInput,
  channels: (_node, [c]) => c!,
  shape: (_node, [x]) => ({ ...x! }),
  forward: (node, ctx) =>
    ctx.emit({ kind: "act", x: ctx.view(node.input), y: ctx.y, act: node.act }),
  backward: (node, ctx) => {
    if (!ctx.needsGrad(node.input)) return;
    const x = ctx.view(node.input);
    const y = ctx.view(node.id);
    ctx.gradientTo(node.input, (grad, _gslice, accumulate) => ({
      kind: "act_bwd",
      x,
      y,
      dy: grad(node.id),
      dx: grad(node.input),
      act: node.act,
      accumulate,
    }));
  },
  describe: (node) => `${node.act} ← ${node.input}`,
  onnx: {
    export: (node, ctx) => {
      if (!ctx.activation(node.act, node.id, ctx.tensorName(node.input), ctx.out)) {
        ctx.node("Identity", node.id, [ctx.tensorName(node.input)], ctx.out);
      }
    },
  },
});
