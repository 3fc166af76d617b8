/**
 * How many fits to train at once, and what to do when the device cannot hold them: the
 * schedule of a multi-run fit, which belongs to the engine, not to the ops. A caller gives a
 * way to compile the plan for a batch size and the number of runs; {@link trainInBatches}
 * hands it trainers that together cover every run, halving an automatic batch when the engine
 * refuses to create one, and returns each trainer to the {@link TrainerPool} (or frees it).
 *
 * @module
 */
import type { Trainer } from "./backend.ts";
import type { EngineName } from "./backend.ts";
import type { Plan } from "./plan.ts";
import type { TrainerPool } from "./trainer_pool.ts";

/**
 * The largest arena a batched trainer may need when the batch is chosen automatically (1 GiB:
 * under the 2 GiB maxBufferSize many WebGPU adapters report).
 */
export const BATCH_ARENA_BYTES = 2 ** 30;

/** How many fits of `plan` (compiled for batch 1) fit in `maxArenaBytes` per arena. */
export function autoBatch(plan: Plan, runs: number, maxArenaBytes = BATCH_ARENA_BYTES): number {
  const largest = Math.max(...Object.values(plan.arenaSizes)) * 4;
  return Math.max(1, Math.min(runs, Math.floor(maxArenaBytes / Math.max(1, largest))));
}

/** How to run the fits of one observation (the run context's, not the recipe's). */
export interface BatchSchedule {
  /** Engine to create trainers on. */
  readonly engine: EngineName;
  /** Cpu engine worker threads. */
  readonly threads?: number;
  /** Fits per trainer; default: as many as {@link BATCH_ARENA_BYTES} allows, halved on refusal. */
  readonly batch?: number;
  /** Largest arena of an automatic batch, in bytes (default {@link BATCH_ARENA_BYTES}). */
  readonly maxArenaBytes?: number;
  /** Reuses trainers of the same plan across calls (and inputs); default: a trainer per batch. */
  readonly pool?: TrainerPool;
  /** Creates a trainer (engine/mod.ts createTrainer, or a test's scripted one). */
  readonly create: (plan: Plan, options: { engine: EngineName; threads?: number }) => Promise<
    Trainer
  >;
}

/** One batch of fits: runs `first` … `first + batch − 1` on `trainer`. */
export interface Batch {
  readonly trainer: Trainer;
  readonly plan: Plan;
  readonly first: number;
  readonly batch: number;
}

/**
 * Trains `runs` fits in batches: `train` is called once per batch with a trainer ready to be
 * reset. Trainers are released to the pool (or disposed) after each batch, also when `train`
 * throws.
 */
export async function trainInBatches(
  compile: (batch: number) => Plan,
  runs: number,
  schedule: BatchSchedule,
  train: (batch: Batch) => Promise<void>,
): Promise<void> {
  let maxBatch = schedule.batch !== undefined
    ? Math.min(runs, schedule.batch)
    : autoBatch(compile(1), runs, schedule.maxArenaBytes);
  for (let first = 0; first < runs;) {
    const batch = Math.min(maxBatch, runs - first);
    const plan = compile(batch);
    let trainer: Trainer;
    try {
      trainer = schedule.pool
        ? await schedule.pool.acquire(plan, schedule, schedule.create)
        : await schedule.create(plan, { engine: schedule.engine, threads: schedule.threads });
    } catch (error) {
      // An automatic batch the engine cannot hold: halve it and try again.
      if (schedule.batch !== undefined || batch === 1) throw error;
      maxBatch = Math.ceil(batch / 2);
      continue;
    }
    let healthy = false;
    try {
      await train({ trainer, plan, first, batch });
      healthy = true;
    } finally {
      if (schedule.pool) schedule.pool.release(trainer, healthy);
      else trainer.dispose();
    }
    first += batch;
  }
}
