/**
 * Given weights instead of initialised ones: a plan whose every parameter tensor starts from
 * explicit values, so `trainer.reset(seeds)` on any backend loads them (an imported ONNX
 * generator that keeps its weights, or a forward pass of exported weights).
 *
 * @module
 */
import type { Plan } from "./plan.ts";

/**
 * `plan` with every parameter initialised to `params` (one fit's parameters, `paramsPerFit`
 * floats in layout order; every fit of the batch starts from them).
 *
 * @example
 * ```ts
 * import { compilePlan } from "./compile.ts";
 * import { planWithWeights } from "./weights.ts";
 * import { countParams, skip } from "../models/mod.ts";
 * const net = skip({ inputChannels: 2, channelsDown: [4], channelsSkip: [1] });
 * const plan = planWithWeights(
 *   compilePlan(net, {
 *     batch: 1, height: 8, width: 8, dataTerm: { kind: "identity" },
 *     lr: 0.01, regNoiseStd: 0, emaDecay: 0,
 *   }),
 *   new Float32Array(countParams(net)).fill(0.1),
 * );
 * ```
 *
 * @throws {RangeError} when `params` is not `plan.paramsPerFit` long
 */
export function planWithWeights(plan: Plan, params: Float32Array): Plan {
  if (params.length !== plan.paramsPerFit) {
    throw new RangeError(
      `planWithWeights: expected ${plan.paramsPerFit} parameters but received ${params.length}`,
    );
  }
  return {
    ...plan,
    params: plan.params.map((p) => ({
      ref: p.ref,
      init: "values" as const,
      values: params.slice(p.ref.offset, p.ref.offset + p.ref.size),
      name: p.name,
    })),
  };
}
