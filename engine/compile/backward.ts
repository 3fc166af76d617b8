/**
 * Pass 8, the backward schedule, derived from the forward one: walking the tensors backwards,
 * each layer's gradient steps (its layer kind's `backward`, engine/layers/: weight, then data),
 * with "first writer overwrites, later writers accumulate" for a tensor with several consumers. Gradients are symbolic here — each
 * {@link GradientOp} names the gradient roots it reads and writes — and get their `dact`
 * regions from the liveness pass (engine/compile/liveness.ts), which then builds the steps.
 *
 * @module
 */
import type { GradSlice, GradView } from "../layers/kind.ts";
import { layerKind } from "../layers/registry.ts";
import type { Step } from "../plan.ts";
import { type Aliases, gradientRoot } from "./aliasing.ts";
import type { Buffers } from "./buffers.ts";
import type { TensorGraph } from "./graph.ts";
import { stepLabel } from "./labels.ts";
import type { ParamLayout } from "./params.ts";

export type { GradSlice, GradView } from "../layers/kind.ts";

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
    layerKind(node.op, where).backward(node, {
      shape: t.shape,
      view,
      shapeOf: graph.shapeOf,
      param: (suffix) => pref(`${node.id}.${suffix}`),
      stats: () => buffers.stats.get(node.id)!,
      aliased: (id) => aliases.has(id),
      forwardStep: () => forward.find((s) => stepLabel(s) === node.id),
      needsGrad,
      gradientTo: (x, build) => {
        const accumulate = firstWrite(x);
        pending.push({
          build: (grad, gslice) => build(grad, gslice, accumulate),
          reads: dyRoot,
          writes: roots(x),
          label: node.id,
        });
      },
      paramGradient: (build) => pending.push({ build, reads: dyRoot, writes: [], label: node.id }),
      where,
    });
  }
  return pending;
}
