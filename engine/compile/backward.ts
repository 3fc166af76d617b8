/**
 * Pass 8, the backward schedule, derived from the forward one: walking the tensors backwards,
 * each layer's gradient steps (weight, then data), with "first writer overwrites, later
 * writers accumulate" for a tensor with several consumers. Gradients are symbolic here — each
 * {@link GradientOp} names the gradient roots it reads and writes — and get their `dact`
 * regions from the liveness pass (engine/compile/liveness.ts), which then builds the steps.
 *
 * @module
 */
import type { Step, View } from "../plan.ts";
import { type Aliases, gradientRoot } from "./aliasing.ts";
import type { Buffers } from "./buffers.ts";
import type { Shape, TensorGraph } from "./graph.ts";
import { stepLabel } from "./labels.ts";
import type { ParamLayout } from "./params.ts";

/** The gradient of a tensor (all its channels) by id. */
export type GradView = (id: string) => View;
/** `shape` channels of a tensor's gradient from `channel` on. */
export type GradSlice = (id: string, channel: number, shape: Shape) => View;

/** A loss or backward step before its gradients have regions. */
export interface GradientOp {
  /** Builds the step once every gradient root has its region. */
  readonly build: (grad: GradView, gslice: GradSlice) => Step;
  /** Gradient roots it reads. */
  readonly reads: readonly string[];
  /** Gradient roots it writes. */
  readonly writes: readonly string[];
  /** The step's label (its node or stage). */
  readonly label: string;
}

/** The loss: the first writer of the prediction's gradient. */
export function lossOp(graph: TensorGraph, aliases: Aliases, buffers: Buffers): GradientOp {
  const { pred } = graph;
  const { target, mask } = buffers;
  return {
    build: (grad) => ({
      kind: "mse_loss",
      pred: buffers.view(pred),
      target,
      ...(mask ? { mask } : {}),
      dpred: grad(pred),
      lossOffset: 0,
    }),
    reads: [],
    writes: [gradientRoot(aliases, pred).root],
    label: "loss",
  };
}

/**
 * The backward steps after the loss (which wrote the prediction's gradient), from the data term
 * back to the first layer; z gets no gradient.
 */
export function deriveBackward(
  graph: TensorGraph,
  aliases: Aliases,
  buffers: Buffers,
  forward: readonly Step[],
  pref: ParamLayout["pref"],
  where: string,
): GradientOp[] {
  const { order, inputId } = graph;
  const view = buffers.view;
  const pending: GradientOp[] = [];
  const written = new Set<string>([graph.pred]);
  const needsGrad = (id: string) => id !== inputId;
  /** Accumulate flag for a write of `id`'s gradient: first writer overwrites. */
  const firstWrite = (id: string): boolean => {
    const acc = written.has(id);
    written.add(id);
    return acc;
  };
  const roots = (...ids: string[]) => ids.map((id) => gradientRoot(aliases, id).root);

  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i]!;
    if (t.id === inputId) continue;
    const node = t.node;
    const dyRoot = roots(t.id);
    if (t.resample) {
      const x = t.inputs[0]!;
      const accumulate = firstWrite(x);
      const r = t.resample;
      pending.push({
        build: (grad) => ({
          kind: "resample_down_bwd",
          dy: grad(t.id),
          dx: grad(x),
          ...r,
          accumulate,
        }),
        reads: dyRoot,
        writes: roots(x),
        label: t.id,
      });
      continue;
    }
    if (!node) continue;
    switch (node.op) {
      case "input":
        break;
      case "conv":
      case "lanczos_down": {
        const fwd = forward.find((s) => stepLabel(s) === node.id);
        if (fwd?.kind !== "conv") {
          throw new Error(`${where}: internal error, no forward conv for ${node.id}`);
        }
        const { x, weight, bias, k, stride, pad } = fwd;
        const padding = fwd.padding;
        const extra = padding !== undefined ? { padding } : {};
        pending.push({
          build: (grad) => ({
            kind: "conv_bwd_weight",
            x,
            dy: grad(t.id),
            weight,
            ...(bias ? { bias } : {}),
            k,
            stride,
            pad,
            ...extra,
          }),
          reads: dyRoot,
          writes: [],
          label: node.id,
        });
        if (needsGrad(node.input)) {
          const accumulate = firstWrite(node.input);
          pending.push({
            build: (grad) => ({
              kind: "conv_bwd_data",
              dy: grad(t.id),
              dx: grad(node.input),
              weight,
              k,
              stride,
              pad,
              ...extra,
              accumulate,
            }),
            reads: dyRoot,
            writes: roots(node.input),
            label: node.id,
          });
        }
        break;
      }
      case "bn": {
        if (!needsGrad(node.input)) {
          throw new RangeError(
            `${where}: expected BN ${node.id} to follow a layer, not the input z`,
          );
        }
        const accumulate = firstWrite(node.input);
        pending.push({
          build: (grad) => ({
            kind: "bn_act_bwd",
            x: view(node.input),
            dy: grad(t.id),
            dx: grad(node.input),
            gamma: pref(`${node.id}.weight`),
            beta: pref(`${node.id}.bias`),
            stats: buffers.stats.get(node.id)!,
            act: node.act,
            accumulate,
          }),
          reads: dyRoot,
          writes: roots(node.input),
          label: node.id,
        });
        break;
      }
      case "act":
      case "pool":
      case "upsample": {
        if (!needsGrad(node.input)) break;
        const accumulate = firstWrite(node.input);
        const x = view(node.input);
        const y = view(node.id);
        pending.push({
          build: (grad): Step => {
            const dy = grad(t.id), dx = grad(node.input);
            if (node.op === "act") {
              return { kind: "act_bwd", x, y, dy, dx, act: node.act, accumulate };
            }
            if (node.op === "pool") {
              return { kind: "pool_bwd", x, dy, dx, mode: node.mode, accumulate };
            }
            return { kind: "upsample_bwd", dy, dx, mode: node.mode, accumulate };
          },
          reads: dyRoot,
          writes: roots(node.input),
          label: node.id,
        });
        break;
      }
      case "concat": {
        let channel = 0;
        for (const x of node.inputs) {
          const s = graph.shapeOf(x);
          const ch = channel;
          channel += s.c;
          if (aliases.has(x) || !needsGrad(x)) continue;
          const accumulate = firstWrite(x);
          pending.push({
            build: (grad, gslice) => ({
              kind: "crop_copy_bwd",
              dy: gslice(t.id, ch, { c: s.c, h: t.shape.h, w: t.shape.w }),
              dx: grad(x),
              accumulate,
            }),
            reads: dyRoot,
            writes: roots(x),
            label: node.id,
          });
        }
        break;
      }
      case "add":
        for (const x of node.inputs) {
          if (!needsGrad(x)) continue;
          const accumulate = firstWrite(x);
          pending.push({
            build: (grad) => ({ kind: "copy_grad", dy: grad(t.id), dx: grad(x), accumulate }),
            reads: dyRoot,
            writes: roots(x),
            label: node.id,
          });
        }
        break;
    }
  }
  return pending;
}
