/**
 * dipline: Deep Image Prior (Ulyanov, Vedaldi, Lempitsky, CVPR 2018) restoration as
 * TypeScript pipelines. A recipe is an immutable pipeline of ops over named image slots; the
 * executor runs it over a file, a glob, a folder or a shard of one.
 *
 * @example
 * ```ts
 * import { imageInput, pipeline, testCard } from "./mod.ts";
 *
 * const recipe = pipeline()
 *   .degrade({ noise: 25, seed: 1 })
 *   .metrics({ label: "noisy" });
 * console.log(recipe.explain());
 * const summary = await recipe.run({ input: [imageInput(testCard(64, 64), "card")] });
 * console.log(summary.done[0]?.metrics["noisy.psnr"]);
 * ```
 *
 * @module
 */
export * from "./pipeline/mod.ts";
export { type Image, makeImage } from "./core/image.ts";
export {
  decodeImage,
  DEFAULT_MAX_PIXELS,
  IMAGE_EXTENSIONS,
  loadImage,
  type LoadOptions,
} from "./image/load.ts";
export { encodeImage, saveImage, type SaveOptions, writeFileAtomic } from "./image/save.ts";
export { type SaveOpOptions } from "./ops/save.ts";
export { degradeImage, type DegradeSpec } from "./dip/degrade.ts";
export { psnr, psnrY, ssim } from "./image/metrics.ts";
export { type MetricsOpOptions } from "./ops/metrics.ts";
export { testCard } from "./image/testcard.ts";
export { dipFit } from "./ops/dip_fit.ts";
export {
  type DipFitOptions,
  type FitEngine,
  type FitHooks,
  fitImage,
  type FitProblem,
  type FitResult,
  type ResolvedFit,
  resolveFitOptions,
} from "./dip/fit.ts";
export {
  compose,
  gaussianBlur,
  type GaussianBlurOptions,
  identity,
  lanczosDown,
  mask,
  type Operator,
} from "./dip/operators.ts";
export {
  type ArchName,
  type FitSettings,
  type InputKind,
  type NetOptions,
  PRESETS,
  TASK_NAMES,
  type TaskName,
  TASKS,
  type TaskSpec,
} from "./dip/tasks.ts";
export { DipFitOptionsSchema } from "./dip/options.ts";
export { type DegradeSpec as DegradeOptions, DegradeSpecSchema } from "./dip/degrade.ts";
export {
  loadRecipe,
  RECIPE_VERSION,
  type RecipeDocument,
  recipeJsonSchema,
  type RecipeStep,
} from "./pipeline/recipe.ts";
export { BUILTIN_OPS, builtinOp } from "./ops/registry.ts";
export { defineOp, type OpSpec } from "./core/op_spec.ts";
export type { RunSchedule } from "./pipeline/run_context.ts";
export { average, type AverageOptions } from "./ops/average.ts";
export {
  applyModel,
  loadModel,
  modelOp,
  type ModelOptions,
  ModelOptionsSchema,
} from "./ops/model.ts";
export { MODEL_NAMES, type ModelName, NAMED_MODELS, type NamedModel } from "./ops/model_named.ts";
export type { ImageModel, ModelTensor, OnnxProvider } from "./ops/model_runtime.ts";
export { bicubicUpsample } from "./image/resize.ts";
export { runTiled, type TileOptions } from "./image/tiles.ts";
export { type CropBox, exportOnnx, type OnnxExportOptions } from "./models/onnx_export.ts";
export {
  type ImportedNetwork,
  importOnnx,
  ONNX_IMPORT_OPERATORS,
  OnnxImportError,
  type OnnxImportOptions,
} from "./models/onnx_import.ts";
export {
  type Activation,
  countParams,
  deepDecoder,
  type DeepDecoderOptions,
  denoisingNet,
  describeNetwork,
  type DownsampleMode,
  hourglass,
  inpaintingNet,
  type LayerNode,
  type Network,
  type PadMode,
  resnet,
  type ResNetOptions,
  skip,
  type SkipOptions,
  superResolutionNet,
  type UpsampleMode,
} from "./models/mod.ts";
export { type EngineName, TrainerPool } from "./engine/mod.ts";
// The engine's internals (plans, compilePlan, trainers) are the "./engine" sub-path export:
// import { compilePlan, createTrainer } from "@dipline/dipline/engine".
