/**
 * The `model` op: runs a learned image-to-image network on the `image` slot — an ONNX file
 * (onnxruntime-web), a TensorFlow.js layers or graph model (`model.json`), or a named model
 * that ships on npm (`esrgan-slim`, `-medium`, `-thick`; ops/model_named.ts). Beside DIP it is
 * the learned baseline, or the fast path for easy images.
 *
 * The image goes in as the model expects it (value `range`, `channelOrder`, NCHW or NHWC) and
 * comes back to [0, 1] (clipped); a gray image is replicated to RGB for a 3-channel model and
 * averaged back. Large images run in tiles of `tile` pixels overlapping by `overlap`, blended
 * (image/tiles.ts), so a 4000×3000 photo runs in bounded memory. The output must be `factor`
 * times the input (when `factor` is given; else any integer factor is taken from the first
 * tile).
 *
 * @module
 */
import { InputError, RecipeError } from "../core/errors.ts";
import type { ExplainableOp, ExplainContext } from "../core/graph.ts";
import { type Image, makeImage } from "../core/image.ts";
import { defineOp } from "../core/op_spec.ts";
import { z } from "../core/schema.ts";
import type { Frame } from "../core/types.ts";
import { runTiled } from "../image/tiles.ts";
import {
  type ImageModel,
  loadOnnxModel,
  loadTfjsAsOnnx,
  loadTfjsModel,
  type OnnxProvider,
  readModelFile,
} from "./model_runtime.ts";
import { MODEL_NAMES, type ModelName, NAMED_MODELS, namedModelPath } from "./model_named.ts";

/** Options of the `model` op and {@link applyModel}. */
export interface ModelOptions {
  /** A model file: `.onnx`, or a tfjs `model.json`. Exactly one of `path` and `name`. */
  readonly path?: string;
  /** A named model that ships on npm (see ops/model_named.ts). */
  readonly name?: ModelName;
  /** `onnx` or `tfjs`; default from the file name (`.json` → tfjs, else onnx). */
  readonly format?: "onnx" | "tfjs";
  /** Output size ÷ input size. Required for a named model (selects its weights); checked otherwise. */
  readonly factor?: number;
  /** The value range the model takes and returns. Default [0, 1]; named models: their own. */
  readonly range?: readonly [number, number];
  /** Channel order of a 3-channel model. Default "rgb". */
  readonly channelOrder?: "rgb" | "bgr";
  /** Tensor layout. Default: NCHW for ONNX, NHWC for tfjs. */
  readonly layout?: "nchw" | "nhwc";
  /** Largest tile side in input pixels (default 256); a smaller image runs whole. */
  readonly tile?: number;
  /** Input pixels shared by neighbouring tiles, blended (default 16). */
  readonly overlap?: number;
  /** ONNX execution provider (default "wasm"; "auto" = WebGPU on a hardware adapter). */
  readonly provider?: OnnxProvider;
  /**
   * What runs a tfjs layers model: "onnx" converts it to ONNX and runs onnxruntime-web (the
   * default for named models: several times faster), "tfjs" runs tfjs's CPU backend.
   */
  readonly runtime?: "onnx" | "tfjs";
  /** The op's input slot (default "image"). */
  readonly slot?: string;
  /** The op's output slot (default: `slot`). */
  readonly output?: string;
}

/** The `model` op's options as a schema (what recipes and their JSON Schema check). */
export const ModelOptionsSchema = z.strictObject({
  path: z.string().min(1).optional().meta({
    description: "model file: .onnx, or a TensorFlow.js model.json (exactly one of path, name)",
  }),
  name: z.enum(MODEL_NAMES as [ModelName, ...ModelName[]]).optional().meta({
    description: `a model that ships on npm: ${MODEL_NAMES.join(", ")}`,
  }),
  format: z.enum(["onnx", "tfjs"]).optional().meta({
    description: "model format (default: tfjs for a .json file, else onnx)",
  }),
  factor: z.int().min(1).max(16).optional().meta({
    description: "output size ÷ input size (required for a named model; checked otherwise)",
  }),
  range: z.tuple([z.number().finite(), z.number().finite()]).optional().meta({
    description: "value range the model takes and returns (default [0, 1]; named models: theirs)",
  }),
  channelOrder: z.enum(["rgb", "bgr"]).optional().meta({
    description: "channel order of a 3-channel model (default rgb)",
  }),
  layout: z.enum(["nchw", "nhwc"]).optional().meta({
    description: "tensor layout (default: nchw for ONNX, nhwc for tfjs)",
  }),
  tile: z.int().min(8).optional().meta({
    description: "largest tile side in input pixels (default 256); a smaller image runs whole",
  }),
  overlap: z.int().min(0).optional().meta({
    description: "input pixels shared by neighbouring tiles, blended (default 16)",
  }),
  provider: z.enum(["wasm", "webgpu", "auto"]).optional().meta({
    description: "ONNX execution provider (default wasm; auto: WebGPU on a hardware adapter)",
  }),
  runtime: z.enum(["onnx", "tfjs"]).optional().meta({
    description: "what runs a tfjs layers model: onnx (converted; the default for named " +
      "models) or tfjs (its CPU backend; the default for a model.json path)",
  }),
  slot: z.string().min(1).optional().meta({
    description: 'slot the model reads (default "image")',
  }),
  output: z.string().min(1).optional().meta({
    description: 'slot the result is written to (default: the slot read), e.g. "learned" to ' +
      "keep the input for a dipFit after it",
  }),
});

/** The `model` op's declaration (options: {@link ModelOptionsSchema}). */
export const modelSpec = defineOp({
  kind: "model",
  summary: "run a learned image model (ONNX, tfjs, or a named ESRGAN) on image, tiled",
  options: ModelOptionsSchema,
  create: (options) => modelOp(options),
});

/** Defaults of {@link ModelOptions}. */
export const MODEL_DEFAULTS = { tile: 256, overlap: 16, channelOrder: "rgb" } as const;

/** What the op calls the model in messages and meta: the path or the name and factor. */
export function modelLabel(options: ModelOptions): string {
  return options.name ? `${options.name} ×${options.factor}` : options.path ?? "model";
}

/**
 * Loads the model an options object names.
 *
 * @throws {InputError} naming the file and the reason
 */
export async function loadModel(options: ModelOptions): Promise<ImageModel> {
  if ((options.path === undefined) === (options.name === undefined)) {
    throw new InputError("model: expected exactly one of path and name");
  }
  if (options.name !== undefined) {
    if (options.factor === undefined) {
      throw new InputError(`model: a named model needs a factor (${options.name})`);
    }
    const path = namedModelPath(options.name, options.factor);
    return options.runtime === "tfjs"
      ? await loadTfjsModel(path)
      : await loadTfjsAsOnnx(path, options.provider);
  }
  const path = options.path!;
  const format = options.format ?? (path.toLowerCase().endsWith(".json") ? "tfjs" : "onnx");
  if (format === "tfjs") {
    return options.runtime === "onnx"
      ? await loadTfjsAsOnnx(path, options.provider)
      : await loadTfjsModel(path);
  }
  return await loadOnnxModel(await readModelFile(path), path, options.provider);
}

/** The model's value range: the option, else the named model's, else [0, 1]. */
function rangeOf(options: ModelOptions): readonly [number, number] {
  return options.range ?? (options.name ? NAMED_MODELS[options.name].range : [0, 1]);
}

/**
 * Runs `model` over `image` (tiled and blended when larger than `tile`) and returns the
 * result in [0, 1] with the image's channel count.
 *
 * @throws {InputError} naming the model file: a wrong input rank or channel count, an output
 * of another size than `factor` says, a runtime failure
 */
export async function applyModel(
  image: Image,
  model: ImageModel,
  options: ModelOptions = {},
): Promise<Image> {
  const file = model.file;
  const layout = options.layout ?? model.layout;
  const [lo, hi] = rangeOf(options);
  const bgr = (options.channelOrder ?? "rgb") === "bgr";
  if (model.inputRank !== undefined && model.inputRank !== 4) {
    throw new InputError(
      `expected a model whose input is an image batch (rank 4) but its input has rank ${model.inputRank}`,
      { file },
    );
  }
  const modelChannels = model.inputChannels ?? image.channels;
  if (modelChannels !== image.channels && !(modelChannels === 3 && image.channels === 1)) {
    throw new InputError(
      `the model takes ${modelChannels} channels but ${image.name} has ${image.channels}`,
      { file },
    );
  }
  let factor = options.factor;

  const runTile = async (tile: Image): Promise<Image> => {
    const { height: h, width: w } = tile;
    const plane = h * w;
    const C = modelChannels;
    const input = new Float32Array(C * plane);
    for (let c = 0; c < C; c++) {
      const src = image.channels === 1 ? 0 : bgr && C === 3 ? 2 - c : c;
      for (let i = 0; i < plane; i++) {
        const v = tile.data[src * plane + i]! * (hi - lo) + lo;
        if (layout === "nchw") input[c * plane + i] = v;
        else input[i * C + c] = v;
      }
    }
    const result = await model.run({
      data: input,
      dims: layout === "nchw" ? [1, C, h, w] : [1, h, w, C],
    });
    const d = result.dims;
    if (d.length !== 4) {
      throw new InputError(
        `expected an image batch (rank 4) out of the model but it returned rank ${d.length}`,
        {
          file,
        },
      );
    }
    const [oc, oh, ow] = layout === "nchw" ? [d[1]!, d[2]!, d[3]!] : [d[3]!, d[1]!, d[2]!];
    const expect = factor ?? oh / h;
    if (!Number.isInteger(expect) || oh !== h * expect || ow !== w * expect) {
      throw new InputError(
        `expected the model to return ${
          factor === undefined ? "an integer multiple of" : `×${factor}:`
        } ${h * (factor ?? 1)}×${
          w * (factor ?? 1)
        } for a ${h}×${w} input but it returned ${oh}×${ow}`,
        { file },
      );
    }
    factor = expect;
    if (oc !== C) {
      throw new InputError(`expected ${C} channels out of the model but it returned ${oc}`, {
        file,
      });
    }
    const outPlane = oh * ow;
    const channels = image.channels;
    const out = new Float32Array(channels * outPlane);
    const at = (c: number, i: number) =>
      layout === "nchw" ? result.data[c * outPlane + i]! : result.data[i * oc + c]!;
    const clip = (v: number) => Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
    for (let i = 0; i < outPlane; i++) {
      if (channels === 1 && oc === 3) {
        out[i] = clip((at(0, i) + at(1, i) + at(2, i)) / 3);
      } else {
        for (let c = 0; c < channels; c++) {
          out[c * outPlane + i] = clip(at(bgr && oc === 3 ? 2 - c : c, i));
        }
      }
    }
    return makeImage(channels, oh, ow, out, tile.name);
  };

  const tile = options.tile ?? MODEL_DEFAULTS.tile;
  const overlap = Math.min(options.overlap ?? MODEL_DEFAULTS.overlap, tile - 1);
  if (factor === undefined) {
    // Learn the factor from a small corner (cheap), then tile with it.
    const first = Math.min(32, tile, image.height, image.width);
    const probe = makeImage(
      image.channels,
      first,
      first,
      cropTopLeft(image, first, first),
      image.name,
    );
    await runTile(probe);
  }
  const result = await runTiled(image, { tile, overlap, scale: factor! }, runTile);
  return { ...result, name: image.name };
}

function cropTopLeft(image: Image, h: number, w: number): Float32Array {
  const out = new Float32Array(image.channels * h * w);
  for (let c = 0; c < image.channels; c++) {
    for (let y = 0; y < h; y++) {
      const from = c * image.height * image.width + y * image.width;
      out.set(image.data.subarray(from, from + w), c * h * w + y * w);
    }
  }
  return out;
}

/**
 * Builds the `model` op: reads `slot` (default `image`), writes the model's output to `output`
 * (default: the same slot). The model loads once, on the first frame, and serves every frame
 * after it.
 */
export function modelOp(options: ModelOptions): ExplainableOp {
  const refuse = (message: string): never => {
    throw new RecipeError(`model(): ${message}`);
  };
  if ((options.path === undefined) === (options.name === undefined)) {
    refuse("Expected exactly one of path and name");
  }
  if (options.name !== undefined) {
    const { factors } = NAMED_MODELS[options.name];
    if (options.factor === undefined || !(factors as readonly number[]).includes(options.factor)) {
      refuse(
        `Expected factor ${factors.join(", ")} for ${options.name} but received ${
          options.factor ?? "none"
        }`,
      );
    }
    if (options.format !== undefined) refuse("format applies to a model file (path), not a name");
  }
  if (options.range && !(options.range[1] > options.range[0])) {
    refuse(`Expected range [low, high] with high > low but received [${options.range.join(", ")}]`);
  }
  const tile = options.tile ?? MODEL_DEFAULTS.tile;
  if ((options.overlap ?? 0) >= tile) {
    refuse(`Expected overlap < tile (${tile}) but received ${options.overlap}`);
  }
  const from = options.slot ?? "image";
  const to = options.output ?? from;
  let loaded: Promise<ImageModel> | undefined;
  return {
    kind: "model",
    reads: [from],
    writes: [to],
    params: { ...options },
    explain(context?: ExplainContext): string {
      const input = context?.input;
      const f = options.factor;
      const size = input && f
        ? `, ${input.width}×${input.height} → ${input.width * f}×${input.height * f}`
        : "";
      const runtime = options.runtime === "tfjs" || (options.path && !options.name &&
          (options.format ?? (options.path.endsWith(".json") ? "tfjs" : "onnx")) === "tfjs" &&
          options.runtime !== "onnx")
        ? "tfjs cpu"
        : `onnxruntime-web ${options.provider ?? "wasm"}`;
      return `model: ${modelLabel(options)} on ${runtime}, tiles of ${tile} px${size}`;
    },
    async run(frame: Frame): Promise<Frame> {
      loaded ??= loadModel(options);
      let model: ImageModel;
      try {
        model = await loaded;
      } catch (error) {
        loaded = undefined; // a later frame may find the file
        throw error;
      }
      const started = performance.now();
      const image = await applyModel(frame.slots[from]!, model, options);
      return {
        slots: { ...frame.slots, [to]: image },
        meta: {
          ...frame.meta,
          info: {
            ...frame.meta.info,
            model: modelLabel(options),
            modelRuntime: model.runtime,
            modelMs: Math.round(performance.now() - started),
          },
        },
      };
    },
  };
}
