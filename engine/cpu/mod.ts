/**
 * The CPU backend: a {@link Trainer} that runs a plan with WebAssembly SIMD kernels
 * (engine/cpu/assembly, built by engine/cpu/build.ts) on `threads` workers sharing one
 * `WebAssembly.Memory`. Convolutions are blocked GEMMs with a 4×8 f32x4 micro-kernel, except
 * the 3×3 stride-1 ones on planes ≥ 32², which run by Winograd F(2×2, 3×3) or F(4×4, 3×3)
 * (`winograd` option); every other step kind has its own kernel; threads meet at Atomics barriers
 * between kernels.
 *
 * Calls are queued in order, like a GPU queue: `run` returns at once, and `upload`,
 * `snapshot`, `restore`, `reset`, `read*` and `evaluate` take effect after the steps submitted
 * before them.
 *
 * @example
 * ```ts ignore
 * import { compilePlan } from "../compile.ts";
 * import { createCpuTrainer } from "./mod.ts";
 * const trainer = await createCpuTrainer(compilePlan(net, options), { threads: 2 });
 * await trainer.reset([1]);
 * trainer.upload("z0", z0);
 * trainer.upload("target", target);
 * trainer.run(100);
 * console.log((await trainer.readScalars()).loss);
 * trainer.dispose();
 * ```
 *
 * @module
 */
import type { StepScalars, Trainer } from "../backend.ts";
import { initParams } from "../init.ts";
import type { Plan, View } from "../plan.ts";
import {
  CTL_STEP,
  layoutMemory,
  type MemoryLayout,
  planSteps,
  type WinogradPolicy,
} from "./memory.ts";
import { loadKernelModule } from "./wasm.ts";
import type { FromWorker, ToWorker } from "./worker.ts";

export type { StepScalars, Trainer } from "../backend.ts";
export type * from "../plan.ts";
export type { WinogradPolicy } from "./memory.ts";

/** Options of {@link createCpuTrainer}. */
export interface CpuTrainerOptions {
  /** Worker threads; default `navigator.hardwareConcurrency`. */
  readonly threads?: number;
  /**
   * Which 3×3 stride-1 convs run by Winograd F(2×2, 3×3) or F(4×4, 3×3) instead of the im2col
   * GEMM; default `auto` (the faster one per layer size). Changes speed and float32 rounding
   * only.
   */
  readonly winograd?: WinogradPolicy;
}

const WASM_PAGE = 65536;

class CpuTrainer implements Trainer {
  readonly engine = "cpu" as const;
  readonly adapter: string;
  #layout: MemoryLayout;
  #workers: Worker[];
  #f32: Float32Array;
  #u32: Uint32Array;
  #ctl: Int32Array;
  /** Everything submitted so far, in order. */
  #tail: Promise<void> = Promise.resolve();
  #pendingRun?: { resolve: () => void; reject: (e: Error) => void };
  #failure?: Error;
  #hasSnapshot = false;
  /** No kernel has run yet: the memory is still all zeros (fresh pages). */
  #fresh = true;

  constructor(
    readonly plan: Plan,
    memory: WebAssembly.Memory,
    layout: MemoryLayout,
    workers: Worker[],
  ) {
    this.#layout = layout;
    this.#workers = workers;
    this.#f32 = new Float32Array(memory.buffer);
    this.#u32 = new Uint32Array(memory.buffer);
    this.#ctl = new Int32Array(memory.buffer, layout.control, 64);
    this.adapter = `wasm-simd128 ×${workers.length} threads`;
    for (const w of workers) {
      w.onmessage = (e: MessageEvent<FromWorker>) => this.#onMessage(e.data);
      w.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        this.#onMessage({ kind: "error", message: e.message });
      };
    }
    this.#writeSeeds(Array.from({ length: plan.batch }, (_, b) => b));
    this.#resetScalars();
  }

  #onMessage(msg: FromWorker): void {
    if (msg.kind === "done") {
      const p = this.#pendingRun;
      this.#pendingRun = undefined;
      p?.resolve();
    } else if (msg.kind === "error") {
      this.#failure ??= new Error(`engine/cpu: ${msg.message}`);
      const p = this.#pendingRun;
      this.#pendingRun = undefined;
      p?.reject(this.#failure);
    }
  }

  /** Appends work to the queue; returns the promise of that work (rejects after a failure). */
  #enqueue<T>(work: () => T | Promise<T>): Promise<T> {
    const result = this.#tail.then(() => {
      if (this.#failure) throw this.#failure;
      return work();
    });
    this.#tail = result.then(() => {}, (e) => {
      this.#failure ??= e instanceof Error ? e : new Error(String(e));
    });
    return result;
  }

  /**
   * Appends work nobody awaits (run, upload, snapshot…): a failure is kept and reported by the
   * next awaited call (readScalars, read, evaluate, finish) instead of going unhandled.
   */
  #submit(work: () => void | Promise<void>): void {
    this.#enqueue(work).catch(() => {});
  }

  #dispatch(count: number, evaluate: boolean): Promise<void> {
    this.#fresh = false;
    return new Promise<void>((resolve, reject) => {
      this.#pendingRun = { resolve, reject };
      const msg: ToWorker = { kind: "run", count, evaluate };
      for (const w of this.#workers) w.postMessage(msg);
    });
  }

  #floatIndex(byteAddress: number): number {
    return byteAddress / 4; // addresses may pass 2^31: no 32-bit shifts
  }

  #view(name: keyof Plan["io"]): View {
    const v = this.plan.io[name];
    if (!v) {
      throw new RangeError(
        `engine/cpu: expected the plan to have an io view "${name}" but it has none`,
      );
    }
    return v;
  }

  #readView(v: View): Float32Array {
    const n = v.c * v.h * v.w;
    const out = new Float32Array(this.plan.batch * n);
    const base = this.#floatIndex(this.#layout.arenas[v.arena]) + v.offset;
    for (let b = 0; b < this.plan.batch; b++) {
      out.set(this.#f32.subarray(base + b * v.batchStride, base + b * v.batchStride + n), b * n);
    }
    return out;
  }

  #writeView(v: View, data: Float32Array): void {
    const base = this.#floatIndex(this.#layout.arenas[v.arena]) + v.offset;
    const n = v.c * v.h * v.w;
    for (let b = 0; b < this.plan.batch; b++) {
      this.#f32.set(data.subarray(b * n, (b + 1) * n), base + b * v.batchStride);
    }
  }

  #writeSeeds(seeds: readonly number[]): void {
    const at = this.#layout.seeds >> 2;
    seeds.forEach((s, b) => this.#u32[at + b] = s >>> 0);
  }

  #resetScalars(): void {
    const base = this.#floatIndex(this.#layout.arenas.scalars);
    this.#f32.fill(0, base, base + this.plan.arenaSizes.scalars);
    const wmv = this.plan.scalars.wmv;
    if (wmv) this.#f32.fill(Infinity, base + wmv.min, base + wmv.min + this.plan.batch);
  }

  #arena(name: keyof MemoryLayout["arenas"]): Float32Array {
    const start = this.#floatIndex(this.#layout.arenas[name]);
    return this.#f32.subarray(start, start + this.plan.arenaSizes[name]);
  }

  reset(seeds: readonly number[]): Promise<void> {
    if (seeds.length !== this.plan.batch) {
      throw new RangeError(
        `CpuTrainer.reset: expected ${this.plan.batch} seeds but received ${seeds.length}`,
      );
    }
    const params = initParams(this.plan, seeds);
    const copy = [...seeds];
    this.#hasSnapshot = false;
    return this.#enqueue(() => {
      this.#arena("param").set(params);
      // A new memory is zero already; skipping the fill spares touching every page twice.
      if (!this.#fresh) {
        for (const a of ["grad", "adamM", "adamV", "act", "dact", "stats"] as const) {
          this.#arena(a).fill(0);
        }
      }
      Atomics.store(this.#ctl, CTL_STEP, 0);
      this.#writeSeeds(copy);
      this.#resetScalars();
    });
  }

  upload(name: "z0" | "target" | "mask", data: Float32Array): void {
    const v = this.#view(name);
    const n = this.plan.batch * v.c * v.h * v.w;
    if (data.length !== n) {
      throw new RangeError(
        `CpuTrainer.upload: expected ${n} values for ${name} (${this.plan.batch}×${v.c}×${v.h}×${v.w}) but received ${data.length}`,
      );
    }
    const copy = data.slice();
    this.#submit(() => this.#writeView(v, copy));
  }

  setNoiseSeeds(seeds: readonly number[]): void {
    if (seeds.length !== this.plan.batch) {
      throw new RangeError(
        `CpuTrainer.setNoiseSeeds: expected ${this.plan.batch} seeds but received ${seeds.length}`,
      );
    }
    const copy = [...seeds];
    this.#submit(() => this.#writeSeeds(copy));
  }

  run(count: number): void {
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(
        `CpuTrainer.run: expected a non-negative integer count but received ${count}`,
      );
    }
    if (count === 0) return;
    this.#submit(() => this.#dispatch(count, false));
  }

  readScalars(): Promise<StepScalars> {
    return this.#enqueue(() => {
      const { batch, scalars } = this.plan;
      const base = this.#floatIndex(this.#layout.arenas.scalars);
      const slice = (offset: number) => this.#f32.slice(base + offset, base + offset + batch);
      return {
        step: Atomics.load(this.#ctl, CTL_STEP),
        loss: slice(scalars.loss),
        psnrObserved: slice(scalars.psnrObserved),
        ...(scalars.wmv
          ? { wmvMin: slice(scalars.wmv.min), wmvArgmin: slice(scalars.wmv.argmin) }
          : {}),
      };
    });
  }

  read(name: "output" | "ema" | "best"): Promise<Float32Array> {
    const v = this.#view(name);
    return this.#enqueue(() => this.#readView(v));
  }

  snapshot(): void {
    this.#hasSnapshot = true;
    this.#submit(() => {
      const { snapshot } = this.#layout;
      for (const a of ["param", "adamM", "adamV"] as const) {
        const src = this.#arena(a);
        this.#f32.set(src, this.#floatIndex(snapshot[a]));
      }
    });
  }

  restore(): void {
    if (!this.#hasSnapshot) {
      throw new Error("CpuTrainer.restore: expected a snapshot() first but there is none");
    }
    this.#submit(() => {
      const { snapshot } = this.#layout;
      for (const a of ["param", "adamM", "adamV"] as const) {
        const start = this.#floatIndex(snapshot[a]);
        this.#arena(a).set(this.#f32.subarray(start, start + this.plan.arenaSizes[a]));
      }
    });
  }

  readParams(): Promise<Float32Array> {
    return this.#enqueue(() => this.#arena("param").slice());
  }

  evaluate(): Promise<Float32Array> {
    const v = this.#view("output");
    return this.#enqueue(async () => {
      await this.#dispatch(1, true);
      return this.#readView(v);
    });
  }

  /** Resolves when everything submitted so far has run. */
  finish(): Promise<void> {
    return this.#enqueue(() => {});
  }

  dispose(): void {
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
    this.#failure ??= new Error("CpuTrainer: the trainer was disposed");
    const p = this.#pendingRun;
    this.#pendingRun = undefined;
    p?.reject(this.#failure);
  }
}

/**
 * Creates a CPU trainer for a plan: lays its arenas out in one shared memory, starts `threads`
 * workers and compiles the schedule in each.
 */
export async function createCpuTrainer(
  plan: Plan,
  options: CpuTrainerOptions = {},
): Promise<Trainer & { finish(): Promise<void> }> {
  const threads = options.threads ?? navigator.hardwareConcurrency ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new RangeError(
      `createCpuTrainer: expected threads to be an integer in 1…256 but received ${threads}`,
    );
  }
  const layout = layoutMemory(plan, threads);
  const pages = layout.totalBytes / WASM_PAGE;
  if (pages > 65536) {
    throw new RangeError(
      `createCpuTrainer: expected the plan to fit in 4 GiB of wasm memory but it needs ${
        (layout.totalBytes / 2 ** 30).toFixed(2)
      } GiB`,
    );
  }
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const f32 = new Float32Array(memory.buffer);
  planSteps(plan).forEach((s, i) => {
    const at = layout.taps[i];
    if ((s.kind === "resample_down" || s.kind === "resample_down_bwd") && at !== undefined) {
      f32.set(s.taps, at >> 2);
    }
  });
  const module = await loadKernelModule();
  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: threads }, (_, tid) => {
        const w = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
        workers.push(w);
        return new Promise<void>((resolve, reject) => {
          w.onmessage = (e: MessageEvent<FromWorker>) => {
            if (e.data.kind === "ready") resolve();
            else if (e.data.kind === "error") reject(new Error(`engine/cpu: ${e.data.message}`));
          };
          w.onerror = (e: ErrorEvent) => {
            e.preventDefault();
            reject(new Error(`engine/cpu: worker ${tid} failed to start: ${e.message}`));
          };
          const msg: ToWorker = {
            kind: "init",
            memory,
            module,
            plan,
            layout,
            tid,
            threads,
            winograd: options.winograd ?? "auto",
          };
          w.postMessage(msg);
        });
      }),
    );
  } catch (err) {
    for (const w of workers) w.terminate();
    throw err;
  }
  return new CpuTrainer(plan, memory, layout, workers);
}
