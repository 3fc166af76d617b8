/**
 * Compiled trainers kept across fits of the same plan: a folder of same-size images compiles its
 * network (pipelines, shaders, wasm workers, arenas) once instead of once per image. A trainer
 * is keyed by its plan (the plan is plain data, so its JSON is the key) and the engine options;
 * `reset()` gives every fit fresh parameters, moments and state, so a reused trainer computes
 * exactly what a new one would (tests/trainer_pool_test.ts checks it).
 *
 * @module
 */
import type { EngineName, Trainer } from "./backend.ts";
import type { Plan } from "./plan.ts";

/** Options of {@link TrainerPool}. */
export interface TrainerPoolOptions {
  /** Idle trainers kept; the least recently used beyond this are freed (default 2). */
  readonly capacity?: number;
}

/** Trainers kept for reuse, by plan; {@link dispose} frees them all. */
export class TrainerPool {
  readonly #idle: { key: string; trainer: Trainer }[] = [];
  readonly #busy = new Map<Trainer, string>();
  readonly #capacity: number;
  #closed = false;
  /** Trainers created by this pool so far. */
  created = 0;
  /** Acquisitions served by an idle trainer. */
  reused = 0;

  constructor(options: TrainerPoolOptions = {}) {
    this.#capacity = options.capacity ?? 2;
  }

  /** An idle trainer of the same plan and engine options, or a new one from `create`. */
  async acquire(
    plan: Plan,
    options: { engine: EngineName; threads?: number },
    create: (plan: Plan, options: { engine: EngineName; threads?: number }) => Promise<Trainer>,
  ): Promise<Trainer> {
    const key = `${options.engine}|${options.threads ?? ""}|${planKey(plan)}`;
    const index = this.#idle.findIndex((entry) => entry.key === key);
    let trainer: Trainer;
    if (index >= 0) {
      trainer = this.#idle.splice(index, 1)[0]!.trainer;
      this.reused++;
    } else {
      trainer = await create(plan, { engine: options.engine, threads: options.threads });
      this.created++;
    }
    this.#busy.set(trainer, key);
    return trainer;
  }

  /**
   * Returns a trainer for reuse; one whose fit failed (`healthy` false) is freed instead, since
   * its device state is unknown.
   */
  release(trainer: Trainer, healthy = true): void {
    const key = this.#busy.get(trainer);
    this.#busy.delete(trainer);
    if (key === undefined || !healthy || this.#closed) {
      trainer.dispose();
      return;
    }
    this.#idle.push({ key, trainer });
    while (this.#idle.length > this.#capacity) this.#idle.shift()!.trainer.dispose();
  }

  /** Frees every idle trainer (busy ones are freed when released). */
  dispose(): void {
    this.#closed = true;
    for (const { trainer } of this.#idle.splice(0)) trainer.dispose();
  }
}

/**
 * A key that is equal for equal plans: the plan's JSON with every typed array (given weights,
 * Lanczos taps) replaced by its length and an FNV-1a hash of its bytes, so a plan that carries
 * 2 M weights keys in milliseconds instead of serialising them as text.
 */
export function planKey(plan: Plan): string {
  return JSON.stringify(plan, (_key, value) => {
    if (!ArrayBuffer.isView(value)) return value;
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    let hash = 0x811c9dc5;
    for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
    return `${value.constructor.name}:${bytes.length}:${(hash >>> 0).toString(16)}`;
  });
}
