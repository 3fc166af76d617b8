/**
 * Step labels: the node (or data-term stage, or step-level name) each step of a compiled plan
 * belongs to, kept beside the plan (not in it, so the plan stays the backends' plain data) for
 * describePlan, profilers and tests.
 *
 * @module
 */
import type { Step } from "../plan.ts";

const stepLabels = new WeakMap<Step, string>();

/** Records `name` as the label of `step`; returns the step. */
export function label<S extends Step>(step: S, name: string): S {
  stepLabels.set(step, name);
  return step;
}

/** The node (or data-term stage) a step of a compiled plan belongs to, if known. */
export function stepLabel(step: Step): string | undefined {
  return stepLabels.get(step);
}
