/**
 * Pass 1, shape inference: every layer's output shape at the fit's size (its layer kind's rule),
 * refusing what the network cannot take (a second input, reflection padding wider than its
 * input, an add of unequal sizes, an empty tensor, an output of another size than asked).
 *
 * @module
 */
import { layerKind } from "../layers/registry.ts";
import type { GraphNetwork, Shape, Tensor } from "./graph.ts";

/**
 * The network's nodes as tensors, in network order, for an output of `height` × `width`;
 * `channels` is each node's channel count (models/count.ts `inferChannels`), `where` starts
 * every message. Each node's rule is its layer kind's `shape` (engine/layers/).
 */
export function inferShapes(
  network: GraphNetwork,
  channels: ReadonlyMap<string, number>,
  height: number,
  width: number,
  where: string,
): { tensors: Tensor[]; inputId: string } {
  const tensors = new Map<string, Tensor>();
  const shapeOf = (id: string): Shape => tensors.get(id)!.shape;
  let inputId: string | undefined;
  for (const node of network.nodes) {
    const kind = layerKind(node.op, where);
    if (node.op === "input") {
      if (inputId !== undefined) {
        throw new RangeError(
          `${where}: expected one input node but found ${inputId} and ${node.id}`,
        );
      }
      inputId = node.id;
    }
    const inputs = [...kind.inputs(node)];
    const shape = kind.shape(node, inputs.map(shapeOf), channels.get(node.id)!, {
      height,
      width,
      where,
    });
    if (shape.h < 1 || shape.w < 1) {
      throw new RangeError(
        `${where}: node ${node.id} would be ${shape.h}×${shape.w}; expected a larger image`,
      );
    }
    tensors.set(node.id, { id: node.id, shape, inputs, node });
  }
  if (inputId === undefined) {
    throw new RangeError(`${where}: expected an input node but found none`);
  }
  const out = shapeOf(network.output);
  if (out.h !== height || out.w !== width) {
    throw new RangeError(
      `${where}: expected the output to be ${height}×${width} but it is ${out.h}×${out.w}; use a size that is a multiple of ${network.sizeMultiple}`,
    );
  }
  return { tensors: [...tensors.values()], inputId };
}
