/**
 * Pass 10, the step-level tail after backward: one Adam over all parameters, the EMA of the
 * output (when on), the PSNR of the prediction against the observation, and ES-WMV's windowed
 * variance (when on); and where their per-fit scalars live.
 *
 * @module
 */
import type { PlanScalars, Step } from "../plan.ts";
import type { Buffers } from "./buffers.ts";
import type { TensorGraph } from "./graph.ts";
import { label } from "./labels.ts";
import type { CompileOptions } from "./options.ts";

/** The update steps, the scalars' offsets and the floats of `scalars`. */
export function appendUpdate(
  graph: TensorGraph,
  buffers: Buffers,
  paramsPerFit: number,
  options: CompileOptions,
): { update: Step[]; scalars: PlanScalars; scalarsSize: number } {
  const { batch } = options;
  const { view, target, ema, ring, best } = buffers;
  const window = options.earlyStopWindow;
  const scalarsLoss = 0;
  const scalarsPsnr = batch;
  const update: Step[] = [
    label({
      kind: "adam",
      size: batch * paramsPerFit,
      lr: options.lr,
      beta1: options.beta1 ?? 0.9, // PyTorch Adam defaults
      beta2: options.beta2 ?? 0.999,
      eps: options.eps ?? 1e-8,
    }, "adam"),
  ];
  const output = view(graph.output);
  if (options.emaDecay > 0) {
    update.push(label({ kind: "ema", x: output, ema, decay: options.emaDecay }, "ema"));
  }
  update.push(label({ kind: "psnr", a: view(graph.pred), b: target, offset: scalarsPsnr }, "psnr"));
  let scalarsSize = 2 * batch;
  let wmv: { variance: number; min: number; argmin: number } | undefined;
  if (window !== undefined && ring && best) {
    wmv = { variance: 2 * batch, min: 3 * batch, argmin: 4 * batch };
    scalarsSize = 5 * batch;
    update.push(label({
      kind: "wmv",
      x: output,
      ring,
      window,
      best,
      varOffset: wmv.variance,
      minOffset: wmv.min,
      argminOffset: wmv.argmin,
    }, "wmv"));
  }
  return {
    update,
    scalars: { loss: scalarsLoss, psnrObserved: scalarsPsnr, ...(wmv ? { wmv } : {}) },
    scalarsSize,
  };
}
