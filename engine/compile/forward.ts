/**
 * Pass 7, the forward schedule: z's perturbation, then each layer's steps (its layer kind's
 * `forward`, engine/layers/) and each data-term stage in topological order, reading and writing
 * the views the buffer pass planned.
 *
 * @module
 */
import type { Step } from "../plan.ts";
import type { Aliases } from "./aliasing.ts";
import { layerKind } from "../layers/registry.ts";
import type { Buffers } from "./buffers.ts";
import type { TensorGraph } from "./graph.ts";
import { label } from "./labels.ts";
import type { ParamLayout } from "./params.ts";

/** The forward steps (`input_noise` first) and the forward multiply-adds of one fit. */
export function lowerForward(
  graph: TensorGraph,
  aliases: Aliases,
  buffers: Buffers,
  pref: ParamLayout["pref"],
  regNoiseStd: number,
): { forward: Step[]; forwardMacs: number } {
  const { view } = buffers;
  const forward: Step[] = [
    label({ kind: "input_noise", z0: buffers.z0, z: buffers.z, std: regNoiseStd }, "input_noise"),
  ];
  let forwardMacs = 0;
  for (const t of graph.order) {
    const node = t.node;
    const y = view(t.id);
    if (t.resample) {
      forward.push(label({ kind: "resample_down", x: view(t.inputs[0]!), y, ...t.resample }, t.id));
      continue;
    }
    if (!node) continue;
    layerKind(node.op).forward(node, {
      y,
      view,
      shapeOf: graph.shapeOf,
      param: (suffix) => pref(`${node.id}.${suffix}`),
      stats: () => buffers.stats.get(node.id)!,
      aliased: (id) => aliases.has(id),
      emit: (step) => forward.push(label(step, node.id)),
      macs: (n) => forwardMacs += n,
    });
  }
  return { forward, forwardMacs };
}
