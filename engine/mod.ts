/**
 * The engine's entry point: compile a network into a {@link Plan}, then run it on a backend
 * chosen by name ("webgpu", "cpu", "reference", or "auto").
 *
 * @example
 * ```ts
 * import { compilePlan, createTrainer, inputNoise } from "./mod.ts";
 * import { skip } from "../models/mod.ts";
 * const plan = compilePlan(skip({ inputChannels: 4, channelsDown: [8, 8], channelsSkip: [2, 2] }), {
 *   batch: 1, height: 16, width: 16, dataTerm: { kind: "identity" },
 *   lr: 0.01, regNoiseStd: 1 / 30, emaDecay: 0.99,
 * });
 * const trainer = await createTrainer(plan, { engine: "reference" });
 * await trainer.reset([1]);
 * trainer.upload("z0", inputNoise("noise", 4, 16, 16, 1));
 * trainer.upload("target", new Float32Array(3 * 16 * 16).fill(0.5));
 * trainer.run(10);
 * console.log((await trainer.readScalars()).loss);
 * ```
 *
 * @module
 */
import type { EngineName, Trainer } from "./backend.ts";
import type { Plan } from "./plan.ts";
import { createReferenceTrainer } from "./reference.ts";
import { probeWebGpu } from "./webgpu/probe.ts";

export type { EngineName, StepScalars, Trainer } from "./backend.ts";
export type * from "./plan.ts";
export { gaussianAt, pcgHash, unitFromU32 } from "./plan.ts";
export {
  compilePlan,
  describePlan,
  downsampleTerm,
  gradientRegions,
  lanczosTaps,
  stepLabel,
} from "./compile.ts";
export type { CompileOptions, GradientRegion } from "./compile.ts";
export { initParams, inputNoise, uniformAt } from "./init.ts";
export {
  autoBatch,
  type Batch,
  BATCH_ARENA_BYTES,
  type BatchSchedule,
  trainInBatches,
} from "./batching.ts";
export { TrainerPool, type TrainerPoolOptions } from "./trainer_pool.ts";
export { createArenas, createReferenceTrainer, ReferenceTrainer, runStep } from "./reference.ts";
export type { Arenas, StepContext } from "./reference.ts";

/** Options of {@link createTrainer}. */
export interface TrainerOptions {
  /** Which backend; "auto" = {@link detectEngine}. */
  readonly engine: EngineName;
  /** Worker threads of the cpu engine (default: the cpu engine decides). */
  readonly threads?: number;
}

type Factory = (plan: Plan, options: { threads?: number }) => Promise<Trainer>;

/** Loads a backend module lazily, so a backend that is absent fails only when asked for. */
async function loadFactory(engine: "webgpu" | "cpu"): Promise<Factory> {
  const file = engine === "webgpu" ? "./webgpu/mod.ts" : "./cpu/mod.ts";
  const exportName = engine === "webgpu" ? "createWebGpuTrainer" : "createCpuTrainer";
  let module: Record<string, unknown>;
  try {
    // A computed specifier: the type checker must not require the backend to exist.
    module = await import(new URL(file, import.meta.url).href);
  } catch (cause) {
    throw new Error(
      `createTrainer: the ${engine} engine could not be loaded from engine/${file.slice(2)}`,
      { cause },
    );
  }
  const factory = module[exportName];
  if (typeof factory !== "function") {
    throw new Error(
      `createTrainer: expected engine/${file.slice(2)} to export ${exportName} but it does not`,
    );
  }
  return factory as Factory;
}

/**
 * The engine "auto" picks: "webgpu" when `navigator.gpu` yields an adapter that is not a
 * software fallback (llvmpipe is), else "cpu". Off the main thread the adapter is asked in a
 * short-lived process (engine/webgpu/probe.ts), so detecting never leaves WebGPU state on a
 * thread that may end while the process exits.
 */
export async function detectEngine(): Promise<"webgpu" | "cpu"> {
  const gpu = await probeWebGpu();
  return gpu.available && !gpu.fallback ? "webgpu" : "cpu";
}

/**
 * Puts a compiled plan on a backend and returns its {@link Trainer}.
 *
 * @example
 * ```ts
 * import { compilePlan, createTrainer } from "./mod.ts";
 * import { denoisingNet } from "../models/mod.ts";
 * const plan = compilePlan(denoisingNet(), {
 *   batch: 1, height: 256, width: 256, dataTerm: { kind: "identity" },
 *   lr: 0.01, regNoiseStd: 1 / 30, emaDecay: 0.99,
 * });
 * const trainer = await createTrainer(plan, { engine: "auto" });
 * ```
 */
export async function createTrainer(plan: Plan, options: TrainerOptions): Promise<Trainer> {
  const engine = options.engine === "auto" ? await detectEngine() : options.engine;
  switch (engine) {
    case "reference":
      return await createReferenceTrainer(plan);
    case "webgpu":
    case "cpu": {
      const factory = await loadFactory(engine);
      return await factory(plan, options.threads !== undefined ? { threads: options.threads } : {});
    }
    default:
      throw new RangeError(
        `createTrainer: expected engine "webgpu", "cpu", "reference" or "auto" but received ${
          String(engine)
        }`,
      );
  }
}
