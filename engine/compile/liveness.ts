/**
 * Pass 9, gradient memory by liveness: each gradient root lives from the first to the last
 * loss/backward step that touches it; roots whose lifetimes do not overlap share `dact`
 * memory (first fit, in order of first use). Then every symbolic {@link GradientOp} becomes
 * its step, reading and writing those regions.
 *
 * @module
 */
import type { Step, View } from "../plan.ts";
import { type Aliases, gradientRoot } from "./aliasing.ts";
import type { GradientOp } from "./backward.ts";
import { align } from "./buffers.ts";
import type { Shape } from "./graph.ts";
import { label } from "./labels.ts";

/**
 * One gradient region of `dact`: the gradient of `tensor` (and of any concat inputs aliased
 * into it), `size` floats at `offset`, live from step `first` to step `last` (indices into
 * `[...plan.loss, ...plan.backward]`).
 */
export interface GradientRegion {
  /** The node (or data-term stage) whose gradient this is. */
  readonly tensor: string;
  /** Float offset in `dact`. */
  readonly offset: number;
  /** Floats reserved (all fits, aligned). */
  readonly size: number;
  /** Index of the first step that writes it. */
  readonly first: number;
  /** Index of the last step that reads it. */
  readonly last: number;
}

/** Where each gradient root lives in `dact`. */
export interface GradientAllocation {
  /** Float offset of each root's region. */
  readonly offsets: ReadonlyMap<string, number>;
  /** The regions, in order of first use. */
  readonly regions: GradientRegion[];
  /** Floats of `dact`. */
  readonly size: number;
}

/**
 * Places the gradient roots `ops` touch (`ops[i]` is step i of loss + backward), for `batch`
 * fits; without `share` every root gets its own region.
 */
export function allocateGradients(
  ops: readonly GradientOp[],
  shapeOf: (id: string) => Shape,
  batch: number,
  share: boolean,
): GradientAllocation {
  const life = new Map<string, { start: number; end: number }>();
  ops.forEach((p, i) => {
    for (const r of [...p.reads, ...p.writes]) {
      const l = life.get(r);
      if (l) l.end = i;
      else life.set(r, { start: i, end: i });
    }
  });
  const offsets = new Map<string, number>();
  const regions: GradientRegion[] = [];
  let size = 0;
  const live: { offset: number; size: number; end: number }[] = [];
  for (const [root, l] of [...life.entries()].sort((a, b) => a[1].start - b[1].start)) {
    for (let j = live.length - 1; j >= 0; j--) {
      if (share && live[j]!.end < l.start) live.splice(j, 1);
    }
    live.sort((a, b) => a.offset - b.offset);
    const s = shapeOf(root);
    const rootSize = align(batch * s.c * s.h * s.w);
    let offset = 0;
    for (const block of live) {
      if (offset + rootSize <= block.offset) break;
      offset = Math.max(offset, block.offset + block.size);
    }
    live.push({ offset, size: rootSize, end: l.end });
    offsets.set(root, offset);
    regions.push({ tensor: root, offset, size: rootSize, first: l.start, last: l.end });
    size = Math.max(size, offset + rootSize);
  }
  return { offsets, regions, size };
}

/** The steps of `ops`, each gradient resolved to its slice of its root's region. */
export function bindGradients(
  ops: readonly GradientOp[],
  allocation: GradientAllocation,
  aliases: Aliases,
  shapeOf: (id: string) => Shape,
  where: string,
): Step[] {
  const gslice = (id: string, channel: number, shape: Shape): View => {
    const { root, channel: base } = gradientRoot(aliases, id);
    const r = shapeOf(root);
    const offset = allocation.offsets.get(root);
    if (offset === undefined) {
      throw new Error(`${where}: internal error, no gradient region for ${id}`);
    }
    return {
      arena: "dact",
      offset: offset + (base + channel) * r.h * r.w,
      batchStride: r.c * r.h * r.w,
      ...shape,
    };
  };
  const grad = (id: string): View => gslice(id, 0, shapeOf(id));
  return ops.map((p) => label(p.build(grad, gslice), p.label));
}
