/**
 * Runs the CPU kernels on the calling thread, one step at a time, emulating `threads`
 * threads by calling each thread's share in turn. The arenas are exposed as Float32Array views
 * of the memory, so tests can set inputs, run a single step and compare results, and the
 * conv micro-benchmark can time one kernel.
 *
 * @module
 */
import type { Arena, Plan, Step } from "../plan.ts";
import { layoutMemory, type MemoryLayout } from "./memory.ts";
import { type Kernels, type ScheduleOptions, scheduleSteps } from "./schedule.ts";
import { loadKernelModule } from "./wasm.ts";

export type * from "../plan.ts";
export type { MemoryLayout } from "./memory.ts";
export type { Kernels, ScheduleOptions } from "./schedule.ts";

/** A plan's arenas in one wasm memory, and a way to run its steps on this thread. */
export interface LocalKernels {
  /** Where everything lives in the memory. */
  readonly layout: MemoryLayout;
  /** Views of each arena (writes go straight to the kernels' memory). */
  readonly arenas: Readonly<Record<Arena, Float32Array>>;
  /** The raw kernel exports (e.g. `gaussian_at`). */
  readonly kernels: Kernels;
  /** Sets the per-fit noise seeds. */
  setNoiseSeeds(seeds: readonly number[]): void;
  /** Runs one step of the plan (it must be one of the plan's steps) at training step `step`. */
  runStep(step: Step, trainingStep?: number): void;
}

/**
 * Instantiates the kernels for a plan on this thread; `threads` shares are run in turn.
 * `options` picks kernel variants (e.g. `{ winograd: "f4" }` to test the Winograd F(4×4, 3×3) convs).
 */
export async function createLocalKernels(
  plan: Plan,
  threads = 1,
  options: ScheduleOptions = {},
): Promise<LocalKernels> {
  const layout = layoutMemory(plan, threads);
  const pages = layout.totalBytes / 65536;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const module = await loadKernelModule();
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const kernels = instance.exports as unknown as Kernels;
  const f32 = new Float32Array(memory.buffer);
  const arenas = {} as Record<Arena, Float32Array>;
  for (const [name, size] of Object.entries(plan.arenaSizes) as [Arena, number][]) {
    const at = layout.arenas[name] / 4;
    arenas[name] = f32.subarray(at, at + size);
  }
  const all = [...plan.forward, ...plan.loss, ...plan.backward, ...plan.update];
  all.forEach((s, i) => {
    const at = layout.taps[i];
    if ((s.kind === "resample_down" || s.kind === "resample_down_bwd") && at !== undefined) {
      f32.set(s.taps, at >> 2);
    }
  });
  const launches = scheduleSteps(plan, all, layout, kernels, options);
  const u32 = new Uint32Array(memory.buffer);
  return {
    layout,
    arenas,
    kernels,
    setNoiseSeeds(seeds) {
      seeds.forEach((s, b) => u32[(layout.seeds >> 2) + b] = s >>> 0);
    },
    runStep(step, trainingStep = 0) {
      const i = all.indexOf(step);
      const launch = launches[i];
      if (!launch) {
        throw new RangeError(
          "createLocalKernels: expected a step of the plan but received another",
        );
      }
      for (let tid = 0; tid < threads; tid++) launch(tid, threads, trainingStep);
    },
  };
}
