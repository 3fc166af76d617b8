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
import { average, type AverageOptions } from "../ops/average.ts";
import type { DegradeSpec } from "../dip/degrade.ts";
import type { DipFitOptions } from "../dip/fit.ts";
import { degradeOp } from "../ops/degrade.ts";
import { dipFit } from "../ops/dip_fit.ts";
import { metricsOp, type MetricsOpOptions } from "../ops/metrics.ts";
import { saveOp, type SaveOpOptions } from "../ops/save.ts";
import { RecipeError } from "../core/errors.ts";
import { type RunOptions, runPipeline, type RunSummary } from "./executor.ts";
import {
  type CompiledGraph,
  type CompileOptions,
  compileSteps,
  explainGraph,
  type Step,
} from "../core/graph.ts";
import type { Frame, Op } from "../core/types.ts";

const PIPELINE_BRAND = Symbol.for("dipline.pipeline");

/** Options of {@link Pipeline.metrics}: the metrics op's, plus a label. */
export interface MetricsOptions extends MetricsOpOptions {
  /**
   * Prefix for the scores, e.g. `"noisy"` → `noisy.psnr`, `noisy.ssim`; without one the scores
   * are `psnr` and `ssim` and a later unlabelled `metrics()` (or a dipFit scoring against
   * `clean`) overwrites them.
   */
  readonly label?: string;
}

/** An immutable recipe: a list of steps plus an optional default input. */
export class Pipeline {
  /** The recipe's steps in order (ops, or expansions such as `average`). */
  readonly steps: readonly Step[];
  /** The input used when none is given to `run` (a file, glob or folder). */
  readonly defaultInput?: string;
  /** Marks pipelines for {@link isPipeline}, across copies of this module. */
  readonly [PIPELINE_BRAND] = true;

  /** Use {@link pipeline} to start a recipe. */
  constructor(steps: readonly Step[] = [], defaultInput?: string) {
    this.steps = Object.freeze([...steps]);
    this.defaultInput = defaultInput;
    Object.freeze(this);
  }

  /** Appends any op (or expansion); the escape hatch for ops the builder has no method for. */
  use(step: Step): Pipeline {
    if (step === null || typeof step !== "object" || typeof step.kind !== "string") {
      throw new RecipeError(
        `use(): Expected an op or expansion for step but received ${received(step)}`,
      );
    }
    return new Pipeline([...this.steps, step], this.defaultInput);
  }

  /**
   * Appends the op `make()` builds; an error it throws becomes a {@link RecipeError} that names
   * the op. Builder methods are one line each on top of this.
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

  /** Sets the input used when `run` (or `dipline run`) is given none: a file, glob or folder. */
  input(spec: string): Pipeline {
    expectValue("input", "spec", spec, "non-empty string", isNonEmptyString);
    return new Pipeline(this.steps, spec);
  }

  /**
   * Degrades `image` and keeps the original in `clean` (and the mask in `mask` for `drop` and
   * `text`), so a later `metrics()` can score a restoration against it. Seeded: same seed, same
   * output. At least one of `blur` (Gaussian σ in pixels, applied first), `noise` (σ on the
   * 0–255 scale), `downsample` (2, 4 or 8), `drop` (fraction of pixels kept), `text` (text drawn
   * as holes), `jpeg` (quality 1–100); e.g. `{ blur: 2, noise: 5 }` for deblurring.
   */
  degrade(spec: DegradeSpec): Pipeline {
    return this.add("degrade", () => degradeOp(spec));
  }

  /** Adds PSNR and SSIM of `target` against `reference` to the frame's metrics. */
  metrics(options: MetricsOptions = {}): Pipeline {
    const { label, ...rest } = options;
    if (label === undefined) return this.add("metrics", () => metricsOp(rest));
    expectValue("metrics", "label", label, "label of letters, digits, _ or -", isLabel);
    return this.add("metrics", () => labelMetrics(metricsOp(rest), label));
  }

  /**
   * Writes a slot to `pattern`, resolved against the run's output folder; `{name}` is the input's
   * name, `{dir}` its sub-folder under the source root. Writes are atomic; existing outputs are
   * kept unless the run is forced, and an input whose outputs all exist is skipped.
   */
  save(pattern: string, options: SaveOpOptions = {}): Pipeline {
    return this.add("save", () => saveOp(pattern, options));
  }

  /**
   * Restores slot "image" with Deep Image Prior (ops/dip_fit.ts): `task` is `denoise`, `sr`,
   * `inpaint`, `jpeg` or `flash`; every other option defaults to the task's reference preset.
   */
  dipFit(options: DipFitOptions): Pipeline {
    return this.add("dipFit", () => dipFit(options));
  }

  /** Averages `runs` fits of the preceding dipFit with seeds seed, seed + 1, … (batched). */
  average(options: AverageOptions): Pipeline {
    return this.add("average", () => average(options));
  }

  /** Expands and validates the recipe. @throws {RecipeError} when an op reads a missing slot */
  compile(options?: CompileOptions): CompiledGraph {
    return compileSteps(this.steps, options);
  }

  /** The compiled op graph as text (kinds, reads → writes, params, files written). */
  explain(outDir = "out"): string {
    return explainGraph(this.compile(), outDir);
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
 * Throws a sharp-style {@link RecipeError} unless `accept(value)`:
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

/** `-2 of type number`, `"abc" of type string`: how errors show a received value. */
export function received(value: unknown): string {
  const shown = typeof value === "string" ? JSON.stringify(value) : String(value);
  return `${shown} of type ${value === null ? "null" : typeof value}`;
}

const isNonEmptyString = (v: unknown): boolean => typeof v === "string" && v.length > 0;
const isLabel = (v: unknown): boolean => typeof v === "string" && /^[\w-]+$/.test(v);

/** Wraps a metrics op so that its scores land under `label.` (e.g. `noisy.psnr`). */
function labelMetrics(op: Op, label: string): Op {
  return {
    kind: op.kind,
    reads: op.reads,
    writes: op.writes,
    params: { ...op.params, label },
    async run(frame: Frame, ctx): Promise<Frame> {
      const scored = await op.run({ ...frame, meta: { ...frame.meta, metrics: {} } }, ctx);
      const labelled = Object.fromEntries(
        Object.entries(scored.meta.metrics).map(([key, value]) => [`${label}.${key}`, value]),
      );
      return {
        ...scored,
        meta: { ...scored.meta, metrics: { ...frame.meta.metrics, ...labelled } },
      };
    },
  };
}
