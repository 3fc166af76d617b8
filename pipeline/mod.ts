/**
 * Pipelines: the recipe builder, the op graph it compiles to, input sources, the executor and
 * progress reporting.
 *
 * @example
 * ```ts
 * import { imageInput, pipeline } from "./mod.ts";
 * import { testCard } from "../image/testcard.ts";
 *
 * const summary = await pipeline()
 *   .degrade({ noise: 25, seed: 1 })
 *   .metrics()
 *   .run({ input: [imageInput(testCard(32, 32), "card")] });
 * console.log(summary.done[0]?.metrics.psnr);
 * ```
 *
 * @module
 */
export {
  expectValue,
  isPipeline,
  type MetricsOptions,
  Pipeline,
  pipeline,
  received,
} from "./dsl.ts";
export {
  type CompiledGraph,
  type CompileOptions,
  compileSteps,
  displayPath,
  type Expansion,
  type ExplainableOp,
  explainGraph,
  type GraphNode,
  graphOutputs,
  isExpansion,
  type Step,
} from "../core/graph.ts";
export {
  collectInputs,
  execute,
  type InputFailure,
  type InputResult,
  type RunOptions,
  runPipeline,
  type RunSummary,
} from "./executor.ts";
export {
  fileInput,
  globToRegExp,
  imageInput,
  type InputItem,
  isImagePath,
  listFolder,
  matchGlob,
  parseShard,
  resolveInputs,
  type Shard,
  takeShard,
} from "./sources.ts";
export {
  formatDuration,
  formatProgress,
  jsonLinesReporter,
  type ProgressState,
  terminalReporter,
  updateProgress,
} from "./progress.ts";
export { InputError, RecipeError } from "../core/errors.ts";
export type { Frame, FrameMeta, Op, OpContext, ProgressEvent } from "../core/types.ts";
