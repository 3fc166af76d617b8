/**
 * The recipe builder: an immutable, chainable pipeline in the style of sharp. Each call checks
 * its options and returns a new pipeline; nothing runs until {@link Pipeline.run} (or the CLI's
 * `run`). Compiling checks the whole recipe before any input is touched.
 *
 * ```ts
 * import { pipeline } from "../mod.ts";
 *
 * export default pipeline()
 *   .degrade({ noise: 25, seed: 1 })
 *   .metrics()
 *   .save("{name}_noisy.png");
 * ```
 *
 * Adding an op is one method that wraps an op factory:
 * `blur(options: BlurOptions): Pipeline { return this.add("blur", () => blurOp(options)); }`.
 *
 * @module
 */
import { RecipeError } from "../core/errors.ts";
import {
  type CompiledGraph,
  type CompileOptions,
  compileSteps,
  type ExplainContext,
  explainGraph,
  type Step,
} from "../core/graph.ts";
import { createStep, type OpSpec } from "../core/op_spec.ts";
import { received } from "../core/schema.ts";
import type { DegradeSpec } from "../dip/degrade.ts";
import type { DipFitOptions } from "../dip/options.ts";
import { type AverageOptions, averageSpec } from "../ops/average.ts";
import { degradeSpec } from "../ops/degrade.ts";
import { dipFitSpec } from "../ops/dip_fit.ts";
import { type ModelOptions, modelSpec } from "../ops/model.ts";
import { type LoadOpOptions, loadSpec } from "../ops/load.ts";
import { type MetricsOpOptions, metricsSpec } from "../ops/metrics.ts";
import { type ReportOpOptions, reportSpec } from "../ops/report.ts";
import { type SaveOpOptions, saveSpec } from "../ops/save.ts";
import { type RunOptions, runPipeline, type RunSummary } from "./executor.ts";
import { pipelineFromJSON, type RecipeDocument, type RecipeStep } from "./recipe.ts";

export { received };

const PIPELINE_BRAND = Symbol.for("dipline.pipeline");

/** Options of {@link Pipeline.metrics}. */
export type MetricsOptions = MetricsOpOptions;

/** An immutable recipe: a list of steps plus an optional default input. */
export class Pipeline {
  /** The recipe's steps in order (ops, or expansions such as `average`). */
  readonly steps: readonly Step[];
  /** The input used when none is given to `run` (a file, glob or folder). */
  readonly defaultInput?: string;
  /** How each step was made (op and options), or undefined for a step added with `use()`. */
  readonly sources: readonly (RecipeStep | undefined)[];
  /** Marks pipelines for {@link isPipeline}, across copies of this module. */
  readonly [PIPELINE_BRAND] = true;

  /** Use {@link pipeline} (or {@link Pipeline.fromJSON}) to start a recipe. */
  constructor(
    steps: readonly Step[] = [],
    defaultInput?: string,
    sources: readonly (RecipeStep | undefined)[] = [],
  ) {
    this.steps = Object.freeze([...steps]);
    this.defaultInput = defaultInput;
    this.sources = Object.freeze(steps.map((_, i) => sources[i]));
    Object.freeze(this);
  }

  /**
   * Reads a recipe's JSON document (see {@link Pipeline.toJSON}).
   *
   * @throws {RecipeError} one line naming the step, the option and what was expected, e.g.
   * "steps[2] dipFit(): Expected number > 0 for lr but received -1 of type number"
   */
  static fromJSON(doc: unknown): Pipeline {
    return pipelineFromJSON(doc);
  }

  /**
   * The recipe as a versioned JSON document: `{ version: 1, input?, steps: [{ op, options }] }`,
   * with each op's options as written. `Pipeline.fromJSON(p.toJSON())` gives the same recipe.
   *
   * @throws {RecipeError} when a step was added with `use()` (user code has no JSON form)
   */
  toJSON(): RecipeDocument {
    const steps = this.steps.map((step, i) => {
      const source = this.sources[i];
      if (source === undefined) {
        throw new RecipeError(
          `Step #${i + 1} (${step.kind}) was added with use() from user code and cannot be ` +
            "serialized: only built-in ops have a JSON form",
        );
      }
      return structuredClone(source);
    });
    return {
      version: 1,
      ...(this.defaultInput === undefined ? {} : { input: this.defaultInput }),
      steps,
    };
  }

  /** Appends any op (or expansion); the escape hatch for ops the builder has no method for. */
  use(step: Step): Pipeline {
    if (step === null || typeof step !== "object" || typeof step.kind !== "string") {
      throw new RecipeError(
        `use(): Expected an op or expansion for step but received ${received(step)}`,
      );
    }
    return new Pipeline([...this.steps, step], this.defaultInput, [...this.sources, undefined]);
  }

  /**
   * Appends the op `make()` builds (user code: not serializable); an error it throws becomes a
   * {@link RecipeError} that names the op.
   */
  add(kind: string, make: () => Step): Pipeline {
    let step: Step;
    try {
      step = make();
    } catch (error) {
      if (error instanceof RecipeError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new RecipeError(`${kind}(): ${message}`, { cause: error });
    }
    return this.use(step);
  }

  /**
   * Appends a built-in op from its declaration (ops/registry.ts), checking `options` against
   * its schema; the step keeps its JSON form. Every builder method is one line on top of this.
   */
  op<S extends OpSpec>(spec: S, options: unknown, where?: string): Pipeline {
    const step = createStep(spec, options, where);
    const source: RecipeStep = {
      op: spec.kind,
      options: structuredClone(options ?? {}) as Record<string, unknown>,
    };
    return new Pipeline([...this.steps, step], this.defaultInput, [...this.sources, source]);
  }

  /** Sets the input used when `run` (or `dipline run`) is given none: a file, glob or folder. */
  input(spec: string): Pipeline {
    if (typeof spec !== "string" || spec.length === 0) {
      throw new RecipeError(
        `input(): Expected non-empty string for spec but received ${received(spec)}`,
      );
    }
    return new Pipeline(this.steps, spec, this.sources);
  }

  /**
   * Degrades `image` and keeps the original in `clean` (and the mask in `mask` for `drop` and
   * `text`), so a later `metrics()` can score a restoration against it. Seeded: same seed, same
   * output. Any of `blur` (Gaussian σ in pixels, applied first), `noise` (σ on the 0–255
   * scale), `poisson` (shot noise: photons at white), `downsample` (2, 4 or 8), `drop`
   * (fraction of pixels kept), `text` (text drawn as holes), `jpeg` (quality 1–100); e.g.
   * `{ blur: 2, noise: 5 }` for deblurring.
   */
  degrade(spec: DegradeSpec): Pipeline {
    return this.op(degradeSpec, spec);
  }

  /** Loads a file (`{name}` = the input's name) into a slot, e.g. a reference into `clean`. */
  load(options: LoadOpOptions): Pipeline {
    return this.op(loadSpec, options);
  }

  /** Adds PSNR and SSIM of `target` against `reference` to the frame's metrics. */
  metrics(options: MetricsOptions = {}): Pipeline {
    return this.op(metricsSpec, options);
  }

  /**
   * Writes a slot to `pattern`, resolved against the run's output folder; `{name}` is the input's
   * name, `{dir}` its sub-folder under the source root. Writes are atomic; existing outputs are
   * kept unless the run is forced, and an input whose outputs all exist is skipped.
   */
  save(pattern: string, options: SaveOpOptions = {}): Pipeline {
    return this.op(saveSpec, { pattern, ...options }, "save()");
  }

  /**
   * Restores slot "image" with Deep Image Prior (dip/fit.ts): `task` is one of dip/tasks.ts's
   * (`denoise`, `sr`, `inpaint`, `jpeg`, `flash`, `deblur`, `poisson`); every other option
   * defaults to the task's reference preset.
   */
  dipFit(options: DipFitOptions): Pipeline {
    return this.op(dipFitSpec, options);
  }

  /** Averages `runs` fits of the preceding dipFit with seeds seed, seed + 1, … (batched). */
  average(options: AverageOptions): Pipeline {
    return this.op(averageSpec, options);
  }

  /**
   * Runs a learned image-to-image model on slot "image" (ops/model.ts): an ONNX file, a
   * TensorFlow.js `model.json`, or a named model that ships on npm (`esrgan-slim`, `-medium`,
   * `-thick`, with `factor` 2, 3, 4 or 8), tiled with blended overlaps.
   */
  model(options: ModelOptions): Pipeline {
    return this.op(modelSpec, options);
  }

  /**
   * Writes one self-contained HTML report of the run to `path` in the output folder when the
   * run ends: per input the thumbnails, scores and the fit's curves (ops/report.ts). `restored`
   * (a save pattern) makes each restored thumbnail a link to its full-size file.
   */
  report(path: string, options: Omit<ReportOpOptions, "path"> = {}): Pipeline {
    return this.op(reportSpec, { path, ...options }, "report()");
  }

  /** Expands and validates the recipe. @throws {RecipeError} when an op reads a missing slot */
  compile(options?: CompileOptions): CompiledGraph {
    return compileSteps(this.steps, options);
  }

  /**
   * The compiled op graph as text (kinds, reads → writes, params, files written; a fit's
   * network, and its cost when `context.input` gives the input's size).
   */
  explain(outDir = "out", context: ExplainContext = {}): string {
    return explainGraph(this.compile(), outDir, context);
  }

  /**
   * Runs the recipe over `options.input` (or the default input) and resolves with a summary;
   * failing inputs are listed in `summary.failed`, not thrown.
   */
  run(options: RunOptions = {}): Promise<RunSummary> {
    return runPipeline(this, options);
  }
}

/** Starts an empty recipe. */
export function pipeline(): Pipeline {
  return new Pipeline();
}

/** Whether `value` is a {@link Pipeline}, also one built by another copy of this module. */
export function isPipeline(value: unknown): value is Pipeline {
  return typeof value === "object" && value !== null &&
    (value as Record<symbol, unknown>)[PIPELINE_BRAND] === true;
}

/**
 * Throws a sharp-style {@link RecipeError} unless `accept(value)` (for custom ops' own checks):
 * "save(): Expected integer between 1 and 100 for quality but received 0 of type number".
 */
export function expectValue(
  op: string,
  name: string,
  value: unknown,
  expected: string,
  accept: (value: unknown) => boolean,
): void {
  if (!accept(value)) {
    throw new RecipeError(
      `${op}(): Expected ${expected} for ${name} but received ${received(value)}`,
    );
  }
}
