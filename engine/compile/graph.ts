/**
 * The compiler's intermediate form: the network's layers and the data-term stages as a list of
 * {@link Tensor}s with inferred shapes, in topological order. Every pass after shape inference
 * reads a {@link TensorGraph}.
 *
 * The passes import nothing above engine/ (tests/layering_test.ts) and read a layer only through
 * its layer kind's record (engine/layers/registry.ts): {@link GraphNode} is any node with an
 * `op` and an `id`, and the record of its `op` knows the rest.
 *
 * @module
 */
import type { NodeBase, Shape } from "../layers/kind.ts";

export type { Shape } from "../layers/kind.ts";

/** What the compiler reads of one layer of a models/ network: its kind and id (the rest is the
 * kind's business, engine/layers/). */
export type GraphNode = NodeBase;

/** What the compiler reads of a models/ `Network`. */
export interface GraphNetwork {
  /** Human-readable name, for messages. */
  readonly name: string;
  /** The layers, in topological order. */
  readonly nodes: readonly GraphNode[];
  /** Id of the node whose value is the image. */
  readonly output: string;
  /** The output height and width must be a multiple of this. */
  readonly sizeMultiple: number;
}

/** A data-term downsample stage: the fixed separable kernel, its stride and padding. */
export interface Resample {
  /** Stride (1 for a blur). */
  readonly factor: number;
  /** The 1-D kernel, applied along rows and columns. */
  readonly taps: readonly number[];
  /** Replicate padding on each side: (taps − factor) / 2. */
  readonly pad: number;
}

/** A forward tensor: a network node or a data-term stage. */
export interface Tensor {
  /** The node id, or `data.down<i>` for the i-th data-term term. */
  readonly id: string;
  /** Its shape (one fit). */
  readonly shape: Shape;
  /** Ids of the tensors it reads. */
  readonly inputs: readonly string[];
  /** The layer, for a network node. */
  readonly node?: GraphNode;
  /** The downsample, for a data-term stage. */
  readonly resample?: Resample;
}

/** The network and its data term as tensors, after shape inference. */
export interface TensorGraph {
  /** Every tensor in topological order: the network's nodes, then the data-term stages. */
  readonly order: readonly Tensor[];
  /** The network's input z. */
  readonly inputId: string;
  /** The network's output (the restored image). */
  readonly output: string;
  /** The data term's output: what the loss compares with the observation. */
  readonly pred: string;
  /** The data term ends with a mask (applied in the loss). */
  readonly hasMask: boolean;
  /** The shape of a tensor by id. */
  readonly shapeOf: (id: string) => Shape;
}

/** A {@link TensorGraph} over `order`. */
export function tensorGraph(
  order: readonly Tensor[],
  ends: { inputId: string; output: string; pred: string; hasMask: boolean },
): TensorGraph {
  const byId = new Map(order.map((t) => [t.id, t]));
  return { order, ...ends, shapeOf: (id) => byId.get(id)!.shape };
}
