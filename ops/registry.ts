/**
 * The built-in ops a recipe's JSON form may name, by kind. Adding an op is one file in ops/
 * that exports its {@link OpSpec} and one entry here (and a builder method in pipeline/dsl.ts).
 *
 * @module
 */
import type { OpSpec } from "../core/op_spec.ts";
import { averageSpec } from "./average.ts";
import { degradeSpec } from "./degrade.ts";
import { dipFitSpec } from "./dip_fit.ts";
import { loadSpec } from "./load.ts";
import { metricsSpec } from "./metrics.ts";
import { modelSpec } from "./model.ts";
import { reportSpec } from "./report.ts";
import { saveSpec } from "./save.ts";

/** Every built-in op, in the order the docs list them. */
export const BUILTIN_OPS: readonly OpSpec[] = [
  loadSpec,
  degradeSpec,
  dipFitSpec,
  averageSpec,
  modelSpec,
  metricsSpec,
  saveSpec,
  reportSpec,
] as readonly OpSpec[];

/** The built-in op named `kind`, if any. */
export function builtinOp(kind: string): OpSpec | undefined {
  return BUILTIN_OPS.find((spec) => spec.kind === kind);
}
