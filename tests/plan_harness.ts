/**
 * Hand-built plans for kernel tests of the WebGPU backend: a {@link PlanBuilder} allocates
 * batch-2 views and per-fit parameters in the arenas, then wraps a list of steps into a
 * {@link Plan} that a trainer can compile and run once; helpers read a fit's values back.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Arena, ARENAS, type Plan, type Step, type View } from "../engine/plan.ts";
import * as oracle from "./oracle.ts";

export { ARENAS };

/** Fits per hand-built plan. */
export const BATCH = 2;

/** Every arena's contents, read back from a trainer. */
export type Arenas = Record<Arena, Float32Array>;

/** Allocates regions of a hand-built plan. */
export class PlanBuilder {
  /** Floats allocated per arena so far. */
  readonly sizes = Object.fromEntries(ARENAS.map((a) => [a, 0])) as Record<Arena, number>;
  /** Parameters per fit allocated so far. */
  paramsPerFit = 0;
  /** The steps the plan's forward list gets by default. */
  readonly steps: Step[] = [];

  /** `n` floats of `arena`; returns their offset. */
  alloc(arena: Arena, n: number): number {
    const o = this.sizes[arena];
    this.sizes[arena] += n;
    return o;
  }

  /** A batch-2 view; `extra` floats of gap per fit make batchStride > c·h·w. */
  view(arena: Arena, c: number, h: number, w: number, extra = 0): View {
    const batchStride = c * h * w + extra;
    return { arena, offset: this.alloc(arena, batchStride * BATCH), batchStride, c, h, w };
  }

  /** `size` parameters of every fit. */
  param(size: number): { offset: number; size: number } {
    const offset = this.paramsPerFit;
    this.paramsPerFit += size;
    return { offset, size };
  }

  /** The plan: `forward` (default: the pushed steps) then `update`, nothing else. */
  build({ forward = this.steps, update = [] }: { forward?: Step[]; update?: Step[] } = {}): Plan {
    const io = this.view("io", 1, 1, 1);
    const sizes = { ...this.sizes, param: BATCH * this.paramsPerFit };
    for (const a of ["grad", "adamM", "adamV"] as const) sizes[a] = sizes.param;
    sizes.scalars = Math.max(sizes.scalars, 8);
    return {
      batch: BATCH,
      height: 1,
      width: 1,
      paramsPerFit: this.paramsPerFit,
      arenaSizes: sizes,
      forward,
      loss: [],
      backward: [],
      update,
      params: [],
      io: { z0: io, z: io, output: io, target: io, ema: io },
      scalars: { loss: 0, psnrObserved: 1 },
      forwardMacs: 0,
    };
  }
}

/** Fit `b`'s values of view `v`. */
export function readFit(a: Arenas, v: View, b: number): Float32Array {
  const start = v.offset + b * v.batchStride;
  return a[v.arena].slice(start, start + v.c * v.h * v.w);
}

/** Fit `b`'s values of a parameter (or its gradient); `ppf` parameters per fit. */
export function paramOf(
  a: Arenas,
  arena: "param" | "grad",
  ref: { offset: number; size: number },
  b: number,
  ppf: number,
): Float32Array {
  return a[arena].slice(b * ppf + ref.offset, b * ppf + ref.offset + ref.size);
}

/** One fit of view `v` as an oracle shape. */
export function shape(v: View): oracle.Shape4 {
  return { n: 1, c: v.c, h: v.h, w: v.w };
}

/** Asserts |actual − expected| ≤ tol · (1 + max|expected|) elementwise. */
export function assertClose(
  actual: Float32Array,
  expected: Float32Array,
  tol: number,
  what: string,
): void {
  const scale = 1 + expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const diff = oracle.maxAbsDiff(actual, expected);
  assert.ok(diff <= tol * scale, `${what}: max |diff| ${diff} exceeds ${tol * scale}`);
}
