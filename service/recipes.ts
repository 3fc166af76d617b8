/**
 * How the service reads recipes: JSON documents (inline in a request, or `.json` files in
 * `--recipes`) are data, checked against the op schemas and never evaluated; `.ts`/`.js` files
 * in `--recipes` are code the operator put there. Either way the job stores the recipe as its
 * JSON document, so a queued job does not change when a recipe file does.
 *
 * @module
 */
import { Pipeline } from "../pipeline/dsl.ts";
import { loadRecipe, recipeJsonSchema } from "../pipeline/recipe.ts";

/** Turns recipes into pipelines and back (pipeline/recipe.ts behind an interface). */
export interface RecipeCodec {
  /**
   * Checks a JSON recipe document and builds its pipeline.
   *
   * @throws {RecipeError} one line naming the step and the option
   */
  fromJSON(document: unknown): Pipeline;
  /**
   * The JSON document of a pipeline.
   *
   * @throws {RecipeError} for a step that has no JSON form
   */
  toJSON(recipe: Pipeline): unknown;
  /** Loads a recipe file: `.json` (data) or `.ts`/`.js` (default export). */
  load(path: string): Promise<Pipeline>;
  /** JSON Schema of recipe documents. */
  schema(): Record<string, unknown>;
}

/** The codec of pipeline/recipe.ts: `Pipeline.fromJSON`, `toJSON`, `loadRecipe`. */
export function defaultCodec(): RecipeCodec {
  return {
    fromJSON: (document) => Pipeline.fromJSON(document),
    toJSON: (recipe) => recipe.toJSON(),
    load: (path) => loadRecipe(path),
    schema: () => recipeJsonSchema(),
  };
}

/**
 * `document` with `seed` as the seed of every dipFit step (a run option: same recipe, another
 * draw of the network's weights and input).
 */
export function withSeed(document: unknown, seed: number | undefined): unknown {
  if (seed === undefined || document === null || typeof document !== "object") return document;
  const doc = document as { steps?: unknown };
  if (!Array.isArray(doc.steps)) return document;
  return {
    ...doc,
    steps: doc.steps.map((step) => {
      const s = step as { op?: unknown; options?: Record<string, unknown> };
      return s?.op === "dipFit" ? { ...s, options: { ...s.options, seed } } : step;
    }),
  };
}
