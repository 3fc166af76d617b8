/**
 * A {@link Network} with its weights and its input z as an ONNX model (opset 17): the graph
 * needs no input (z is stored inside as an initializer that a graph input of the same name may
 * override) and its one output, `image`, is the generator's output as NCHW float in [0, 1].
 *
 * Layer by layer, as each layer kind's `onnx.export` writes it (engine/layers/): conv → Conv (reflection/replicate padding as a Pad node before it, zero
 * padding as Conv's pads); bn → InstanceNormalization + the activation (dipline's BN normalises
 * each image with its own statistics, which is InstanceNormalization for one image, ε 1e-5);
 * act → LeakyRelu (α 0.2) / Relu / Sigmoid / Elu / x·Sigmoid(x) for swish; pool →
 * AveragePool/MaxPool 2×2; lanczos_down → Pad(edge) + strided Conv; upsample → Resize ×2
 * (nearest: asymmetric/floor; bilinear: linear, half_pixel = PyTorch's align_corners=False);
 * concat → centre-crop Slices where sizes differ, then Concat; add → Add.
 *
 * @example
 * ```ts
 * import { exportOnnx, skip } from "./mod.ts";
 * const net = skip({ inputChannels: 4, channelsDown: [8, 8], channelsSkip: [2, 2] });
 * // params: countParams(net) floats in paramTensors order (e.g. engine/init.ts initParams)
 * // z: 4 × 16 × 16 floats
 * // const bytes = exportOnnx(net, { params, z, height: 16, width: 16 });
 * ```
 *
 * @module
 */
import type { onnx as O } from "onnx-proto";
import type { Activation, LayerNode, Network } from "./graph.ts";
import type { Shape } from "../engine/layers/kind.ts";
import { layerKind } from "../engine/layers/registry.ts";
import { inferChannels, paramTensors } from "./count.ts";
import {
  attr,
  encodeModel,
  floatTensor,
  int64Tensor,
  ONNX_IR_VERSION,
  ONNX_METADATA,
  ONNX_OPSET,
  tensorValueInfo,
} from "./onnx.ts";

/** Padding of the output image that a consumer crops away (dipFit's reflect padding). */
export interface CropBox {
  /** Rows to cut at the top. */
  readonly top: number;
  /** Columns to cut at the left. */
  readonly left: number;
  /** Rows to cut at the bottom. */
  readonly bottom: number;
  /** Columns to cut at the right. */
  readonly right: number;
}

/** What {@link exportOnnx} writes besides the graph. */
export interface OnnxExportOptions {
  /** The weights, `countParams(network)` floats in `paramTensors(network)` order. */
  readonly params: Float32Array;
  /** z: inputChannels × (height / downscale) × (width / downscale) floats, planar. */
  readonly z: Float32Array;
  /** Height of the output image. */
  readonly height: number;
  /** Width of the output image. */
  readonly width: number;
  /** Padding to crop from the output, stored in the metadata (`dipline.crop`). */
  readonly crop?: CropBox;
  /** Graph name; default the network's name. */
  readonly graphName?: string;
  /** More `metadata_props` entries. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Free text stored as the model's doc string. */
  readonly docString?: string;
}

/** The name of the exported graph's output. */
export const ONNX_OUTPUT = "image";
/** The name of z: an initializer, and an optional graph input that overrides it. */
export const ONNX_INPUT = "z";

/**
 * Serialises a network, its weights and z as an ONNX model.
 *
 * @throws {RangeError} when `params` or `z` has the wrong length, or the size does not fit the
 * network
 */
export function exportOnnx(network: Network, options: OnnxExportOptions): Uint8Array {
  return encodeModel(onnxModel(network, options));
}

/** The ONNX model message of {@link exportOnnx}, before encoding. */
export function onnxModel(network: Network, options: OnnxExportOptions): O.IModelProto {
  const where = `exportOnnx(${network.name})`;
  const channels = inferChannels(network);
  const tensors = paramTensors(network);
  const total = tensors.reduce((a, t) => a + t.size, 0);
  if (options.params.length !== total) {
    throw new RangeError(
      `${where}: expected ${total} parameters but received ${options.params.length}`,
    );
  }
  const weights = new Map<string, { dims: readonly number[]; data: Float32Array }>();
  let offset = 0;
  for (const t of tensors) {
    weights.set(t.name, {
      dims: t.shape,
      data: options.params.subarray(offset, offset + t.size),
    });
    offset += t.size;
  }

  const nodes: O.INodeProto[] = [];
  const initializers: O.ITensorProto[] = [];
  const shapes = new Map<string, Shape>();
  const tensorName = (id: string) => {
    const node = network.nodes.find((n) => n.id === id);
    if (node?.op === "input") return ONNX_INPUT;
    return id === network.output ? ONNX_OUTPUT : id;
  };
  const weight = (name: string) => {
    const w = weights.get(name);
    if (!w) throw new Error(`${where}: internal error, no parameter ${name}`);
    initializers.push(floatTensor(name, w.dims, w.data));
    return name;
  };
  const node = (
    opType: string,
    name: string,
    input: string[],
    output: string,
    attribute: O.IAttributeProto[] = [],
  ) => nodes.push({ opType, name, input, output: [output], attribute });
  /** Emits the activation `act` of `x` into `y`; returns false for "none". */
  const activation = (act: Activation, name: string, x: string, y: string): boolean => {
    switch (act) {
      case "leaky_relu":
        node("LeakyRelu", name, [x], y, [attr.float("alpha", 0.2)]); // models/graph.ts: slope 0.2
        return true;
      case "relu":
        node("Relu", name, [x], y);
        return true;
      case "sigmoid":
        node("Sigmoid", name, [x], y);
        return true;
      case "elu":
        node("Elu", name, [x], y, [attr.float("alpha", 1)]);
        return true;
      case "swish":
        node("Sigmoid", `${name}.sigmoid`, [x], `${y}.sigmoid`);
        node("Mul", name, [x, `${y}.sigmoid`], y);
        return true;
      case "none":
        return false;
    }
  };
  const pad = (
    name: string,
    x: string,
    p: number,
    mode: "reflect" | "edge",
  ): string => {
    const pads = `${name}.pads`;
    initializers.push(int64Tensor(pads, [0, 0, p, p, 0, 0, p, p]));
    node("Pad", name, [x, pads], `${name}.out`, [attr.string("mode", mode)]);
    return `${name}.out`;
  };

  for (const n of network.nodes) {
    const kind = layerKind(n.op, where);
    if (!kind.onnx) {
      throw new RangeError(
        `${where}: expected layers with an ONNX form but ${n.id} is a ${n.op}, which has none`,
      );
    }
    kind.onnx.export(n, {
      where,
      out: tensorName(n.id),
      tensorName,
      shapeOf: (id) => shapes.get(id)!,
      height: options.height,
      width: options.width,
      z: options.z,
      weight: (suffix) => weight(`${n.id}.${suffix}`),
      node: (opType, name, input, output, attribute) =>
        node(opType, name, input, output, attribute as O.IAttributeProto[] | undefined),
      floats: (name, dims, data) => initializers.push(floatTensor(name, dims, data)),
      ints: (name, values) => initializers.push(int64Tensor(name, values)),
      activation: (act, name, x, y) => activation(act as Activation, name, x, y),
      pad,
      attr,
    });
    const inputs = kind.inputs(n).map((id) => shapes.get(id)!);
    shapes.set(
      n.id,
      kind.shape(n, inputs, channels.get(n.id)!, {
        height: options.height,
        width: options.width,
        where,
      }),
    );
  }

  const input = network.nodes.find((n): n is Extract<LayerNode, { op: "input" }> =>
    n.op === "input"
  );
  if (!input) throw new RangeError(`${where}: expected an input node but found none`);
  const zShape = shapes.get(input.id)!;
  const outShape = shapes.get(network.output)!;
  if (outShape.h !== options.height || outShape.w !== options.width) {
    throw new RangeError(
      `${where}: expected the output to be ${options.height}×${options.width} but it is ${outShape.h}×${outShape.w}; use a size that is a multiple of ${network.sizeMultiple}`,
    );
  }
  const metadata: Record<string, string> = {
    [ONNX_METADATA.name]: network.name,
    [ONNX_METADATA.sizeMultiple]: String(network.sizeMultiple),
    [ONNX_METADATA.downscale]: String(input.downscale),
    ...(options.crop ? { [ONNX_METADATA.crop]: JSON.stringify(options.crop) } : {}),
    ...options.metadata,
  };
  return {
    irVersion: ONNX_IR_VERSION,
    producerName: "dipline",
    producerVersion: "0.1.0",
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    ...(options.docString ? { docString: options.docString } : {}),
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: options.graphName ?? network.name,
      node: nodes,
      initializer: initializers,
      input: [tensorValueInfo(ONNX_INPUT, [1, zShape.c, zShape.h, zShape.w])],
      output: [tensorValueInfo(ONNX_OUTPUT, [1, outShape.c, outShape.h, outShape.w])],
    },
  };
}
