/**
 * Pass 1, shape inference: every layer's output shape at the fit's size (PyTorch's size rules),
 * refusing what the network cannot take (a second input, reflection padding wider than its
 * input, an add of unequal sizes, an empty tensor, an output of another size than asked).
 *
 * @module
 */
import type { GraphNetwork, Shape, Tensor } from "./graph.ts";

/** Output size of a conv with padding p on each side (PyTorch's rule). */
function convOut(n: number, k: number, p: number, stride: number): number {
  return Math.floor((n + 2 * p - k) / stride) + 1;
}

/**
 * The network's nodes as tensors, in network order, for an output of `height` × `width`;
 * `channels` is each node's channel count (models/count.ts `inferChannels`), `where` starts
 * every message.
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
    const c = channels.get(node.id)!;
    let shape: Shape;
    let inputs: string[];
    switch (node.op) {
      case "input": {
        if (inputId !== undefined) {
          throw new RangeError(
            `${where}: expected one input node but found ${inputId} and ${node.id}`,
          );
        }
        inputId = node.id;
        if (height % node.downscale !== 0 || width % node.downscale !== 0) {
          throw new RangeError(
            `${where}: expected height and width divisible by the input downscale ${node.downscale} but received ${height}×${width}`,
          );
        }
        shape = { c, h: height / node.downscale, w: width / node.downscale };
        inputs = [];
        break;
      }
      case "conv": {
        const x = shapeOf(node.input);
        const p = (node.kernel - 1) / 2;
        if (node.pad === "reflection" && (p >= x.h || p >= x.w)) {
          throw new RangeError(
            `${where}: conv ${node.id} needs reflection padding ${p} but its input is ${x.h}×${x.w}; expected height and width > ${p} (use a larger image or fewer levels)`,
          );
        }
        shape = {
          c,
          h: convOut(x.h, node.kernel, p, node.stride),
          w: convOut(x.w, node.kernel, p, node.stride),
        };
        inputs = [node.input];
        break;
      }
      case "bn":
      case "act":
        shape = { ...shapeOf(node.input) };
        inputs = [node.input];
        break;
      case "pool": {
        const x = shapeOf(node.input);
        shape = { c, h: Math.floor(x.h / 2), w: Math.floor(x.w / 2) };
        inputs = [node.input];
        break;
      }
      case "lanczos_down": {
        const x = shapeOf(node.input);
        shape = { c, h: Math.floor(x.h / node.factor), w: Math.floor(x.w / node.factor) };
        inputs = [node.input];
        break;
      }
      case "upsample": {
        const x = shapeOf(node.input);
        shape = { c, h: 2 * x.h, w: 2 * x.w };
        inputs = [node.input];
        break;
      }
      case "concat": {
        const xs = node.inputs.map(shapeOf);
        shape = { c, h: Math.min(...xs.map((s) => s.h)), w: Math.min(...xs.map((s) => s.w)) };
        inputs = [...node.inputs];
        break;
      }
      case "add": {
        const [a, b] = node.inputs.map(shapeOf);
        if (a!.h !== b!.h || a!.w !== b!.w) {
          throw new RangeError(
            `${where}: expected add ${node.id} to sum equal sizes but received ${a!.h}×${
              a!.w
            } and ${b!.h}×${b!.w}`,
          );
        }
        shape = { ...a! };
        inputs = [...node.inputs];
        break;
      }
    }
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
