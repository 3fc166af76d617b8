/**
 * Loading image-to-image networks for the `model` op: ONNX files on onnxruntime-web (the wasm
 * execution provider, or WebGPU through `onnxruntime-web/webgpu` on a hardware adapter), and
 * TensorFlow.js layers or graph models on `@tensorflow/tfjs`. Every loader returns an
 * {@link ImageModel}: one batch-1 tensor in, one out, in the model's own layout and range; the
 * op (ops/model.ts) does the ranges, channel order and tiling.
 *
 * Every failure is an {@link InputError} naming the file and the reason in one line.
 *
 * @module
 */
import { InputError } from "../core/errors.ts";
import { type KerasModel, kerasToOnnx } from "../models/onnx_keras.ts";
import { OnnxImportError } from "../models/onnx_import.ts";
import { decodeModel } from "../models/onnx.ts";
import { onMainThread } from "../engine/webgpu/main_thread.ts";
import { probeWebGpu } from "../engine/webgpu/probe.ts";

/** A tensor as a model sees it: batch 1, `dims` in the model's layout. */
export interface ModelTensor {
  /** The values, in the order `dims` gives. */
  readonly data: Float32Array;
  /** The shape, e.g. [1, 3, H, W]. */
  readonly dims: readonly number[];
}

/** A loaded network that maps one image tensor to another. */
export interface ImageModel {
  /** The file (or named model) it came from, for messages. */
  readonly file: string;
  /** How its image tensors are laid out. */
  readonly layout: "nchw" | "nhwc";
  /** The input's rank as declared (4 for an image batch), when declared. */
  readonly inputRank?: number;
  /** The input's channel count as declared, when fixed. */
  readonly inputChannels?: number;
  /** What runs it, e.g. `onnxruntime-web wasm` or `tfjs cpu`. */
  readonly runtime: string;
  /** Runs one tensor through the network. */
  run(input: ModelTensor): Promise<ModelTensor>;
  /** Frees what the runtime holds. */
  dispose(): Promise<void>;
}

/** ONNX execution providers the op offers. `auto`: WebGPU on a hardware adapter, else wasm. */
export type OnnxProvider = "wasm" | "webgpu" | "auto";

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n").map((l) => l.trim()).find((l) => l.length > 0) ?? "unknown error";
}

/** Reads a file, or fails with the one-line reason. */
export async function readModelFile(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new InputError("model file not found", { file: path });
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new InputError("expected a model file but this is a folder", { file: path });
    }
    throw new InputError(`cannot read the model (${firstLine(error)})`, { file: path });
  }
}

/**
 * Whether "auto" may use ORT's WebGPU provider: a hardware adapter, and this JavaScript on the
 * main thread. ORT's WebGPU runs on the calling thread, and a thread other than the main one
 * that used WebGPU can abort the process as it exits (engine/webgpu/main_thread.ts); off the
 * main thread "auto" stays on wasm (`provider: "webgpu"` is still obeyed). The adapter is
 * asked through probeWebGpu, which touches no WebGPU on this thread off the main one.
 */
async function hardwareAdapter(): Promise<boolean> {
  if (!onMainThread()) return false;
  const gpu = await probeWebGpu();
  return gpu.available && !gpu.fallback;
}

type Ort = typeof import("onnxruntime-web");

/**
 * Runs `init` (which loads or instantiates onnxruntime-web) and puts back the global `Worker`
 * it replaces: ORT's Emscripten glue sees Deno's Node compatibility and sets `global.Worker` to
 * node:worker_threads' Worker, which would break every later web Worker (the cpu engine's).
 * ORT creates its thread pool while it initialises, so it keeps working afterwards.
 */
async function keepingWebWorker<T>(init: () => Promise<T>): Promise<T> {
  const webWorker = globalThis.Worker;
  try {
    return await init();
  } finally {
    if (globalThis.Worker !== webWorker) globalThis.Worker = webWorker;
  }
}

/**
 * An onnxruntime-web session on the wasm provider (or WebGPU), with its module, the global
 * `Worker` left as it was.
 */
export async function createOrtSession(
  bytes: Uint8Array,
  provider: "wasm" | "webgpu" = "wasm",
): Promise<{ ort: Ort; session: import("onnxruntime-web").InferenceSession }> {
  return await keepingWebWorker(async () => {
    const ort = provider === "webgpu"
      ? await import("onnxruntime-web/webgpu") as unknown as Ort
      : await import("onnxruntime-web");
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: [provider],
      logSeverityLevel: 3, // errors only (a stored z that an input may override is a warning)
    });
    return { ort, session };
  });
}

/**
 * Loads ONNX bytes on onnxruntime-web. Under Deno the wasm provider reads its `.wasm` from the
 * npm cache (read access there is needed); `numThreads` stays at the runtime's default.
 *
 * @throws {InputError} when the bytes are not an ONNX model or the runtime refuses it (an
 * operator it does not implement, a bad graph): the first line of its message
 */
export async function loadOnnxModel(
  bytes: Uint8Array,
  file: string,
  provider: OnnxProvider = "wasm",
): Promise<ImageModel> {
  try {
    decodeModel(bytes, file);
  } catch {
    throw new InputError("not an ONNX model (it does not decode as an ONNX ModelProto)", {
      file,
    });
  }
  const useGpu = provider === "webgpu" || (provider === "auto" && await hardwareAdapter());
  let ort: Ort;
  let session: import("onnxruntime-web").InferenceSession;
  try {
    ({ ort, session } = await createOrtSession(bytes, useGpu ? "webgpu" : "wasm"));
  } catch (error) {
    if (provider === "auto" && useGpu) return loadOnnxModel(bytes, file, "wasm");
    throw new InputError(`onnxruntime-web cannot load the model: ${firstLine(error)}`, { file });
  }
  const inputs = session.inputNames;
  if (inputs.length !== 1) {
    await session.release();
    throw new InputError(
      `expected a model with one input (the image) but it has ${inputs.length}${
        inputs.length ? ` (${inputs.join(", ")})` : ""
      }`,
      { file },
    );
  }
  const meta = session.inputMetadata?.[0] as { shape?: readonly (number | string)[] } | undefined;
  const shape = meta?.shape ?? [];
  const inputRank = shape.length > 0 ? shape.length : undefined;
  const layout = "nchw";
  const c = shape[1];
  const inputChannels = typeof c === "number" && c > 0 ? c : undefined;
  const name = inputs[0]!;
  const outName = session.outputNames[0]!;
  return {
    file,
    layout,
    inputRank,
    inputChannels,
    runtime: `onnxruntime-web ${useGpu ? "webgpu" : "wasm"}`,
    async run(input) {
      let result;
      try {
        result = await session.run({
          [name]: new ort.Tensor("float32", input.data, [...input.dims]),
        });
      } catch (error) {
        throw new InputError(`onnxruntime-web failed to run the model: ${firstLine(error)}`, {
          file,
        });
      }
      const out = result[outName]!;
      const data = await out.getData() as Float32Array;
      out.dispose();
      return { data, dims: out.dims };
    },
    async dispose() {
      await session.release();
    },
  };
}

type Tf = typeof import("@tensorflow/tfjs");
let tfLoaded: Promise<Tf> | undefined;

/**
 * @tensorflow/tfjs with the two custom layers of UpscalerJS's ESRGAN "thick" models
 * registered (MultiplyBeta: × β; PixelShuffle{N}x: depth-to-space), on its CPU backend.
 */
function loadTf(): Promise<Tf> {
  tfLoaded ??= (async () => {
    const tf = await import("@tensorflow/tfjs");
    await tf.setBackend("cpu");
    class MultiplyBeta extends tf.layers.Layer {
      static className = "MultiplyBeta";
      beta: number;
      constructor(config: { beta?: number; name?: string }) {
        super(config);
        this.beta = config.beta ?? 0.2;
      }
      override call(
        inputs: import("@tensorflow/tfjs").Tensor | import("@tensorflow/tfjs").Tensor[],
      ) {
        return tf.mul(Array.isArray(inputs) ? inputs[0]! : inputs, this.beta);
      }
      override getConfig() {
        return { ...super.getConfig(), beta: this.beta };
      }
    }
    tf.serialization.registerClass(MultiplyBeta);
    for (const scale of [2, 3, 4, 8]) {
      const PixelShuffle = class extends tf.layers.Layer {
        static className = `PixelShuffle${scale}x`;
        override computeOutputShape(shape: import("@tensorflow/tfjs").Shape) {
          return [
            shape[0]!,
            shape[1] === null ? null : shape[1]! * scale,
            shape[2] === null ? null : shape[2]! * scale,
            3,
          ];
        }
        override call(
          inputs: import("@tensorflow/tfjs").Tensor | import("@tensorflow/tfjs").Tensor[],
        ) {
          const x =
            (Array.isArray(inputs) ? inputs[0]! : inputs) as import("@tensorflow/tfjs").Tensor4D;
          return tf.depthToSpace(x, scale, "NHWC");
        }
      };
      tf.serialization.registerClass(PixelShuffle);
    }
    return tf;
  })();
  return tfLoaded;
}

/** Reads `model.json` and its weight shards (paths relative to it), concatenated. */
export async function readTfjsModel(path: string): Promise<KerasModel> {
  const text = new TextDecoder().decode(await readModelFile(path));
  let json: KerasModel["json"];
  try {
    json = JSON.parse(text);
  } catch {
    throw new InputError("not a TensorFlow.js model (model.json is not JSON)", { file: path });
  }
  if (!json?.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new InputError(
      "not a TensorFlow.js model (expected modelTopology and weightsManifest in model.json)",
      { file: path },
    );
  }
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
  const parts: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    for (const shard of group.paths) parts.push(await readModelFile(dir + shard));
  }
  const weights = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    weights.set(p, at);
    at += p.length;
  }
  return { json, weights };
}

/**
 * Loads a TensorFlow.js layers or graph model (`model.json` + shards) on tfjs's CPU backend.
 *
 * @throws {InputError} naming the file when it is missing, not a tfjs model, or uses a layer or
 * op tfjs does not know
 */
export async function loadTfjsModel(path: string): Promise<ImageModel> {
  const model = await readTfjsModel(path);
  const tf = await loadTf();
  const handler = tf.io.fromMemory({
    modelTopology: model.json.modelTopology as object,
    weightSpecs: model.json.weightsManifest.flatMap((g) => g.weights) as never,
    weightData: model.weights.slice().buffer,
  });
  const graph = model.json.format === "graph-model";
  let net: import("@tensorflow/tfjs").LayersModel | import("@tensorflow/tfjs").GraphModel;
  try {
    net = graph ? await tf.loadGraphModel(handler) : await tf.loadLayersModel(handler);
  } catch (error) {
    throw new InputError(`tfjs cannot load the model: ${firstLine(error)}`, { file: path });
  }
  const shape =
    (graph
      ? (net as import("@tensorflow/tfjs").GraphModel).inputs[0]?.shape
      : (net as import("@tensorflow/tfjs").LayersModel).inputs[0]?.shape) as
        | (number | null)[]
        | undefined;
  const last = shape?.[shape.length - 1];
  return {
    file: path,
    layout: "nhwc",
    inputRank: shape?.length,
    inputChannels: typeof last === "number" && last > 0 ? last : undefined,
    runtime: "tfjs cpu",
    async run(input) {
      const x = tf.tensor(input.data, [...input.dims]);
      try {
        const y = net.predict(x) as import("@tensorflow/tfjs").Tensor;
        const data = await y.data() as Float32Array;
        const dims = y.shape;
        y.dispose();
        return { data, dims };
      } catch (error) {
        throw new InputError(`tfjs failed to run the model: ${firstLine(error)}`, { file: path });
      } finally {
        x.dispose();
      }
    },
    dispose() {
      net.dispose();
      return Promise.resolve();
    },
  };
}

/**
 * Converts a tfjs layers model to ONNX (models/onnx_keras.ts) and loads that on
 * onnxruntime-web: the fast path for the named ESRGAN models.
 */
export async function loadTfjsAsOnnx(
  path: string,
  provider: OnnxProvider = "wasm",
): Promise<ImageModel> {
  const model = await readTfjsModel(path);
  let bytes: Uint8Array;
  try {
    bytes = kerasToOnnx(model, path);
  } catch (error) {
    if (error instanceof OnnxImportError) {
      throw new InputError(error.message.replace(`${path}: `, ""), { file: path });
    }
    throw error;
  }
  return await loadOnnxModel(bytes, path, provider);
}
