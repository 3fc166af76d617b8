/**
 * The CPU backend's memory layout: every arena of a {@link Plan}, the control block the
 * workers synchronise on, constants (resampling taps), the snapshot copies and each thread's
 * scratch all live in one shared `WebAssembly.Memory`, so every worker runs kernels on the same
 * bytes with no copies.
 *
 * @module
 */
import type { Arena, Plan, Step } from "../plan.ts";

/** Bytes below this belong to the wasm module's static data (math tables, ~6 KiB). */
const RESERVED_BYTES = 64 * 1024;
/** Alignment of every region (one cache line). */
const ALIGN = 64;
/** Pixels per forward / backward-data block and per backward-weight chunk (assembly/conv.ts). */
const CONV_BLOCK = 64;
const CONV_CHUNK = 1024;

/** Int32 slot of the control block: threads arrived at the current barrier. */
export const CTL_BARRIER_COUNT = 0;
/** Int32 slot: barrier generation, bumped by the last thread to arrive (threads wait on it). */
export const CTL_BARRIER_GENERATION = 1;
/** Training steps run since reset. */
export const CTL_STEP = 2;
/** Set when a worker failed, so the others leave their barriers. */
export const CTL_FAILED = 3;

/** Byte addresses of everything a plan needs inside the shared memory. */
export interface MemoryLayout {
  /** Byte address of element 0 of each arena. */
  readonly arenas: Readonly<Record<Arena, number>>;
  /** Control block (Int32 slots CTL_*), 256 bytes. */
  readonly control: number;
  /** Per-fit u32 noise seeds. */
  readonly seeds: number;
  /** Byte address of each resampling step's taps, keyed by the step's index in `steps(plan)`. */
  readonly taps: Readonly<Record<number, number>>;
  /** Snapshot copies of param, adamM, adamV (same sizes as the arenas). */
  readonly snapshot: { readonly param: number; readonly adamM: number; readonly adamV: number };
  /** Thread t's scratch starts at scratch + t * scratchBytes. */
  readonly scratch: number;
  /** Bytes of one thread's scratch. */
  readonly scratchBytes: number;
  /** Total bytes (a multiple of the 64 KiB wasm page). */
  readonly totalBytes: number;
}

/** Every step of a plan in execution order (forward, loss, backward, update). */
export function planSteps(plan: Plan): readonly Step[] {
  return [...plan.forward, ...plan.loss, ...plan.backward, ...plan.update];
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

/** Scratch bytes one thread needs for the conv kernels of a step (0 for other kinds). */
export function convScratchBytes(step: Step): number {
  let cin: number, k: number, oh: number, ow: number, cout = 0;
  switch (step.kind) {
    case "conv":
      [cin, k, oh, ow] = [step.x.c, step.k, step.y.h, step.y.w];
      break;
    case "conv_bwd_data":
      [cin, k, oh, ow, cout] = [step.dx.c, step.k, step.dy.h, step.dy.w, step.dy.c];
      break;
    case "conv_bwd_weight":
      [cin, k, oh, ow] = [step.x.c, step.k, step.dy.h, step.dy.w];
      break;
    default:
      return 0;
  }
  const kk = cin * k * k;
  const tables = 128 + 4 * k * (oh + ow) + 4 * 4 * CONV_CHUNK + ALIGN;
  const forward = kk * CONV_BLOCK * 4;
  // dX̂ block, Wᵀ rows, the packed dY block.
  const backwardData = (kk + 4) * CONV_BLOCK * 4 + kk * cout * 4 + cout * CONV_BLOCK * 4;
  const backwardWeight = CONV_CHUNK * 32; // one 8-lane group of a pixel chunk
  return align(tables + Math.max(forward, backwardData, backwardWeight));
}

/** Lays out a plan for `threads` workers. */
export function layoutMemory(plan: Plan, threads: number): MemoryLayout {
  let at = RESERVED_BYTES;
  const take = (bytes: number): number => {
    const start = at;
    at = align(at + Math.max(bytes, 4));
    return start;
  };
  const control = take(256);
  const seeds = take(4 * plan.batch);
  const taps: Record<number, number> = {};
  const steps = planSteps(plan);
  steps.forEach((s, i) => {
    if (s.kind === "resample_down" || s.kind === "resample_down_bwd") {
      taps[i] = take(4 * s.taps.length);
    }
  });
  const arenas = {} as Record<Arena, number>;
  for (const [name, size] of Object.entries(plan.arenaSizes) as [Arena, number][]) {
    // Kernels may read up to 8 floats past a tensor's end (never storing them): pad each arena.
    arenas[name] = take(4 * size + 64);
  }
  const paramBytes = 4 * plan.arenaSizes.param + 64;
  const snapshot = { param: take(paramBytes), adamM: take(paramBytes), adamV: take(paramBytes) };
  const scratchBytes = Math.max(4096, ...steps.map(convScratchBytes));
  const scratch = take(scratchBytes * threads);
  const page = 65536;
  const totalBytes = Math.ceil((at + 4096) / page) * page;
  return { arenas, control, seeds, taps, snapshot, scratch, scratchBytes, totalBytes };
}
