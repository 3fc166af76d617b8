/**
 * Pass 7, the forward schedule: z's perturbation, then one step per layer and data-term stage
 * in topological order, reading and writing the views the buffer pass planned. A concat only
 * copies the inputs that are not already slices of its output (cropping them to its size).
 *
 * @module
 */
import type { Step } from "../plan.ts";
import type { Aliases } from "./aliasing.ts";
import { type Buffers, channelSlice } from "./buffers.ts";
import type { TensorGraph } from "./graph.ts";
import { label } from "./labels.ts";
import { lanczosTaps } from "./lanczos.ts";
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
    switch (node.op) {
      case "input":
        break;
      case "conv": {
        const x = view(node.input);
        const bias = node.bias ? pref(`${node.id}.bias`) : undefined;
        forward.push(label({
          kind: "conv",
          x,
          y,
          weight: pref(`${node.id}.weight`),
          ...(bias ? { bias } : {}),
          k: node.kernel,
          stride: node.stride,
          pad: node.pad,
        }, node.id));
        forwardMacs += y.c * x.c * node.kernel * node.kernel * y.h * y.w;
        break;
      }
      case "bn":
        forward.push(label({
          kind: "bn_act",
          x: view(node.input),
          y,
          gamma: pref(`${node.id}.weight`),
          beta: pref(`${node.id}.bias`),
          stats: buffers.stats.get(node.id)!,
          act: node.act,
        }, node.id));
        break;
      case "act":
        forward.push(label({ kind: "act", x: view(node.input), y, act: node.act }, node.id));
        break;
      case "pool":
        forward.push(label({ kind: "pool", x: view(node.input), y, mode: node.mode }, node.id));
        break;
      case "lanczos_down": {
        const x = view(node.input);
        const k = lanczosTaps(node.factor, node.kernel).length;
        forward.push(label({
          kind: "conv",
          x,
          y,
          weight: pref(`${node.id}.weight`),
          bias: pref(`${node.id}.bias`),
          k,
          stride: node.factor,
          pad: "replicate",
          padding: (k - node.factor) / 2,
        }, node.id));
        forwardMacs += y.c * x.c * k * k * y.h * y.w;
        break;
      }
      case "upsample":
        forward.push(label({ kind: "upsample", x: view(node.input), y, mode: node.mode }, node.id));
        break;
      case "concat": {
        let channel = 0;
        for (const x of node.inputs) {
          const s = graph.shapeOf(x);
          if (!aliases.has(x)) {
            forward.push(
              label({
                kind: "crop_copy",
                x: view(x),
                y: channelSlice(y, channel, { c: s.c, h: y.h, w: y.w }),
              }, node.id),
            );
          }
          channel += s.c;
        }
        break;
      }
      case "add":
        forward.push(
          label({ kind: "add", a: view(node.inputs[0]), b: view(node.inputs[1]), y }, node.id),
        );
        break;
    }
  }
  return { forward, forwardMacs };
}
