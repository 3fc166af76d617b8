/**
 * Channel inference and parameter tensors of a {@link Network}: what each layer owns, in the
 * order the compiler lays parameters out, and the total count.
 *
 * @module
 */
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
   * Lanczos conv's bias); `lanczos`: the Lanczos kernel on the channel diagonal.
   */
  readonly init: "uniform" | "one" | "zero" | "lanczos";
  /** cin·k·k for conv tensors; 0 otherwise. */
  readonly fanIn: number;
}

/** The kernel width of the reference Lanczos `Downsampler` at phase 0.5: (a·2f+1) − 1. */
export function lanczosKernelSize(factor: number, kernel: "lanczos2" | "lanczos3"): number {
  const support = kernel === "lanczos2" ? 2 : 3;
  return 2 * support * factor;
}

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
    let c: number;
    switch (node.op) {
      case "input":
        c = node.channels;
        break;
      case "conv":
        get(node, node.input);
        c = node.outChannels;
        break;
      case "bn":
      case "act":
      case "pool":
      case "lanczos_down":
      case "upsample":
        c = get(node, node.input);
        break;
      case "concat":
        c = node.inputs.reduce((sum, id) => sum + get(node, id), 0);
        break;
      case "add": {
        const [a, b] = node.inputs.map((id) => get(node, id));
        if (a !== b) {
          throw new RangeError(
            `${network.name}: expected add ${node.id} to sum equal channel counts but received ${a} and ${b}`,
          );
        }
        c = a!;
        break;
      }
    }
    channels.set(node.id, c);
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
  const t = (
    suffix: string,
    shape: number[],
    init: ParamTensor["init"],
    fanIn = 0,
  ): ParamTensor => ({
    name: `${node.id}.${suffix}`,
    node: node.id,
    size: shape.reduce((a, b) => a * b, 1),
    shape,
    init,
    fanIn,
  });
  switch (node.op) {
    case "conv": {
      const fanIn = inChannels * node.kernel * node.kernel;
      const out = [
        t("weight", [node.outChannels, inChannels, node.kernel, node.kernel], "uniform", fanIn),
      ];
      if (node.bias) out.push(t("bias", [node.outChannels], "uniform", fanIn));
      return out;
    }
    case "bn":
      return [t("weight", [inChannels], "one"), t("bias", [inChannels], "zero")];
    case "lanczos_down": {
      // Reference Downsampler: a full nn.Conv2d(n, n, K, stride=f) with bias, trainable.
      const k = lanczosKernelSize(node.factor, node.kernel);
      return [
        t("weight", [inChannels, inChannels, k, k], "lanczos"),
        t("bias", [inChannels], "zero"),
      ];
    }
    default:
      return [];
  }
}

/** Every parameter tensor of the network in layout order (node order, weight before bias). */
export function paramTensors(network: Network): ParamTensor[] {
  const channels = inferChannels(network);
  const out: ParamTensor[] = [];
  for (const node of network.nodes) {
    if (node.op === "conv" || node.op === "bn" || node.op === "lanczos_down") {
      out.push(...nodeParams(node, channels.get(node.input)!));
    }
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
