/**
 * The compiler: a {@link Network} plus a fit size, a batch and a data term become a {@link Plan}
 * (shape inference, forward schedule, derived backward schedule, buffer plan), once per fit.
 * {@link compilePlan} is a driver over named passes in engine/compile/, each with one job:
 *
 * | pass | file | job |
 * |---|---|---|
 * | options | options.ts | check the numbers of {@link CompileOptions} |
 * | shapes | shapes.ts | every layer's output shape at the fit's size |
 * | data term | data_term.ts | downsample stages after the output; a mask applied by the loss |
 * | reachability | reachability.ts | every tensor contributes to the prediction |
 * | parameters | params.ts | pack the parameter tensors of one fit, with their initialisation |
 * | concat in place | aliasing.ts | concat inputs that are channel slices of the concat output |
 * | forward buffers | buffers.ts | `io`, `act` and `stats` regions |
 * | forward | forward.ts | one step per layer and data-term stage, after z's perturbation |
 * | backward | backward.ts | the loss and the gradient steps, with symbolic gradients |
 * | liveness | liveness.ts | `dact` regions shared by liveness; the steps bound to them |
 * | update | update.ts | Adam, EMA, PSNR and ES-WMV, and the scalars they write |
 *
 * This file is the one that reads models/ (the passes import nothing above engine/): it hands
 * the network's nodes, channel counts and parameter tensors to the passes.
 *
 * Buffer plan:
 * - `param`/`grad`/`adamM`/`adamV`: parameters packed in network order (weight, then bias), so
 *   `paramsPerFit` equals {@link countParams}; fit b's copy at b · paramsPerFit.
 * - `act`: every forward tensor kept for backward, each in its own 64-float aligned region,
 *   except a concat input whose only consumer is that concat and whose size needs no crop: it
 *   is a channel slice of the concat output (its producer writes there, no copy).
 * - `dact`: one region per tensor gradient (a concat's aliased inputs are slices of the concat
 *   gradient), live from its first backward writer to its last backward reader; regions whose
 *   lifetimes do not overlap share memory (first fit).
 * - `io`: z0, z, target, mask, EMA, and for ES-WMV the best output and the ring of outputs.
 * - `scalars`: loss, PSNR, WMV variance/min/argmin, each `batch` long.
 *
 * @module
 */
import type { Network } from "../models/graph.ts";
import { inferChannels, paramTensors } from "../models/count.ts";
import type { Arena, Plan } from "./plan.ts";
import { planConcatAliases } from "./compile/aliasing.ts";
import { deriveBackward, lossOp } from "./compile/backward.ts";
import { layoutBuffers } from "./compile/buffers.ts";
import { lowerDataTerm } from "./compile/data_term.ts";
import { lowerForward } from "./compile/forward.ts";
import { tensorGraph } from "./compile/graph.ts";
import { allocateGradients, bindGradients, type GradientRegion } from "./compile/liveness.ts";
import { checkOptions, type CompileOptions } from "./compile/options.ts";
import { layoutParams } from "./compile/params.ts";
import { checkReachability } from "./compile/reachability.ts";
import { inferShapes } from "./compile/shapes.ts";
import { appendUpdate } from "./compile/update.ts";

export type { CompileOptions } from "./compile/options.ts";
export type { GradientRegion } from "./compile/liveness.ts";
export { downsampleTerm, lanczosTaps } from "./compile/lanczos.ts";
export { stepLabel } from "./compile/labels.ts";
export { describePlan } from "./compile/describe.ts";

const planRegions = new WeakMap<Plan, readonly GradientRegion[]>();

/** The `dact` regions a compile planned for `plan` (for tests and describePlan). */
export function gradientRegions(plan: Plan): readonly GradientRegion[] | undefined {
  return planRegions.get(plan);
}

/**
 * Compiles a network and a data term into a training step for `batch` fits of
 * `height` × `width`.
 *
 * @example
 * ```ts
 * import { compilePlan, downsampleTerm } from "./compile.ts";
 * import { denoisingNet } from "../models/mod.ts";
 * const plan = compilePlan(denoisingNet(), {
 *   batch: 1, height: 64, width: 64, dataTerm: downsampleTerm(4),
 *   lr: 0.01, regNoiseStd: 0.03, emaDecay: 0,
 * });
 * ```
 */
export function compilePlan(network: Network, options: CompileOptions): Plan {
  checkOptions(options);
  const { batch, height, width } = options;
  const where = `compilePlan(${network.name})`;

  const { tensors, inputId } = inferShapes(network, inferChannels(network), height, width, where);
  const outShape = tensors.find((t) => t.id === network.output)!.shape;
  const term = lowerDataTerm(options.dataTerm, network.output, outShape, where);
  const graph = tensorGraph([...tensors, ...term.stages], {
    inputId,
    output: network.output,
    pred: term.pred,
    hasMask: term.hasMask,
  });
  checkReachability(graph, where);

  const { params, paramsPerFit, pref } = layoutParams(paramTensors(network), network.nodes, where);
  const aliases = planConcatAliases(graph);
  const buffers = layoutBuffers(graph, aliases, batch, options.earlyStopWindow);
  const { forward, forwardMacs } = lowerForward(graph, aliases, buffers, pref, options.regNoiseStd);

  const ops = [
    lossOp(graph, aliases, buffers),
    ...deriveBackward(graph, aliases, buffers, forward, pref, where),
  ];
  const dact = allocateGradients(ops, graph.shapeOf, batch, options.shareGradients ?? true);
  const lossAndBackward = bindGradients(ops, dact, aliases, graph.shapeOf, where);
  const { update, scalars, scalarsSize } = appendUpdate(graph, buffers, paramsPerFit, options);

  const paramSize = batch * paramsPerFit;
  const arenaSizes: Record<Arena, number> = {
    param: paramSize,
    grad: paramSize,
    adamM: paramSize,
    adamV: paramSize,
    act: buffers.actSize,
    dact: dact.size,
    stats: buffers.statsSize,
    io: buffers.ioSize,
    scalars: scalarsSize,
  };
  const { z0, z, target, mask, ema, best } = buffers;
  const plan: Plan = {
    batch,
    height,
    width,
    paramsPerFit,
    arenaSizes,
    forward,
    loss: lossAndBackward.slice(0, 1),
    backward: lossAndBackward.slice(1),
    update,
    params,
    io: {
      z0,
      z,
      output: buffers.view(network.output),
      target,
      ...(mask ? { mask } : {}),
      ema,
      ...(best ? { best } : {}),
    },
    scalars,
    forwardMacs,
  };
  planRegions.set(plan, dact.regions);
  return plan;
}
