/**
 * ONNX as dipline reads and writes it: the protobuf messages of `onnx-proto` (ONNX's own
 * onnx.proto compiled with protobufjs), the versions dipline writes, and the few helpers the
 * exporter (models/onnx_export.ts) and the importer (models/onnx_import.ts) share. No
 * hand-written bytes: every file goes through `onnx.ModelProto.encode`/`decode`.
 *
 * @module
 */
import onnxProto from "onnx-proto";

/** The generated ONNX message classes (`onnx.ModelProto`, `onnx.NodeProto`, …). */
export const onnx = onnxProto.onnx;

import type { onnx as O } from "onnx-proto";

/** The default-domain opset dipline writes (Resize, Pad with input pads, InstanceNormalization). */
export const ONNX_OPSET = 17;

/** The IR version written: 8 (ONNX 1.10–1.12), the newest the compiled schema knows. */
export const ONNX_IR_VERSION = 8;

/** Metadata keys dipline writes into `metadata_props`. */
export const ONNX_METADATA = {
  /** JSON `{ top, left, bottom, right }`: the padding to crop from the output image. */
  crop: "dipline.crop",
  /** The network's name (e.g. `skip(32→3, …)`). */
  name: "dipline.network",
  /** The network's size multiple (2^levels). */
  sizeMultiple: "dipline.sizeMultiple",
  /** How much smaller z is than the output (the Deep Decoder's 2^L; 1 for skip nets). */
  downscale: "dipline.downscale",
} as const;

/** A protobuf int64 as protobufjs returns it: a number, or a Long when `long` is installed. */
export type Int64 = number | { toNumber(): number };

/** An int64 field as a JavaScript number. */
export function int64(value: Int64 | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === "number" ? value : value.toNumber();
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bytesOf(data: Float32Array | BigInt64Array): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  if (!LITTLE_ENDIAN) {
    const size = data.BYTES_PER_ELEMENT;
    for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  }
  return bytes;
}

/** A float32 tensor (raw little-endian data, as ONNX stores weights). */
export function floatTensor(
  name: string,
  dims: readonly number[],
  data: Float32Array,
): O.ITensorProto {
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length) {
    throw new RangeError(
      `floatTensor: expected ${size} values for ${name} [${
        dims.join(", ")
      }] but received ${data.length}`,
    );
  }
  return {
    name,
    dims: [...dims],
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: bytesOf(data),
  };
}

/** An int64 tensor (Pad's pads, Slice's starts/ends/axes). */
export function int64Tensor(name: string, values: readonly number[]): O.ITensorProto {
  return {
    name,
    dims: [values.length],
    dataType: onnx.TensorProto.DataType.INT64,
    rawData: bytesOf(BigInt64Array.from(values.map((v) => BigInt(v)))),
  };
}

/** The values of a FLOAT tensor (raw data or float_data). */
export function readFloatTensor(tensor: O.ITensorProto, where: string): Float32Array {
  if (tensor.dataType !== onnx.TensorProto.DataType.FLOAT) {
    const type = onnx.TensorProto.DataType[tensor.dataType ?? 0] ?? String(tensor.dataType);
    throw new RangeError(`${where}: expected a FLOAT tensor but ${tensor.name} is ${type}`);
  }
  if ((tensor.externalData?.length ?? 0) > 0) {
    throw new RangeError(
      `${where}: ${tensor.name} keeps its data in an external file, which dipline does not read`,
    );
  }
  const size = (tensor.dims ?? []).reduce<number>((a, b) => a * int64(b), 1);
  let out: Float32Array;
  if (tensor.rawData && tensor.rawData.length > 0) {
    const raw = tensor.rawData;
    out = new Float32Array(raw.length / 4);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  } else out = Float32Array.from(tensor.floatData ?? []);
  if (out.length !== size) {
    throw new RangeError(
      `${where}: expected ${size} values in ${tensor.name} but it holds ${out.length}`,
    );
  }
  return out;
}

/** The values of an integer tensor (INT64 or INT32) as numbers. */
export function readIntTensor(tensor: O.ITensorProto, where: string): number[] {
  const { INT64, INT32 } = onnx.TensorProto.DataType;
  if (tensor.dataType !== INT64 && tensor.dataType !== INT32) {
    throw new RangeError(`${where}: expected an integer tensor but ${tensor.name} is not one`);
  }
  const raw = tensor.rawData;
  if (raw && raw.length > 0) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const width = tensor.dataType === INT64 ? 8 : 4;
    return Array.from(
      { length: raw.length / width },
      (_, i) => width === 8 ? Number(view.getBigInt64(8 * i, true)) : view.getInt32(4 * i, true),
    );
  }
  return tensor.dataType === INT64
    ? (tensor.int64Data ?? []).map((v) => int64(v as Int64))
    : [...(tensor.int32Data ?? [])];
}

/** Attribute constructors for {@link onnx.NodeProto}s. */
export const attr = {
  int(name: string, i: number): O.IAttributeProto {
    return { name, type: onnx.AttributeProto.AttributeType.INT, i };
  },
  ints(name: string, ints: readonly number[]): O.IAttributeProto {
    return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: [...ints] };
  },
  float(name: string, f: number): O.IAttributeProto {
    return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f };
  },
  string(name: string, s: string): O.IAttributeProto {
    return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(s) };
  },
};

/** A float32 NCHW value description with fixed dimensions. */
export function tensorValueInfo(name: string, dims: readonly number[]): O.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => ({ dimValue: d })) },
      },
    },
  };
}

/** Encodes a model to the bytes of a .onnx file. */
export function encodeModel(model: O.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Decodes the bytes of a .onnx file.
 *
 * @throws {RangeError} naming `file` when the bytes are not an ONNX model
 */
export function decodeModel(bytes: Uint8Array, file = "model"): O.ModelProto {
  let model: O.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (cause) {
    throw new RangeError(
      `${file}: not an ONNX model (${cause instanceof Error ? cause.message : String(cause)})`,
    );
  }
  if (!model.graph || (model.graph.node?.length ?? 0) === 0) {
    throw new RangeError(`${file}: not an ONNX model (no graph with nodes in it)`);
  }
  return model;
}

/** The value of a node's attribute by name, or undefined. */
export function attribute(node: O.INodeProto, name: string): O.IAttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

/** A string attribute's value, or `fallback`. */
export function stringAttribute(node: O.INodeProto, name: string, fallback: string): string {
  const a = attribute(node, name);
  return a?.s ? new TextDecoder().decode(a.s) : fallback;
}

/** An ints attribute's values, or `fallback`. */
export function intsAttribute(
  node: O.INodeProto,
  name: string,
  fallback: readonly number[],
): number[] {
  const a = attribute(node, name);
  return a?.ints && a.ints.length > 0 ? a.ints.map((v) => int64(v as Int64)) : [...fallback];
}

/** An int attribute's value, or `fallback`. */
export function intAttribute(node: O.INodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a ? int64(a.i as Int64) : fallback;
}

/** A float attribute's value, or `fallback`. */
export function floatAttribute(node: O.INodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a && a.f !== null && a.f !== undefined ? a.f : fallback;
}
