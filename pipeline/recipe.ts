/**
 * Recipes as data: the versioned JSON document a pipeline made of built-in ops writes
 * (`pipeline.toJSON()`) and reads (`Pipeline.fromJSON(doc)`), its JSON Schema (generated from
 * the ops' option schemas, never written by hand), and loading a recipe file (`.ts`/`.js` with
 * a default-exported pipeline, or `.json`). A queue carries this document; a test can diff it.
 *
 * ```json
 * { "version": 1, "steps": [
 *   { "op": "degrade", "options": { "noise": 25, "seed": 1 } },
 *   { "op": "dipFit", "options": { "task": "denoise" } },
 *   { "op": "save", "options": { "pattern": "{name}_denoised.png" } } ] }
 * ```
 *
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { InputError, RecipeError } from "../core/errors.ts";

import { describeIssue, jsonSchemaOf, received, z } from "../core/schema.ts";
import { BUILTIN_OPS, builtinOp } from "../ops/registry.ts";
import { isPipeline, Pipeline } from "./dsl.ts";

/** The version of the recipe document this code reads and writes. */
export const RECIPE_VERSION = 1;

/** One step of a recipe document: a built-in op and its options as written. */
export interface RecipeStep {
  /** The op's kind, e.g. `"dipFit"`. */
  readonly op: string;
  /** Its options (the op's schema; `save` puts its pattern here too). */
  readonly options: Readonly<Record<string, unknown>>;
}

/** A recipe as data. */
export interface RecipeDocument {
  /** Document version ({@link RECIPE_VERSION}). */
  readonly version: 1;
  /** The input used when a run is given none (a file, glob or folder). */
  readonly input?: string;
  /** The steps in order. */
  readonly steps: readonly RecipeStep[];
}

/** The document's shape (each step's options are checked against its op's own schema). */
const DocumentShape = z.strictObject({
  $schema: z.string().optional(),
  version: z.literal(RECIPE_VERSION),
  input: z.string().min(1).optional(),
  steps: z.array(
    z.strictObject({
      op: z.string().min(1),
      options: z.record(z.string(), z.unknown()).optional(),
    }),
  ),
});

/**
 * Reads a recipe document.
 *
 * @throws {RecipeError} one line that names the step, the option and what was expected
 */
export function pipelineFromJSON(doc: unknown): Pipeline {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new RecipeError(
      `recipe: Expected a JSON object with version and steps but received ${received(doc)}`,
    );
  }
  const shape = DocumentShape.safeParse(doc);
  if (!shape.success) {
    const issue = shape.error.issues[0]!;
    throw new RecipeError(`recipe: ${describeIssue(issue, doc, DocumentShape)}`);
  }
  const { input, steps } = shape.data;
  let recipe = new Pipeline([], input);
  steps.forEach(({ op, options }, i) => {
    const spec = builtinOp(op);
    if (spec === undefined) {
      throw new RecipeError(
        `steps[${i}]: Unknown op "${op}" (expected one of ${
          BUILTIN_OPS.map((s) => s.kind).join(", ")
        })`,
      );
    }
    recipe = recipe.op(spec, options ?? {}, `steps[${i}] ${op}()`);
  });
  try {
    recipe.compile();
  } catch (error) {
    if (error instanceof RecipeError) throw new RecipeError(`recipe: ${error.message}`);
    throw error;
  }
  return recipe;
}

/** The JSON Schema (draft 2020-12) of a recipe document, from the ops' option schemas. */
export function recipeJsonSchema(): Record<string, unknown> {
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "https://dipline.dev/schema/recipe-v1.json",
    title: "dipline recipe",
    description: "A Deep Image Prior restoration pipeline as data (pipeline.toJSON()).",
    type: "object",
    properties: {
      $schema: { type: "string" },
      version: { const: RECIPE_VERSION },
      input: { type: "string", minLength: 1, description: "default input: file, glob or folder" },
      steps: {
        type: "array",
        items: {
          oneOf: BUILTIN_OPS.map((spec) => ({
            type: "object",
            description: spec.summary,
            properties: { op: { const: spec.kind }, options: jsonSchemaOf(spec.options) },
            required: ["op"],
            additionalProperties: false,
          })),
        },
      },
    },
    required: ["version", "steps"],
    additionalProperties: false,
  };
}

/**
 * Loads a recipe file: `.json` (a recipe document) or a module (`.ts`, `.js`, …) whose default
 * export is a pipeline.
 *
 * @throws {InputError} naming the file when it is missing, unreadable, not JSON, or exports no
 * pipeline; a syntax error names the file, line and column
 * @throws {RecipeError} when a JSON recipe is wrong (prefixed with the file)
 */
export async function loadRecipe(path: string): Promise<Pipeline> {
  const full = resolve(path);
  try {
    await Deno.stat(full);
  } catch {
    throw new InputError("no such recipe file", { file: path });
  }
  if (path.toLowerCase().endsWith(".json")) {
    let doc: unknown;
    try {
      doc = JSON.parse(await Deno.readTextFile(full));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new InputError(`not a JSON recipe: ${reason}`, { file: path });
    }
    try {
      return pipelineFromJSON(doc);
    } catch (error) {
      if (error instanceof RecipeError) throw new RecipeError(`${path}: ${error.message}`);
      throw error;
    }
  }
  let module: Record<string, unknown>;
  try {
    module = await import(pathToFileURL(full).href);
  } catch (error) {
    throw new InputError(importFailure(error, full), { file: path, cause: error });
  }
  if (!isPipeline(module.default)) {
    throw new InputError(
      "Expected a recipe whose default export is a pipeline() but it exports none",
      { file: path },
    );
  }
  return module.default;
}

/**
 * One line for a recipe module that failed to load. Deno reports a syntax error as "…could not
 * be parsed: Expected ',', got ';' at file:///…/recipe.ts:3:5": keep the reason and the line
 * and column.
 */
function importFailure(error: unknown, full: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const firstLine = message.split("\n")[0]!;
  const at = message.match(new RegExp(`${escapeRegExp(pathToFileURL(full).href)}:(\\d+):(\\d+)`));
  const parsed = firstLine.match(
    /^(?:SyntaxError: |.*could not be parsed: )(.*?)(?: at file:.*)?$/,
  );
  if (parsed && at) return `syntax error at line ${at[1]}, column ${at[2]}: ${parsed[1]}`;
  if (at) return `${firstLine.replace(/ at file:.*$/, "")} (line ${at[1]}, column ${at[2]})`;
  return firstLine;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
