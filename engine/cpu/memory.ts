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

/** Tiles per block of the Winograd forward / backward-data and backward-weight kernels. */
const WINO_TILES = 32;
const WINO_TILES_WEIGHT = 64;

/**
 * When the 3×3 stride-1 convs run by Winograd's minimal filtering instead of the im2col GEMM:
 * `auto` where it pays (F(2×2, 3×3), assembly/winograd.ts, on mid-sized planes; F(4×4, 3×3),
 * assembly/winograd4.ts, on large ones), `f2` / `f4` force that variant wherever the geometry
 * allows (tests reach the edge paths on tiny shapes), `never` keeps the im2col GEMM.
 */
export type WinogradPolicy = "auto" | "never" | "f2" | "f4";

/**
 * Smallest output plane and channel count for which `auto` picks Winograd: below, the blocks
 * of 32 tiles leave threads idle and the per-call filter transform is not amortised.
 */
export const WINOGRAD_MIN_PIXELS = 32 * 32;
/** Fewest input and output channels for which `auto` picks Winograd (see WINOGRAD_MIN_PIXELS). */
export const WINOGRAD_MIN_CHANNELS = 16;
/** Smallest output plane for which `auto` picks F(4×4, 3×3) over F(2×2, 3×3). */
export const WINOGRAD4_MIN_PIXELS = 64 * 64;

type ConvStep = Extract<Step, { kind: "conv" | "conv_bwd_data" | "conv_bwd_weight" }>;

/** cin, cout, h, w of a conv step (h × w both input and output size when stride is 1). */
function convShape(step: ConvStep): { cin: number; cout: number; h: number; w: number } {
  switch (step.kind) {
    case "conv":
      return { cin: step.x.c, cout: step.y.c, h: step.y.h, w: step.y.w };
    case "conv_bwd_data":
      return { cin: step.dx.c, cout: step.dy.c, h: step.dy.h, w: step.dy.w };
    case "conv_bwd_weight":
      return { cin: step.x.c, cout: step.dy.c, h: step.dy.h, w: step.dy.w };
  }
}

/** Whether the Winograd kernels can run a conv step at all: 3×3, stride 1, padding 1. */
function winogradGeometry(step: ConvStep): boolean {
  return step.k === 3 && step.stride === 1 && (step.padding ?? 1) === 1;
}

/**
 * The Winograd output tile a step runs with under `policy`: 2 (F(2×2, 3×3)), 4 (F(4×4, 3×3)),
 * or 0 (the im2col GEMM, and every step that is not a conv).
 */
export function winogradTile(step: Step, policy: WinogradPolicy = "auto"): 0 | 2 | 4 {
  if (step.kind !== "conv" && step.kind !== "conv_bwd_data" && step.kind !== "conv_bwd_weight") {
    return 0;
  }
  if (policy === "never" || !winogradGeometry(step)) return 0;
  if (policy === "f2") return 2;
  if (policy === "f4") return 4;
  const { cin, cout, h, w } = convShape(step);
  if (h * w < WINOGRAD_MIN_PIXELS || Math.min(cin, cout) < WINOGRAD_MIN_CHANNELS) return 0;
  return h * w >= WINOGRAD4_MIN_PIXELS ? 4 : 2;
}

/**
 * Scratch bytes of the Winograd kernels (the largest of the three, of both tile sizes; the
 * layouts are in assembly/winograd.ts and assembly/winograd4.ts).
 */
function winogradScratchBytes(step: ConvStep): number {
  const { cin, cout, h, w } = convShape(step);
  const tables = 4 * 4 * (Math.max(h, w) + 8);
  const cin8 = Math.ceil(cin / 8) * 8;
  const t = WINO_TILES, tw = WINO_TILES_WEIGHT;
  const elements = 36; // F(4×4, 3×3); F(2×2, 3×3) has 16 and a smaller tmp
  const regions = elements * Math.max(
    cout * cin + cin * t + 8 * t, // forward: U, V, M (≤ 8 rows)
    cin * cout + cout * t + 8 * t, // backward data
    cout * cin8 + cin8 * tw + cout * tw, // backward weight: dU, V, dYt
  );
  return tables + 4 * regions + 4 * 64 + 8192;
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
  const winograd = winogradGeometry(step) ? winogradScratchBytes(step) : 0;
  return align(Math.max(tables + Math.max(forward, backwardData, backwardWeight), winograd));
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
