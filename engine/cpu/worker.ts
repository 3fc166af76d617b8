/// <reference lib="deno.worker" />
/**
 * One thread of the CPU backend. Every worker instantiates kernels.wasm on the shared memory,
 * compiles the same schedule, and on a `run` message executes whole training steps: each
 * kernel does this thread's share, then all threads meet at a barrier (Atomics on the control
 * block: a short spin, then Atomics.wait). Only the start and the end of a run are messages.
 *
 * @module
 */
import type { Plan } from "../plan.ts";
import {
  CTL_BARRIER_COUNT,
  CTL_BARRIER_GENERATION,
  CTL_FAILED,
  CTL_STEP,
  type MemoryLayout,
  type WinogradPolicy,
} from "./memory.ts";
import { barriersBefore, type Kernels, type Launch, scheduleSteps } from "./schedule.ts";

/** Messages the trainer sends. */
export type ToWorker =
  | {
    readonly kind: "init";
    readonly memory: WebAssembly.Memory;
    readonly module: WebAssembly.Module | Uint8Array;
    readonly plan: Plan;
    readonly layout: MemoryLayout;
    readonly tid: number;
    readonly threads: number;
    /** Which 3×3 convs run by Winograd (see CpuTrainerOptions). */
    readonly winograd: WinogradPolicy;
  }
  /** Run `count` training steps, or (evaluate) one noise-free forward pass. */
  | { readonly kind: "run"; readonly count: number; readonly evaluate: boolean };

/** Messages a worker sends back (only thread 0 reports `done`). */
export type FromWorker =
  | { readonly kind: "ready" }
  | { readonly kind: "done" }
  | { readonly kind: "error"; readonly message: string };

/** Spins before sleeping at a barrier (short: the machine may be shared). */
const SPIN = 4000;

let ctl: Int32Array;
let tid = 0;
let nth = 1;
let train: Launch[] = [];
let trainWaits: boolean[] = [];
let evaluate: Launch[] = [];
let evaluateWaits: boolean[] = [];

function barrier(): void {
  if (nth === 1) return;
  const gen = Atomics.load(ctl, CTL_BARRIER_GENERATION);
  if (Atomics.add(ctl, CTL_BARRIER_COUNT, 1) === nth - 1) {
    Atomics.store(ctl, CTL_BARRIER_COUNT, 0);
    Atomics.add(ctl, CTL_BARRIER_GENERATION, 1);
    Atomics.notify(ctl, CTL_BARRIER_GENERATION);
    return;
  }
  let spins = 0;
  while (Atomics.load(ctl, CTL_BARRIER_GENERATION) === gen) {
    if (Atomics.load(ctl, CTL_FAILED) !== 0) throw new Error("another CPU worker failed");
    if (++spins > SPIN) Atomics.wait(ctl, CTL_BARRIER_GENERATION, gen, 50);
  }
}

/** Runs one schedule; a barrier precedes each launch that depends on the ones before it. */
function runLaunches(launches: readonly Launch[], waits: readonly boolean[], step: number): void {
  for (let i = 0; i < launches.length; i++) {
    if (waits[i]) barrier();
    launches[i]!(tid, nth, step);
  }
}

async function init(msg: Extract<ToWorker, { kind: "init" }>): Promise<void> {
  const module = msg.module instanceof WebAssembly.Module
    ? msg.module
    : await WebAssembly.compile(msg.module as Uint8Array<ArrayBuffer>);
  const instance = await WebAssembly.instantiate(module, { env: { memory: msg.memory } });
  const kernels = instance.exports as unknown as Kernels;
  tid = msg.tid;
  nth = msg.threads;
  ctl = new Int32Array(msg.memory.buffer, msg.layout.control, 64);
  const { plan, layout } = msg;
  const steps = [...plan.forward, ...plan.loss, ...plan.backward, ...plan.update];
  const options = { winograd: msg.winograd };
  train = scheduleSteps(plan, steps, layout, kernels, options);
  trainWaits = barriersBefore(plan, steps);
  // A noise-free evaluation: forward[0] is input_noise; run it with std 0 (a copy of z0).
  const [noise, ...rest] = plan.forward;
  const copy = noise && noise.kind === "input_noise" ? [{ ...noise, std: 0 }] : [];
  evaluate = scheduleSteps(plan, [...copy, ...rest], layout, kernels, options);
  evaluateWaits = barriersBefore(plan, [...copy, ...rest]);
}

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  try {
    if (msg.kind === "init") {
      await init(msg);
      self.postMessage({ kind: "ready" } satisfies FromWorker);
      return;
    }
    const step0 = Atomics.load(ctl, CTL_STEP);
    if (msg.evaluate) {
      runLaunches(evaluate, evaluateWaits, step0);
    } else {
      for (let i = 0; i < msg.count; i++) runLaunches(train, trainWaits, step0 + i);
    }
    barrier(); // every thread has finished before thread 0 reports
    if (tid === 0) {
      if (!msg.evaluate) Atomics.store(ctl, CTL_STEP, step0 + msg.count);
      self.postMessage({ kind: "done" } satisfies FromWorker);
    }
  } catch (err) {
    if (ctl) {
      Atomics.store(ctl, CTL_FAILED, 1);
      Atomics.notify(ctl, CTL_BARRIER_GENERATION);
    }
    const message = err instanceof Error ? err.message : String(err);
    self.postMessage(
      { kind: "error", message: `CPU worker ${tid}: ${message}` } satisfies FromWorker,
    );
  }
};
