/**
 * Channel inference and parameter tensors of a {@link Network}: what each layer owns (its layer
 * kind's `channels` and `params`, engine/layers/), in the order the compiler lays parameters
 * out, and the total count.
 *
 * @module
 */
import { layerKind } from "../engine/layers/registry.ts";
import type { LayerNode, Network } from "./graph.ts";

/** One parameter tensor of a layer and its PyTorch-default initialisation rule. */
export interface ParamTensor {
  /** `${node id}.weight` or `${node id}.bias`. */
  readonly name: string;
  /** The node owning it. */
  readonly node: string;
  /** Number of floats. */
  readonly size: number;
  /** PyTorch shape: OIHW for conv weights, [C] for biases and BN. */
  readonly shape: readonly number[];
  /**
   * `uniform`: U(±1/√fanIn) (conv weight and bias); `one`/`zero`: BN weight/bias (and the
   * Lanczos conv's bias); `lanczos`: the Lanczos kernel on the channel diagonal; `values`: what
   * the layer kind's `initValues` gives (engine/layers/).
   */
  readonly init: "uniform" | "one" | "zero" | "lanczos" | "values";
  /** cin·k·k for conv tensors; 0 otherwise. */
  readonly fanIn: number;
}

export { lanczosKernelSize } from "../engine/layers/lanczos_down.ts";

/** Channels of every node's output, by id. Throws on dangling or duplicate ids. */
export function inferChannels(network: Network): Map<string, number> {
  const channels = new Map<string, number>();
  const get = (node: LayerNode, id: string): number => {
    const c = channels.get(id);
    if (c === undefined) {
      throw new RangeError(
        `${network.name}: expected node ${node.id} to read an earlier node but received unknown input ${id}`,
      );
    }
    return c;
  };
  for (const node of network.nodes) {
    if (channels.has(node.id)) {
      throw new RangeError(`${network.name}: expected unique node ids but ${node.id} repeats`);
    }
    const kind = layerKind(node.op, network.name);
    const inputs = kind.inputs(node).map((id) => get(node, id));
    channels.set(node.id, kind.channels(node, inputs, network.name));
  }
  if (!channels.has(network.output)) {
    throw new RangeError(
      `${network.name}: expected output to name a node but received ${network.output}`,
    );
  }
  return channels;
}

/** The parameter tensors of one node whose input has `inChannels` channels. */
export function nodeParams(node: LayerNode, inChannels: number): ParamTensor[] {
  const params = layerKind(node.op).params?.(node, inChannels) ?? [];
  return params.map((p) => ({
    name: `${node.id}.${p.suffix}`,
    node: node.id,
    size: p.shape.reduce((a, b) => a * b, 1),
    shape: [...p.shape],
    init: p.init,
    fanIn: p.fanIn,
  }));
}

/** Every parameter tensor of the network in layout order (node order, weight before bias). */
export function paramTensors(network: Network): ParamTensor[] {
  const channels = inferChannels(network);
  const out: ParamTensor[] = [];
  for (const node of network.nodes) {
    const first = layerKind(node.op).inputs(node)[0];
    out.push(...nodeParams(node, first === undefined ? 0 : channels.get(first)!));
  }
  return out;
}
/**
 * Number of trainable parameters (BN counted as 2 per channel, as PyTorch's
 * `sum(p.numel() for p in net.parameters())`).
 *
 * @example
 * ```ts
 * import { countParams, skip } from "./mod.ts";
 * countParams(skip()); // 2,217,831
 * ```
 */
export function countParams(network: Network): number {
  return paramTensors(network).reduce((sum, p) => sum + p.size, 0);
}
