/**
 * The run context ops see (core/types.ts RunContext): the run's schedule — engine, threads,
 * batch — and resources kept for the whole run (compiled trainers reused across inputs), freed
 * when the run ends.
 *
 * @module
 */
import type { RunContext } from "../core/types.ts";

/** The schedule part of a run's options. */
export interface RunSchedule {
  /** Engine for fits; wins over a recipe's hint (default: the recipe's, else auto). */
  readonly engine?: RunContext["engine"];
  /** Cpu engine worker threads. */
  readonly threads?: number;
  /** Fits trained at once (default: as many as memory allows). */
  readonly batch?: number;
  /**
   * Keep resources such as compiled trainers across inputs (default true): a folder of
   * same-size images compiles its network once.
   */
  readonly reuse?: boolean;
}

/** A run context plus the function that frees its resources. */
export function createRunContext(schedule: RunSchedule): RunContext & { dispose(): void } {
  const resources = new Map<string, { value: unknown; dispose: (value: unknown) => void }>();
  return {
    engine: schedule.engine,
    threads: schedule.threads,
    batch: schedule.batch,
    reuse: schedule.reuse ?? true,
    resource<T>(key: string, create: () => T, dispose: (value: T) => void): T {
      let entry = resources.get(key);
      if (!entry) {
        entry = { value: create(), dispose: dispose as (value: unknown) => void };
        resources.set(key, entry);
      }
      return entry.value as T;
    },
    dispose(): void {
      for (const { value, dispose } of resources.values()) dispose(value);
      resources.clear();
    },
  };
}
