/**
 * What a layer kind is: one {@link LayerKind} record says everything the engine and models/
 * need to know of a kind of network node — which nodes it reads, its channel and shape rules,
 * its parameter tensors, the plan steps it lowers to (forward and backward), its line in
 * `describeNetwork`, and its ONNX export. The compile passes, models/count.ts, describe.ts and
 * onnx_export.ts read layers only through these records (engine/layers/registry.ts), so a new
 * kind is one record file plus one registry entry, and one kernel per backend for each step
 * kind it emits that the plan format does not have yet.
 *
 * Plain data and pure functions: no backend, no GPU object (tfjs-core's split: the layer is the
 * op, the backends' kernel registries hold the kernels).
 *
 * @module
 */
import type { ParamRef, StatsRef, Step, View } from "../plan.ts";

/** Channels × height × width of one fit's tensor. */
export interface Shape {
  /** Channels. */
  c: number;
  /** Height. */
  h: number;
  /** Width. */
  w: number;
}

/** What every layer node has: its kind (`op`) and a unique id. */
export interface NodeBase {
  /** The layer kind, the key of its {@link LayerKind} record. */
  readonly op: string;
  /** Unique within the network. */
  readonly id: string;
}

/** One parameter tensor a layer owns, before it is named and placed. */
export interface LayerParam {
  /** `weight` or `bias`: the tensor is named `${node id}.${suffix}`. */
  readonly suffix: string;
  /** PyTorch shape (OIHW for conv weights, [C] for biases and BN). */
  readonly shape: readonly number[];
  /**
   * PyTorch's default initialisation: `uniform` U(±1/√fanIn), `one`/`zero` constants; any other
   * name (`lanczos`, `values`) means explicit values from the record's `initValues`.
   */
  readonly init: "uniform" | "one" | "zero" | "lanczos" | "values";
  /** cin·k·k for conv tensors; 0 otherwise. */
  readonly fanIn: number;
}

/** What a shape rule knows of the fit besides the node's inputs. */
export interface ShapeContext {
  /** Height of the network's output (the fit's size). */
  readonly height: number;
  /** Width of the network's output. */
  readonly width: number;
  /** Starts every message (`compilePlan(name)`, `exportOnnx(name)`). */
  readonly where: string;
}

/** What a layer's forward lowering reads and emits (engine/compile/forward.ts builds it). */
export interface ForwardContext {
  /** The node's output view. */
  readonly y: View;
  /** The view of a forward tensor by id. */
  readonly view: (id: string) => View;
  /** The shape of a tensor by id. */
  readonly shapeOf: (id: string) => Shape;
  /** The ref of one of the node's parameter tensors (`weight`, `bias`). */
  readonly param: (suffix: string) => ParamRef;
  /** The node's saved statistics (a record with `stats: true`). */
  readonly stats: () => StatsRef;
  /** Whether tensor `id` is a channel slice of a concat's output (written in place). */
  readonly aliased: (id: string) => boolean;
  /** Appends a step, labelled with the node's id. */
  readonly emit: (step: Step) => void;
  /** Counts forward multiply-adds of one fit (GFLOP/s figures). */
  readonly macs: (n: number) => void;
}

/** The gradient of a tensor (all its channels) by id. */
export type GradView = (id: string) => View;
/** `shape` channels of a tensor's gradient from `channel` on. */
export type GradSlice = (id: string, channel: number, shape: Shape) => View;

/** What a layer's backward lowering reads and emits (engine/compile/backward.ts builds it). */
export interface BackwardContext {
  /** The node's output shape. */
  readonly shape: Shape;
  /** The view of a forward tensor by id. */
  readonly view: (id: string) => View;
  /** The shape of a tensor by id. */
  readonly shapeOf: (id: string) => Shape;
  /** The ref of one of the node's parameter tensors. */
  readonly param: (suffix: string) => ParamRef;
  /** The node's saved statistics (a record with `stats: true`). */
  readonly stats: () => StatsRef;
  /** Whether tensor `id` is a channel slice of a concat's output. */
  readonly aliased: (id: string) => boolean;
  /** The node's first forward step (a conv's backward reuses its geometry). */
  readonly forwardStep: () => Step | undefined;
  /** Whether tensor `id` takes a gradient (every tensor but the input z). */
  readonly needsGrad: (id: string) => boolean;
  /**
   * A step that writes the gradient of input `x` from the node's output gradient; `accumulate`
   * is false for the first writer of x's gradient, true for later ones. Call in the order the
   * steps run.
   */
  readonly gradientTo: (
    x: string,
    build: (grad: GradView, gslice: GradSlice, accumulate: boolean) => Step,
  ) => void;
  /** A step that reads the node's output gradient and writes only parameter gradients. */
  readonly paramGradient: (build: (grad: GradView, gslice: GradSlice) => Step) => void;
  /** Starts every message. */
  readonly where: string;
}

/** An ONNX attribute, made by {@link OnnxExportContext}'s `attr` (models/onnx.ts `attr`). */
export type OnnxAttribute = { readonly name?: string | null };

/** What a layer's ONNX export reads and writes (models/onnx_export.ts builds it). */
export interface OnnxExportContext {
  /** Starts every message. */
  readonly where: string;
  /** The name of the node's output tensor in the graph. */
  readonly out: string;
  /** The graph name of tensor `id`. */
  readonly tensorName: (id: string) => string;
  /** The shape of an earlier tensor. */
  readonly shapeOf: (id: string) => Shape;
  /** Output height and width of the exported network, and the stored z. */
  readonly height: number;
  /** Output width. */
  readonly width: number;
  /** z, planar. */
  readonly z: Float32Array;
  /** Stores one of the node's parameter tensors as an initializer; returns its name. */
  readonly weight: (suffix: string) => string;
  /** Adds a graph node. */
  readonly node: (
    opType: string,
    name: string,
    input: string[],
    output: string,
    attribute?: OnnxAttribute[],
  ) => void;
  /** Adds a float initializer. */
  readonly floats: (name: string, dims: readonly number[], data: Float32Array) => void;
  /** Adds an int64 initializer. */
  readonly ints: (name: string, values: readonly number[]) => void;
  /** Emits the activation `act` of x into y; false for `none` (nothing emitted). */
  readonly activation: (act: string, name: string, x: string, y: string) => boolean;
  /** A Pad node of p on each side of H and W; returns its output name. */
  readonly pad: (name: string, x: string, p: number, mode: "reflect" | "edge") => string;
  /** Attribute makers. */
  readonly attr: {
    readonly float: (name: string, value: number) => OnnxAttribute;
    readonly int: (name: string, value: number) => OnnxAttribute;
    readonly ints: (name: string, values: number[]) => OnnxAttribute;
    readonly string: (name: string, value: string) => OnnxAttribute;
  };
}

/**
 * A layer kind: everything about one kind of network node, in one record. `N` is the node's
 * type (its options); the registry (engine/layers/registry.ts) keys records by `op`.
 */
export interface LayerKind<N extends NodeBase = NodeBase> {
  /** The node's `op`. */
  readonly op: N["op"];
  /** One line: what the layer computes (for docs and `explain()`). */
  readonly summary: string;
  /** Ids of the nodes it reads, in order (none for the input). */
  readonly inputs: (node: N) => readonly string[];
  /**
   * Output channels from the inputs' channels; throws a RangeError starting with `where` (the
   * network's name) when the inputs do not fit.
   */
  readonly channels: (node: N, inputs: readonly number[], where: string) => number;
  /** Output shape (channels `c` already inferred); throws a RangeError on what cannot run. */
  readonly shape: (node: N, inputs: readonly Shape[], c: number, ctx: ShapeContext) => Shape;
  /**
   * Size of the output relative to the largest of its inputs, as a divisor: a stride-2 conv 2,
   * a ×2 upsampling 0.5 (the ONNX import's size multiple). Absent: 1.
   */
  readonly downscale?: (node: N) => number;
  /** The parameter tensors, in layout order (weight before bias); absent: none. */
  readonly params?: (node: N, inChannels: number) => readonly LayerParam[];
  /** Explicit initial values of a parameter whose init is not uniform/one/zero. */
  readonly initValues?: (node: N, param: LayerParam) => Float32Array;
  /** Whether the node keeps per-(fit, channel) statistics in the `stats` arena (BN). */
  readonly stats?: boolean;
  /** Emits the node's forward steps. */
  readonly forward: (node: N, ctx: ForwardContext) => void;
  /** Emits the node's gradient steps (weight gradients first, then its inputs'). */
  readonly backward: (node: N, ctx: BackwardContext) => void;
  /** The detail column of `describeNetwork` (options and inputs). */
  readonly describe: (node: N) => string;
  /** Writes the node as ONNX nodes; absent: the kind cannot be exported. */
  readonly onnx?: { readonly export: (node: N, ctx: OnnxExportContext) => void };
}

/** Checks a record's type against its node type: `defineLayer<ConvNode>({ ... })`. */
export function defineLayer<N extends NodeBase>(kind: LayerKind<N>): LayerKind<N> {
  return kind;
}

/** `[node.input]`: the inputs of a one-input layer. */
export function oneInput(node: { readonly input: string }): readonly string[] {
  return [node.input];
}
