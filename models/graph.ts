/**
 * Networks as plain data: a topologically ordered list of layer nodes. No GPU objects here,
 * so a network can be printed, counted, tested and compiled by more than one engine backend.
 *
 * Tensors are NCHW float32. Every node has a unique `id`; `input`/`inputs` name earlier nodes.
 *
 * @module
 */
import type { BuiltinLayerNode } from "../engine/layers/registry.ts";

/** Pointwise nonlinearities. `leaky_relu` uses slope 0.2 (reference `act('LeakyReLU')`). */
export type Activation = "leaky_relu" | "relu" | "swish" | "elu" | "sigmoid" | "none";

/** How a convolution pads: `reflection` (ReflectionPad2d((k-1)/2)), `zero`, or `replicate`. */
export type PadMode = "reflection" | "zero" | "replicate";

/**
 * One layer of a network: a node of one of the built-in layer kinds, whose records (options,
 * shape rule, parameters, plan steps, description, ONNX form) live in engine/layers/, one file
 * per kind: `input` (z), `conv`, `bn`, `act`, `pool`, `lanczos_down`, `upsample`, `concat`, `add`.
 */
export type LayerNode = BuiltinLayerNode;

/** A network: nodes in topological order; `output` names the node whose value is the image. */
export interface Network {
  /** Human-readable name, e.g. `skip(32→3, nd=[128×5], ns=[4×5])`. */
  readonly name: string;
  /** The layers, in topological order. */
  readonly nodes: readonly LayerNode[];
  /** Id of the node whose value is the image. */
  readonly output: string;
  /** Channels of z. */
  readonly inputChannels: number;
  /** Channels of the output image. */
  readonly outputChannels: number;
  /**
   * The input height and width must be a multiple of this (2^levels for skip/hourglass);
   * dipFit pads the image up to it and crops the result back.
   */
  readonly sizeMultiple: number;
}
