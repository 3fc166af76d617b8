/**
 * The shape of one fit, from the input's size alone: the network it trains, how much the
 * observation is padded, the output size, the data term, and the plan compiled for a batch.
 * `explain()`, the cost estimate and the fit itself (dip/fit.ts) all derive it the same way.
 *
 * @module
 */
import { compilePlan } from "../engine/compile.ts";
import type { Plan } from "../engine/plan.ts";
import { ARCHITECTURES } from "../models/architectures.ts";
import type { Network } from "../models/graph.ts";
import { compose, identity, mask as maskOperator, type Operator } from "./operators.ts";
import type { ResolvedFit } from "./options.ts";
import { isPadded, paddingToMultiple } from "./pad.ts";
import { TASKS, type TaskSpec } from "./tasks.ts";

/** Size and channels of an observation (or of an image the fit will see). */
export interface ImageShape {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** What a fit of an observation of a given shape trains and computes. */
export interface FitGeometry {
  /** The generator. */
  readonly network: Network;
  /** Padding of the observation (reflected; masked out of the loss). */
  readonly padding: ReturnType<typeof paddingToMultiple>;
  /** Whether any padding is applied. */
  readonly padded: boolean;
  /** The network's output size (padded, × the task's scale). */
  readonly height: number;
  readonly width: number;
  /** The data term: the task's operator, composed with the padding mask when padded. */
  readonly operator: Operator;
  /** The plan for `batch` fits trained at once. */
  compile(batch: number): Plan;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * How much an observation of `height` × `width` is padded so that the output (× `factor`) is a
 * multiple of the network's size multiple and every level keeps at least 2 pixels (a
 * reflection-padded 3×3 conv needs them; the reference crashes below that, its issue #57).
 */
export function fitPadding(
  network: Network,
  factor: number,
  height: number,
  width: number,
): ReturnType<typeof paddingToMultiple> {
  const multiple = network.sizeMultiple / gcd(network.sizeMultiple, factor);
  const minimum = Math.ceil((2 * network.sizeMultiple) / factor);
  return paddingToMultiple(height, width, multiple, minimum);
}

/**
 * The geometry of a fit of an observation shaped `input` (`guideChannels`: the channels of a
 * guide image used as z, for the flash task).
 */
export function fitGeometry(
  fit: ResolvedFit,
  input: ImageShape,
  guideChannels = input.channels,
): FitGeometry {
  const task: TaskSpec = TASKS[fit.task];
  const inputChannels = fit.input === "image" ? guideChannels : fit.inputDepth;
  const network = ARCHITECTURES[fit.arch].build(fit.net, inputChannels, input.channels);
  const f = fit.factor;
  const padding = fitPadding(network, f, input.height, input.width);
  const padded = isPadded(padding);
  const base = task.operator(fit.taskOptions);
  // Padding and held-out pixels (early stopping's holdout rule) are masked out of the loss.
  const masked = padded || fit.earlyStop?.holdout !== undefined;
  const operator = masked ? compose(base.usesMask ? identity() : base, maskOperator()) : base;
  const height = (input.height + padding.top + padding.bottom) * f;
  const width = (input.width + padding.left + padding.right) * f;
  return {
    network,
    padding,
    padded,
    height,
    width,
    operator,
    compile: (batch: number) =>
      compilePlan(network, {
        batch,
        height,
        width,
        dataTerm: operator.dataTerm,
        lr: fit.lr,
        regNoiseStd: fit.regNoise,
        emaDecay: fit.ema,
        earlyStopWindow: fit.earlyStop?.rule === "wmv" ? fit.earlyStop.window : undefined,
      }),
  };
}

/** Bytes of engine memory (every arena) of a plan. */
export function planBytes(plan: Plan): number {
  return Object.values(plan.arenaSizes).reduce((a, b) => a + b, 0) * 4;
}
