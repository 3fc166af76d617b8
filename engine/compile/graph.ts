/**
 * The compiler's intermediate form: the network's layers and the data-term stages as a list of
 * {@link Tensor}s with inferred shapes, in topological order. Every pass after shape inference
 * reads a {@link TensorGraph}.
 *
 * The passes import nothing above engine/ (tests/layering_test.ts), so the layer vocabulary they
 * read is declared here: {@link GraphNode} is what the compiler reads of a models/ `LayerNode`.
 * engine/compile.ts hands a models/ network's nodes to the passes, and the type checker holds
 * the two unions together there.
 *
 * @module
 */
import type { Activation } from "../plan.ts";

/** What the compiler reads of one layer of a models/ network (models/graph.ts `LayerNode`). */
export type GraphNode =
  | { readonly op: "input"; readonly id: string; readonly downscale: number }
  | {
    readonly op: "conv";
    readonly id: string;
    readonly input: string;
    readonly kernel: number;
    readonly stride: number;
    readonly pad: "reflection" | "zero" | "replicate";
    readonly bias: boolean;
  }
  | { readonly op: "bn"; readonly id: string; readonly input: string; readonly act: Activation }
  | { readonly op: "act"; readonly id: string; readonly input: string; readonly act: Activation }
  | {
    readonly op: "pool";
    readonly id: string;
    readonly input: string;
    readonly mode: "avg" | "max";
  }
  | {
    readonly op: "lanczos_down";
    readonly id: string;
    readonly input: string;
    readonly factor: number;
    readonly kernel: "lanczos2" | "lanczos3";
  }
  | {
    readonly op: "upsample";
    readonly id: string;
    readonly input: string;
    readonly mode: "nearest" | "bilinear";
  }
  | { readonly op: "concat"; readonly id: string; readonly inputs: readonly string[] }
  | { readonly op: "add"; readonly id: string; readonly inputs: readonly [string, string] };

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

/** Channels × height × width of one fit's tensor. */
export interface Shape {
  /** Channels. */
  c: number;
  /** Height. */
  h: number;
  /** Width. */
  w: number;
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
