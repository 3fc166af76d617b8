/**
 * What a fit will cost before it runs: its time per step measured by a short calibration on
 * the engine that will run it (the real plan for the input's size: compile, one warm-up step,
 * then a few timed ones), scaled to the fit's steps and runs, and its engine memory from the
 * compiled plan. `dipline run --dry-run` prints it for the first input.
 *
 * @module
 */
import type { EngineName, Trainer } from "../engine/backend.ts";
import { layoutMemory } from "../engine/cpu/memory.ts";
import { inputNoise } from "../engine/init.ts";
import { createTrainer } from "../engine/mod.ts";
import type { Plan } from "../engine/plan.ts";
import { fitGeometry, type ImageShape, planBytes } from "./geometry.ts";
import type { ResolvedFit } from "./options.ts";

/** A fit's predicted cost. */
export interface FitEstimate {
  /** Measured milliseconds per training step (one fit). */
  readonly msPerStep: number;
  /** Milliseconds to compile the plan and create the trainer (the first input's overhead). */
  readonly setupMs: number;
  /** Steps the fit asks for (an upper bound with early stopping), times its runs. */
  readonly steps: number;
  /** Predicted wall time of the fit: setup + steps × msPerStep. */
  readonly totalMs: number;
  /**
   * Engine memory of one fit, in bytes: the plan's arenas, the copy of the parameters and Adam
   * moments that every fit snapshots (backtracking, divergence restores), and on the cpu engine
   * its per-thread convolution scratch ({@link engineBytes}).
   */
  readonly memoryBytes: number;
  /** The network's output size the fit trains at (padded, × the scale). */
  readonly height: number;
  readonly width: number;
  /** The engine and adapter the calibration ran on. */
  readonly engine: string;
  readonly adapter: string;
  /** Steps timed (the last batch: the first, shorter than `minMs`, is not counted). */
  readonly calibrationSteps: number;
}

/**
 * Bytes an engine allocates for a plan. The cpu engine: its whole wasm memory
 * (engine/cpu/memory.ts' layout for `threads` workers: arenas, the snapshot, per-thread
 * scratch). Other engines: the arenas plus the snapshot of param, adamM and adamV the fit takes
 * at its first check (engine/webgpu allocates it then; the reference engine copies the same).
 * Measured against the process's peak RSS by bench/cost.ts: the arenas alone missed the
 * snapshot and scratch, 37 % of the memory of a 128-channel fit at 64².
 */
export function engineBytes(plan: Plan, engine: string, threads: number): number {
  if (engine === "cpu") return layoutMemory(plan, threads).totalBytes;
  return planBytes(plan) + 3 * 4 * plan.arenaSizes.param;
}

/**
 * Times training steps of the fit's plan for an observation shaped `input` on `engine` (after
 * one warm-up step) and predicts the whole fit from them: `steps` steps (default 3), or, when
 * those took under `minMs` (default 1 s), as many more as fill about `minMs`, timed again.
 * bench/cost.ts found 3 steps of a fast network (the jpeg preset, 8 ms/step at 64²) measured
 * at 1.9× its steady rate: the first steps after the warm-up are still slow.
 */
export async function estimateFit(
  fit: ResolvedFit,
  input: ImageShape,
  options: { engine?: EngineName; threads?: number; steps?: number; minMs?: number } = {},
): Promise<FitEstimate> {
  const geometry = fitGeometry(fit, input);
  const plan = geometry.compile(1);
  const t0 = performance.now();
  // The cpu engine's default, made explicit so that its memory layout can be computed.
  const threads = options.threads ?? fit.threads ?? navigator.hardwareConcurrency ?? 1;
  const trainer: Trainer = await createTrainer(plan, {
    engine: options.engine ?? fit.engine,
    threads,
  });
  try {
    await trainer.reset([fit.seed]);
    const z0 = plan.io.z0;
    trainer.upload("z0", inputNoise("noise", z0.c, z0.h, z0.w, 1).subarray(0, z0.c * z0.h * z0.w));
    const target = plan.io.target;
    trainer.upload("target", new Float32Array(target.c * target.h * target.w).fill(0.5));
    if (geometry.operator.usesMask && plan.io.mask) {
      const mask = plan.io.mask;
      trainer.upload("mask", new Float32Array(mask.c * mask.h * mask.w).fill(1));
    }
    trainer.run(1);
    await trainer.readScalars();
    const setupMs = performance.now() - t0;
    const minSteps = options.steps ?? 3;
    const minMs = options.minMs ?? 1000;
    let calibrationSteps = minSteps;
    let t1 = performance.now();
    trainer.run(calibrationSteps);
    await trainer.readScalars();
    let elapsed = performance.now() - t1;
    if (elapsed < minMs) {
      calibrationSteps = Math.min(10_000, Math.ceil((minMs * minSteps) / Math.max(elapsed, 0.01)));
      t1 = performance.now();
      trainer.run(calibrationSteps);
      await trainer.readScalars();
      elapsed = performance.now() - t1;
    }
    const msPerStep = elapsed / calibrationSteps;
    const steps = fit.iterations * fit.runs;
    return {
      msPerStep,
      setupMs,
      steps,
      totalMs: setupMs + steps * msPerStep,
      memoryBytes: engineBytes(plan, trainer.engine, threads),
      height: geometry.height,
      width: geometry.width,
      engine: trainer.engine,
      adapter: trainer.adapter,
      calibrationSteps,
    };
  } finally {
    trainer.dispose();
  }
}

/** `12.4 min`, `38 s`, `1.6 h`. */
export function formatEstimate(ms: number): string {
  const s = ms / 1000;
  if (s < 90) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** One line for `--dry-run`: time and memory of the fit, and where the figures come from. */
export function describeEstimate(e: FitEstimate): string {
  const gib = e.memoryBytes / 2 ** 30;
  const memory = gib >= 1 ? `${gib.toFixed(2)} GiB` : `${(e.memoryBytes / 2 ** 20).toFixed(0)} MiB`;
  return `estimate: ${formatEstimate(e.totalMs)} per input (${e.steps} steps × ` +
    `${e.msPerStep.toFixed(1)} ms, measured over ${e.calibrationSteps} steps on ${e.engine}, ` +
    `${e.adapter}; setup ${formatEstimate(e.setupMs)}), ${memory} of engine memory`;
}
