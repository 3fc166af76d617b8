/**
 * A TensorFlow.js layers model (Keras functional topology + weights, as `model.json` and its
 * weight shards) rewritten as an ONNX graph in NCHW, so onnxruntime-web runs it — much faster
 * than tfjs's CPU backend, and the same graph for every model format the `model` op takes.
 *
 * Layers read: InputLayer, Conv2D (groups 1, no dilation, "same" or "valid", linear / relu /
 * sigmoid / tanh activation), Activation (same four), Concatenate over channels, Add,
 * UpSampling2D (nearest or bilinear), and the two custom layers of UpscalerJS's ESRGAN models:
 * MultiplyBeta (× beta) and PixelShuffle{N}x (TensorFlow's depth_to_space, ONNX's DepthToSpace
 * in DCR order). The input is `input` [1, C, H, W] with free H and W; the output is `output`.
 *
 * @module
 */
import type { onnx as O } from "onnx-proto";
import { attr, encodeModel, floatTensor, ONNX_IR_VERSION, ONNX_OPSET } from "./onnx.ts";
import { OnnxImportError } from "./onnx_import.ts";

/** One weight of a tfjs weights manifest. */
export interface KerasWeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly quantization?: unknown;
}

/** A layers model: the `model.json` object and its weight bytes (the shards, concatenated). */
export interface KerasModel {
  /** `model.json` as parsed JSON. */
  readonly json: {
    readonly format?: string;
    readonly modelTopology: unknown;
    readonly weightsManifest: readonly {
      readonly paths: readonly string[];
      readonly weights: readonly KerasWeightSpec[];
    }[];
  };
  /** The shards' bytes in manifest order. */
  readonly weights: Uint8Array;
}

interface KerasLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown> & { name: string };
  inbound_nodes: unknown[];
}

/** The input and output names of a converted graph. */
export const KERAS_ONNX_INPUT = "input";
export const KERAS_ONNX_OUTPUT = "output";

/**
 * Converts a tfjs layers model to ONNX bytes.
 *
 * @throws {OnnxImportError} naming `file` and the layer when a layer or option is not one of
 * those listed above
 */
export function kerasToOnnx(model: KerasModel, file = "model.json"): Uint8Array {
  const fail = (message: string): never => {
    throw new OnnxImportError(`${file}: ${message}`);
  };
  const topology = model.json.modelTopology as {
    model_config?: { class_name?: string; config?: Record<string, unknown> };
  };
  const config = topology?.model_config?.config as
    | { layers?: KerasLayer[]; input_layers?: unknown[][]; output_layers?: unknown[][] }
    | undefined;
  if (!config?.layers) fail("expected a Keras functional model (modelTopology.model_config)");
  const { input_layers: inputLayers = [], output_layers: outputLayers = [] } = config!;
  const layers = config!.layers!;
  if (inputLayers.length !== 1 || outputLayers.length !== 1) {
    fail(
      `expected one input and one output but the model has ${inputLayers.length} and ${outputLayers.length}`,
    );
  }

  // Weights by name (the manifest's float32 tensors, back to back in shard order).
  const weights = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  let offset = 0;
  const bytes = model.weights;
  for (const group of model.json.weightsManifest) {
    for (const w of group.weights) {
      if (w.dtype !== "float32" || w.quantization) {
        fail(
          `weight ${w.name} is ${w.quantization ? "quantized" : w.dtype}; dipline reads float32`,
        );
      }
      const n = w.shape.reduce((a, b) => a * b, 1);
      if (offset + 4 * n > bytes.length) fail(`the weight files end before ${w.name}`);
      const view = new DataView(bytes.buffer, bytes.byteOffset + offset, 4 * n);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = view.getFloat32(4 * i, true);
      weights.set(w.name, { shape: w.shape, data });
      offset += 4 * n;
    }
  }
  const weight = (layer: string, suffix: string) => {
    const found = [...weights.entries()].find(([name]) =>
      name === `${layer}/${suffix}` || name.endsWith(`/${layer}/${suffix}`)
    );
    if (!found) return fail(`layer "${layer}": no weight ${layer}/${suffix} in the manifest`);
    return found[1];
  };

  const nodes: O.INodeProto[] = [];
  const initializers: O.ITensorProto[] = [];
  const tensorOf = new Map<string, string>();
  const outputName = String(outputLayers[0]![0]);
  let inputChannels = 0;
  const node = (
    opType: string,
    name: string,
    input: string[],
    output: string,
    attribute: O.IAttributeProto[] = [],
  ) => nodes.push({ opType, name, input, output: [output], attribute });
  const activation = (layer: string, act: unknown, x: string, y: string): string => {
    switch (act) {
      case "linear":
      case undefined:
        return x;
      case "relu":
        node("Relu", `${layer}/relu`, [x], y);
        return y;
      case "sigmoid":
        node("Sigmoid", `${layer}/sigmoid`, [x], y);
        return y;
      case "tanh":
        node("Tanh", `${layer}/tanh`, [x], y);
        return y;
      default:
        return fail(
          `layer "${layer}": activation ${String(act)} (dipline reads linear, relu, sigmoid, tanh)`,
        );
    }
  };

  for (const layer of layers) {
    const name = layer.config.name ?? layer.name;
    const inbound = (layer.inbound_nodes[0] as unknown[][] | undefined) ?? [];
    const inputs = inbound.map((entry) => {
      const from = String(entry[0]);
      const t = tensorOf.get(from);
      if (t === undefined) fail(`layer "${name}" reads "${from}", which comes later or not at all`);
      return t!;
    });
    if (layer.inbound_nodes.length > 1) fail(`layer "${name}" is shared (called more than once)`);
    const out = name === outputName ? KERAS_ONNX_OUTPUT : name;
    const c = layer.config;
    switch (layer.class_name) {
      case "InputLayer": {
        if (name !== String(inputLayers[0]![0])) fail(`a second input layer "${name}"`);
        const shape = (c.batch_input_shape ?? c.batchInputShape) as (number | null)[] | undefined;
        if (!shape || shape.length !== 4) fail(`input "${name}" is not a batch of images (rank 4)`);
        inputChannels = shape![3] ?? 0;
        tensorOf.set(name, KERAS_ONNX_INPUT);
        continue;
      }
      case "Conv2D": {
        if (c.data_format && c.data_format !== "channels_last") {
          fail(`layer "${name}": data_format ${c.data_format}`);
        }
        const dil = c.dilation_rate as number[] | undefined;
        if (dil && dil.some((d) => d !== 1)) fail(`layer "${name}": dilated convolution`);
        if ((c.groups as number | undefined ?? 1) !== 1) {
          fail(`layer "${name}": grouped convolution`);
        }
        const kernel = weight(name, "kernel");
        const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
        // Keras HWIO → ONNX OIHW
        const oihw = new Float32Array(kernel.data.length);
        for (let y = 0; y < kh; y++) {
          for (let x = 0; x < kw; x++) {
            for (let i = 0; i < cin; i++) {
              for (let o = 0; o < cout; o++) {
                oihw[((o * cin + i) * kh + y) * kw + x] = kernel
                  .data[((y * kw + x) * cin + i) * cout + o]!;
              }
            }
          }
        }
        initializers.push(floatTensor(`${name}/kernel`, [cout, cin, kh, kw], oihw));
        const ins = [inputs[0]!, `${name}/kernel`];
        if (c.use_bias !== false) {
          const bias = weight(name, "bias");
          initializers.push(floatTensor(`${name}/bias`, [cout], bias.data));
          ins.push(`${name}/bias`);
        }
        const strides = (c.strides as number[] | undefined) ?? [1, 1];
        const conv = c.activation === "linear" || c.activation === undefined ? out : `${name}/conv`;
        node("Conv", name, ins, conv, [
          attr.ints("kernel_shape", [kh, kw]),
          attr.ints("strides", strides),
          attr.string("auto_pad", c.padding === "same" ? "SAME_UPPER" : "VALID"), // TF's "same"
        ]);
        tensorOf.set(name, activation(name, c.activation, conv, out));
        continue;
      }
      case "Activation":
        tensorOf.set(name, activation(name, c.activation, inputs[0]!, out));
        if (tensorOf.get(name) === inputs[0] && out === KERAS_ONNX_OUTPUT) {
          node("Identity", name, [inputs[0]!], out);
          tensorOf.set(name, out);
        }
        continue;
      case "Concatenate": {
        const axis = (c.axis as number | undefined) ?? -1;
        if (axis !== -1 && axis !== 3) fail(`layer "${name}": Concatenate over axis ${axis}`);
        node("Concat", name, inputs, out, [attr.int("axis", 1)]);
        break;
      }
      case "Add":
        node("Sum", name, inputs, out);
        break;
      case "UpSampling2D": {
        const size = (c.size as number[] | undefined) ?? [2, 2];
        const scales = `${name}/scales`;
        initializers.push(floatTensor(scales, [4], new Float32Array([1, 1, size[0]!, size[1]!])));
        const bilinear = c.interpolation === "bilinear";
        node("Resize", name, [inputs[0]!, "", scales], out, [
          attr.string("mode", bilinear ? "linear" : "nearest"),
          // Keras UpSampling2D: nearest repeats pixels; bilinear is half-pixel
          attr.string("coordinate_transformation_mode", bilinear ? "half_pixel" : "asymmetric"),
          attr.string("nearest_mode", "floor"),
        ]);
        break;
      }
      case "MultiplyBeta": {
        const beta = `${name}/beta`;
        initializers.push(floatTensor(beta, [], new Float32Array([Number(c.beta ?? 0.2)])));
        node("Mul", name, [inputs[0]!, beta], out);
        break;
      }
      default: {
        const shuffle = /^PixelShuffle(\d+)x$/.exec(layer.class_name);
        if (shuffle) {
          // tf.depthToSpace (NHWC) puts channel (i·s + j)·C + c at (i, j): ONNX's DCR order
          node("DepthToSpace", name, [inputs[0]!], out, [
            attr.int("blocksize", Number(c.scale ?? shuffle[1])),
            attr.string("mode", "DCR"),
          ]);
          break;
        }
        fail(
          `layer "${name}" (${layer.class_name}): dipline converts InputLayer, Conv2D, Activation, Concatenate, Add, UpSampling2D, MultiplyBeta and PixelShuffle`,
        );
      }
    }
    tensorOf.set(name, out);
  }
  if (tensorOf.get(outputName) !== KERAS_ONNX_OUTPUT) {
    fail(`the output layer "${outputName}" was not converted`);
  }
  const dims = (names: (number | string)[]): O.ITensorShapeProto => ({
    dim: names.map((d) => typeof d === "number" ? { dimValue: d } : { dimParam: d }),
  });
  return encodeModel({
    irVersion: ONNX_IR_VERSION,
    producerName: "dipline (from a tfjs layers model)",
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    graph: {
      name: file,
      node: nodes,
      initializer: initializers,
      input: [{
        name: KERAS_ONNX_INPUT,
        type: { tensorType: { elemType: 1, shape: dims([1, inputChannels || "c", "h", "w"]) } },
      }],
      output: [{
        name: KERAS_ONNX_OUTPUT,
        type: { tensorType: { elemType: 1, shape: dims([1, "c_out", "h_out", "w_out"]) } },
      }],
    },
  });
}
