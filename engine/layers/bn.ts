/**
 * The `bn` layer: BatchNorm2d in training mode with per-image statistics, affine, fused with an
 * activation. Lowers to the plan's `bn_act` step (which saves mean and 1/σ in `stats`) and
 * `bn_act_bwd`. ONNX: InstanceNormalization (per-image statistics) then the activation.
 *
 * @module
 */
import type { Activation } from "../plan.ts";
import { defineLayer, oneInput } from "./kind.ts";

/** BatchNorm2d in training mode with per-image statistics (eps 1e-5), affine, then `act`. */
export interface BnNode {
  /** The kind. */
  op: "bn";
  /** Unique within the network. */
  id: string;
  /** The node it reads. */
  input: string;
  /** The activation after the normalisation. */
  act: Activation;
}

/** The `bn` layer kind. */
export const bnLayer = defineLayer<BnNode>({
  op: "bn",
  summary: "batch normalisation with per-image statistics, affine, then an activation",
  inputs: oneInput,
  channels: (_node, [c]) => c!,
  shape: (_node, [x]) => ({ ...x! }),
  params: (_node, inChannels) => [
    { suffix: "weight", shape: [inChannels], init: "one", fanIn: 0 },
    { suffix: "bias", shape: [inChannels], init: "zero", fanIn: 0 },
  ],
  stats: true,
  forward: (node, ctx) =>
    ctx.emit({
      kind: "bn_act",
      x: ctx.view(node.input),
      y: ctx.y,
      gamma: ctx.param("weight"),
      beta: ctx.param("bias"),
      stats: ctx.stats(),
      act: node.act,
    }),
  backward: (node, ctx) => {
    if (!ctx.needsGrad(node.input)) {
      throw new RangeError(
        `${ctx.where}: expected BN ${node.id} to follow a layer, not the input z`,
      );
    }
    ctx.gradientTo(node.input, (grad, _gslice, accumulate) => ({
      kind: "bn_act_bwd",
      x: ctx.view(node.input),
      dy: grad(node.id),
      dx: grad(node.input),
      gamma: ctx.param("weight"),
      beta: ctx.param("bias"),
      stats: ctx.stats(),
      act: node.act,
      accumulate,
    }));
  },
  describe: (node) => `${node.act} ← ${node.input}`,
  onnx: {
    export: (node, ctx) => {
      const norm = node.act === "none" ? ctx.out : `${node.id}.norm`;
      ctx.node(
        "InstanceNormalization",
        node.id,
        [ctx.tensorName(node.input), ctx.weight("weight"), ctx.weight("bias")],
        norm,
        [ctx.attr.float("epsilon", 1e-5)], // engine/plan.ts bn_act: eps 1e-5 (PyTorch's)
      );
      ctx.activation(node.act, `${node.id}.act`, norm, ctx.out);
    },
  },
});
