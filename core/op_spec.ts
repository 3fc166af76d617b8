/**
 * An op's declaration: its kind, one line of summary, the zod schema of its options and the
 * function that builds the step from checked options. The builder methods, JSON recipes, the
 * JSON Schema and `explain()` all read this one record.
 *
 * @module
 */
import type { Step } from "./graph.ts";
import { parseOptions, type z } from "./schema.ts";

/** The declaration of a built-in op (see ops/registry.ts for the list). */
export interface OpSpec<S extends z.ZodType = z.ZodType> {
  /** The op's name in recipes and errors, e.g. `"degrade"`. */
  readonly kind: string;
  /** One line for `dipline recipe --schema` and the docs. */
  readonly summary: string;
  /** The options a recipe gives, as a zod schema (strict: unknown keys are refused). */
  readonly options: S;
  /** Builds the step from checked options. */
  create(options: z.output<S>): Step;
}

/** Declares an op (an identity function that keeps the schema's types). */
export function defineOp<S extends z.ZodType>(spec: OpSpec<S>): OpSpec<S> {
  return Object.freeze(spec);
}

/**
 * Checks `options` against the op's schema and builds the step.
 *
 * @throws {RecipeError} "degrade(): Expected number ≥ 0 for noise but received -1 of type number"
 */
export function createStep<S extends z.ZodType>(
  spec: OpSpec<S>,
  options: unknown,
  where = `${spec.kind}()`,
): Step {
  return spec.create(parseOptions(spec.options, options, where));
}
