/**
 * Turns a {@link Plan}'s steps into calls of the wasm kernels (engine/cpu/assembly): each step
 * becomes a closure `(tid, nth, step) => void` with every address and size resolved once, so a
 * training step is a loop over closures with a barrier after each.
 *
 * @module
 */
import type { Activation } from "../plan.ts";
import type { Plan, StatsRef, Step, StepKind, StepOf, View } from "../plan.ts";
import { type MemoryLayout, planSteps, type WinogradPolicy, winogradTile } from "./memory.ts";

/** The kernel exports of kernels.wasm (all arguments are numbers: byte addresses, sizes). */
export type Kernels = Record<string, (...args: number[]) => number | void>;

/** One scheduled kernel: thread `tid` of `nth` does its share for training step `step`. */
export type Launch = (tid: number, nth: number, step: number) => void;

const ACT_CODES: Record<Activation, number> = {
  none: 0,
  leaky_relu: 1,
  relu: 2,
  swish: 3,
  elu: 4,
  sigmoid: 5,
};
const PAD_CODES = { reflection: 0, zero: 1, replicate: 2 } as const;

function kernel(k: Kernels, name: string): (...args: number[]) => number | void {
  const f = k[name];
  if (typeof f !== "function") {
    throw new Error(
      `engine/cpu/schedule.ts: expected kernels.wasm to export ${name} but it does not`,
    );
  }
  return f;
}

/** Options of {@link scheduleSteps}. */
export interface ScheduleOptions {
  /** Which 3×3 stride-1 convs run by Winograd, with which tile; default `auto`. */
  readonly winograd?: WinogradPolicy;
}

/**
 * Compiles the launches of a list of steps of `plan` (a resampling step must be one of the
 * plan's own step objects: its taps are found in the layout by its index in the plan).
 */
export function scheduleSteps(
  plan: Plan,
  steps: readonly Step[],
  layout: MemoryLayout,
  k: Kernels,
  options: ScheduleOptions = {},
): Launch[] {
  const policy = options.winograd ?? "auto";
  const all = planSteps(plan);
  const batch = plan.batch;
  const pbs = plan.paramsPerFit;
  const addr = (v: View): number => layout.arenas[v.arena] + 4 * v.offset;
  const param = (offset: number): number => layout.arenas.param + 4 * offset;
  const grad = (offset: number): number => layout.arenas.grad + 4 * offset;
  const scalar = (offset: number): number => layout.arenas.scalars + 4 * offset;
  const stats = (offset: number): number => layout.arenas.stats + 4 * offset;
  const scratch = (tid: number): number => layout.scratch + tid * layout.scratchBytes;
  const numel = (v: View): number => v.c * v.h * v.w;
  /** A tensor as the kernels take it: address, batch stride, C, H, W. */
  const tensor = (v: View) => [addr(v), v.batchStride, v.c, v.h, v.w] as const;
  /** A conv's geometry as the kernels take it: k, stride, pad code, padding. */
  const convGeometry = (
    c: { k: number; stride: number; pad: keyof typeof PAD_CODES; padding?: number },
  ) => [c.k, c.stride, PAD_CODES[c.pad], c.padding ?? (c.k - 1) >> 1] as const;

  const context: CpuScheduleContext = {
    plan,
    layout,
    k,
    all,
    batch,
    pbs,
    addr,
    param,
    grad,
    scalar,
    stats,
    scratch,
    numel,
    tensor,
    convGeometry,
  };

  /**
   * A 3×3 stride-1 padding-1 conv step on the Winograd kernels (h × w in and out): `wino_*`
   * (F(2×2, 3×3)) or `wino4_*` (F(4×4, 3×3)), which take the same arguments.
   */
  function winogradLaunch(s: Step, prefix: "wino" | "wino4"): Launch {
    const plane = (v: View) => [addr(v), v.batchStride, v.c, v.h, v.w] as const;
    const bare = (v: View) => [addr(v), v.batchStride, v.c] as const;
    let f: (...args: number[]) => number | void;
    let a: readonly number[];
    switch (s.kind) {
      case "conv":
        f = kernel(k, `${prefix}_fwd`);
        a = [
          ...plane(s.x),
          ...bare(s.y),
          param(s.weight.offset),
          s.bias ? param(s.bias.offset) : 0,
          pbs,
          PAD_CODES[s.pad],
          batch,
        ];
        break;
      case "conv_bwd_data":
        f = kernel(k, `${prefix}_bwd_data`);
        a = [
          ...plane(s.dy),
          ...bare(s.dx),
          param(s.weight.offset),
          pbs,
          PAD_CODES[s.pad],
          s.accumulate ? 1 : 0,
          batch,
        ];
        break;
      case "conv_bwd_weight":
        f = kernel(k, `${prefix}_bwd_weight`);
        a = [
          ...plane(s.x),
          ...bare(s.dy),
          grad(s.weight.offset),
          s.bias ? grad(s.bias.offset) : 0,
          pbs,
          PAD_CODES[s.pad],
          batch,
        ];
        break;
      default:
        throw new Error(
          `engine/cpu/schedule.ts: expected a conv step for the Winograd kernels but received ${s.kind}`,
        );
    }
    return (tid, nth) => f(...a, scratch(tid), tid, nth);
  }

  return steps.map((s): Launch => {
    const tile = winogradTile(s, policy);
    if (tile !== 0) return winogradLaunch(s, tile === 4 ? "wino4" : "wino");
    const entry = (CPU_KERNELS as Readonly<Record<string, CpuKernel | undefined>>)[s.kind];
    if (entry === undefined || !Object.hasOwn(CPU_KERNELS, s.kind)) {
      throw new RangeError(`engine/cpu: expected a step kind with a kernel but received ${s.kind}`);
    }
    return entry.launch(s, context);
  });
}

/** A float range [start, end) of one arena. */
export interface Region {
  readonly arena: string;
  readonly start: number;
  readonly end: number;
}

/** What a step reads and writes (conservative: a fit-strided range counts whole). */
function stepAccess(plan: Plan, s: Step): { reads: Region[]; writes: Region[] } {
  const { batch, paramsPerFit: ppf } = plan;
  const v = (x: View): Region => ({
    arena: x.arena,
    start: x.offset,
    end: x.offset + (batch - 1) * x.batchStride + x.c * x.h * x.w,
  });
  const p = (arena: string, ref: { offset: number; size: number }): Region => ({
    arena,
    start: ref.offset,
    end: (batch - 1) * ppf + ref.offset + ref.size,
  });
  const scalars = (offset: number): Region => ({
    arena: "scalars",
    start: offset,
    end: offset + batch,
  });
  const whole = (arena: string): Region => ({ arena, start: 0, end: Infinity });
  const stats = (r: StatsRef): Region => ({
    arena: "stats",
    start: r.offset,
    end: r.offset + (batch - 1) * r.batchStride + 2 * r.channels,
  });
  const acc = (on: boolean, x: View) => (on ? [v(x)] : []);
  const entry = (CPU_KERNELS as Readonly<Record<string, CpuKernel | undefined>>)[s.kind];
  if (entry === undefined || !Object.hasOwn(CPU_KERNELS, s.kind)) {
    throw new RangeError(`engine/cpu: expected a step kind with a kernel but received ${s.kind}`);
  }
  return entry.access(s, { v, p, scalars, whole, stats, acc });
}

function overlaps(a: readonly Region[], b: readonly Region[]): boolean {
  return a.some((r) => b.some((q) => r.arena === q.arena && r.start < q.end && q.start < r.end));
}

/**
 * For each step, whether all threads must meet at a barrier before it: only when it reads
 * what an earlier step since the last barrier writes, or writes what one reads or writes
 * (threads split each kernel differently, so any overlap needs the barrier). The first step
 * always waits (the previous training step's last kernels).
 */
export function barriersBefore(plan: Plan, steps: readonly Step[]): boolean[] {
  let reads: Region[] = [];
  let writes: Region[] = [];
  return steps.map((s, i) => {
    const a = stepAccess(plan, s);
    const wait = i === 0 || overlaps(a.reads, writes) || overlaps(a.writes, [...reads, ...writes]);
    if (wait) {
      reads = [];
      writes = [];
    }
    reads.push(...a.reads);
    writes.push(...a.writes);
    return wait;
  });
}

/** What a cpu kernel's launch reads of its schedule: the plan, the layout, the kernel exports. */
export interface CpuScheduleContext {
  /** The plan being scheduled. */
  readonly plan: Plan;
  /** Where everything lives in the shared memory. */
  readonly layout: MemoryLayout;
  /** The kernel exports of kernels.wasm. */
  readonly k: Kernels;
  /** Every step of the plan, in order (a resampling step's taps are keyed by its index). */
  readonly all: readonly Step[];
  /** Fits in the plan. */
  readonly batch: number;
  /** Floats of one fit's parameters. */
  readonly pbs: number;
  /** Byte address of element (0, 0, 0, 0) of a view. */
  readonly addr: (v: View) => number;
  /** Byte address of fit 0's parameter at a float offset. */
  readonly param: (offset: number) => number;
  /** Byte address of fit 0's gradient at a float offset. */
  readonly grad: (offset: number) => number;
  /** Byte address of a scalar. */
  readonly scalar: (offset: number) => number;
  /** Byte address of saved statistics. */
  readonly stats: (offset: number) => number;
  /** Byte address of thread `tid`'s scratch. */
  readonly scratch: (tid: number) => number;
  /** Floats of one fit's tensor. */
  readonly numel: (v: View) => number;
  /** A tensor as the kernels take it: address, batch stride, C, H, W. */
  readonly tensor: (v: View) => readonly [number, number, number, number, number];
  /** A conv's geometry as the kernels take it: k, stride, pad code, padding. */
  readonly convGeometry: (
    c: { k: number; stride: number; pad: keyof typeof PAD_CODES; padding?: number },
  ) => readonly [number, number, number, number];
}

/** The regions a cpu kernel's access rule is built from (each fit-strided range counted whole). */
export interface CpuAccessContext {
  /** A view, all fits. */
  readonly v: (x: View) => Region;
  /** A parameter tensor in `param` or `grad`, all fits. */
  readonly p: (arena: string, ref: { offset: number; size: number }) => Region;
  /** The `batch` scalars at an offset. */
  readonly scalars: (offset: number) => Region;
  /** A whole arena. */
  readonly whole: (arena: string) => Region;
  /** Saved statistics, all fits. */
  readonly stats: (r: StatsRef) => Region;
  /** The destination of an accumulating write, which is read too. */
  readonly acc: (on: boolean, x: View) => Region[];
}

/**
 * The cpu kernel of one step kind: its launch (the wasm export it calls, with every address
 * resolved once) and what it reads and writes (for the barriers between kernels).
 */
export interface CpuKernel<S extends { readonly kind: string } = Step> {
  /** The closure thread `tid` of `nth` runs for a step. */
  readonly launch: (s: S, c: CpuScheduleContext) => Launch;
  /** The regions the step reads and writes. */
  readonly access: (s: S, r: CpuAccessContext) => { reads: Region[]; writes: Region[] };
}

/**
 * What a backward step that maps `dy` to `dx` alone touches: it reads `dy` (and `dx` when it
 * accumulates into it) and writes `dx`.
 */
function gradientAccess(
  s: { readonly dy: View; readonly dx: View; readonly accumulate: boolean },
  { v, acc }: CpuAccessContext,
): { reads: Region[]; writes: Region[] } {
  return { reads: [v(s.dy), ...acc(s.accumulate, s.dx)], writes: [v(s.dx)] };
}

// Each launch below builds its own `(tid, nth) => f(...a, tid, nth)` closure on purpose: one
// shared helper would give every kernel the same call site, which V8 then sees as megamorphic on
// the per-step hot path (about 3 % slower at 64² in 4 alternating runs, 2026-12-03).
/** The launch of a crop copy, forward or backward (one wasm kernel for both). */
function cropLaunch(
  s: StepOf<"crop_copy"> | StepOf<"crop_copy_bwd">,
  c: CpuScheduleContext,
): Launch {
  const { k, batch, addr } = c;
  const f = kernel(k, "crop");
  const big = s.kind === "crop_copy" ? s.x : s.dx;
  const small = s.kind === "crop_copy" ? s.y : s.dy;
  const a = [
    addr(big),
    big.batchStride,
    addr(small),
    small.batchStride,
    big.c,
    big.h,
    big.w,
    small.h,
    small.w,
    s.kind === "crop_copy" ? 0 : 1,
    s.kind === "crop_copy_bwd" && s.accumulate ? 1 : 0,
    batch,
  ] as const;
  return (tid, nth) => f(...a, tid, nth);
}

/** The launch of a data-term resampling step, forward or backward (one wasm kernel each). */
function resampleLaunch(
  s: StepOf<"resample_down"> | StepOf<"resample_down_bwd">,
  c: CpuScheduleContext,
): Launch {
  const { k, batch, addr, layout, all } = c;
  const fwd = s.kind === "resample_down";
  const f = kernel(k, fwd ? "resample_fwd" : "resample_bwd");
  const taps = layout.taps[all.indexOf(s)];
  if (taps === undefined) {
    throw new Error(
      "engine/cpu/schedule.ts: expected the resampling step to be part of the plan but it is not",
    );
  }
  const big = fwd ? s.x : s.dx;
  const small = fwd ? s.y : s.dy;
  const head = [
    addr(fwd ? s.x : s.dy),
    (fwd ? s.x : s.dy).batchStride,
    addr(fwd ? s.y : s.dx),
    (fwd ? s.y : s.dx).batchStride,
    big.c,
    big.h,
    big.w,
    small.h,
    small.w,
    s.factor,
    taps,
    s.taps.length,
    s.pad,
  ];
  const a = fwd ? [...head, batch] : [...head, s.accumulate ? 1 : 0, batch];
  return (tid, nth) => f(...a, tid, nth);
}

/** The cpu backend's kernel registry: one entry per step kind of engine/plan.ts. */
export const CPU_KERNELS: { readonly [K in StepKind]: CpuKernel<StepOf<K>> } = {
  conv: {
    launch: (s, c) => {
      const { k, batch, pbs, param, scratch, tensor, convGeometry } = c;
      const f = kernel(k, "conv_fwd");
      const a = [
        ...tensor(s.x),
        ...tensor(s.y),
        param(s.weight.offset),
        s.bias ? param(s.bias.offset) : 0,
        pbs,
        ...convGeometry(s),
        batch,
      ] as const;
      return (tid, nth) => f(...a, scratch(tid), tid, nth);
    },
    access: (s, { v, p }) => ({
      reads: [v(s.x), p("param", s.weight), ...(s.bias ? [p("param", s.bias)] : [])],
      writes: [v(s.y)],
    }),
  },
  bn_act: {
    launch: (s, c) => {
      const { k, batch, pbs, addr, param, stats } = c;
      const f = kernel(k, "bn_act_fwd");
      const a = [
        addr(s.x),
        s.x.batchStride,
        addr(s.y),
        s.y.batchStride,
        s.x.c,
        s.x.h * s.x.w,
        param(s.gamma.offset),
        param(s.beta.offset),
        pbs,
        stats(s.stats.offset),
        s.stats.batchStride,
        s.stats.channels,
        ACT_CODES[s.act],
        batch,
      ] as const;
      return (tid, nth) => f(...a, tid, nth);
    },
    access: (s, { v, p, stats }) => ({
      reads: [v(s.x), p("param", s.gamma), p("param", s.beta)],
      writes: [v(s.y), stats(s.stats)],
    }),
  },
  act: {
    launch: (s, c) => {
      const { k, batch, addr } = c;
      const f = kernel(k, "act_fwd");
      const a = [
        addr(s.x),
        s.x.batchStride,
        addr(s.y),
        s.y.batchStride,
        s.x.c,
        s.x.h * s.x.w,
        ACT_CODES[s.act],
        batch,
      ] as const;
      return (tid, nth) => f(...a, tid, nth);
    },
    access: (s, { v }) => ({ reads: [v(s.x)], writes: [v(s.y)] }),
  },
  pool: {
    launch: (s, c) => {
      const { k, batch, addr } = c;
      const f = kernel(k, "pool_fwd");
      const a = [
        addr(s.x),
        s.x.batchStride,
        addr(s.y),
        s.y.batchStride,
        s.x.c,
        s.x.h,
        s.x.w,
        s.mode === "avg" ? 0 : 1,
        batch,
      ] as const;
      return (tid, nth) => f(...a, tid, nth);
    },
    access: (s, { v }) => ({ reads: [v(s.x)], writes: [v(s.y)] }),
  },
  upsample: {
    launch: (s, c) => {
      const { k, batch, addr } = c;
      const f = kernel(k, "upsample_fwd");
      const a = [
        addr(s.x),
        s.x.batchStride,
        addr(s.y),
        s.y.batchStride,
        s.x.c,
        s.x.h,
        s.x.w,
        s.y.h,
        s.y.w,
        s.mode === "nearest" ? 0 : 1,
        batch,
      ] as const;
      return (tid, nth) => f(...a, tid, nth);
    },
    access: (s, { v }) => ({ reads: [v(s.x)], writes: [v(s.y)] }),
  },
  crop_copy: {
    launch: cropLaunch,
    access: (s, { v }) => ({ reads: [v(s.x)], writes: [v(s.y)] }),
  },
  add: {
    launch: (s, c) => {
      const { k, batch, addr, numel } = c;
      const f = kernel(k, "add_fwd");
      const a = [
        addr(s.a),
        s.a.batchStride,
        addr(s.b),
        s.b.batchStride,
        addr(s.y),
        s.y.batchStride,
        numel(s.y),
        0,
        batch,
      ] as const;
      return (tid, nth) => f(...a, tid, nth);
    },
    access: (s, { v }) => ({ reads: [v(s.a), v(s.b)], writes: [v(s.y)] }),
  },
  resample_down: {
    launch: resampleLaunch,
    access: (s, { v }) => ({ reads: [v(s.x)], writes: [v(s.y)] }),
  },
  conv_bwd_data: {
    launch: (s, c) => {
      const { k, batch, pbs, param, scratch, tensor, convGeometry } = c;
      const f = kernel(k, "conv_bwd_data");
      const a = [
        ...tensor(s.dy),
        ...tensor(s.dx),
        param(s.weight.offset),
        pbs,
        ...convGeometry(s),
        s.accumulate ? 1 : 0,
        batch,
      ] as const;
      return (tid, nth) => f(...a, scratch(tid), tid, nth);
    },
    access: (s, { v, p, acc }) => ({
      reads: [v(s.dy), p("param", s.weight), ...acc(s.accumulate, s.dx)],
      writes: [v(s.dx)],
    }),
  },
  conv_bwd_weight: {
    launch: (s, c) => {
      const { k, batch, pbs, grad, scratch, tensor, convGeometry } = c;
      const f = kernel(k, "conv_bwd_weight");
      const a = [
        ...tensor(s.x),
        ...tensor(s.dy),
        grad(s.weight.offset),
        s.bias ? grad(s.bias.offset) : 0,
        pbs,
        ...convGeometry(s),
        batch,
      ] as const;
      return (tid, nth) => f(...a, scratch(tid), tid, nth);
    },
    access: (s, { v, p }) => ({
      reads: [v(s.x), v(s.dy)],
      writes: [p("grad", s.weight), ...(s.bias ? [p("grad", s.bias)] : [])],
    }),
  },
  bn_act_bwd: {
    launch: (s, c) => {
      const { k, batch, pbs, addr, param, grad, stats } = c;
      const f = kernel(k, "bn_act_bwd");
      const a = [
        addr(s.x),
        s.x.batchStride,
        addr(s.dy),
        s.dy.batchStride,
        addr(s.dx),
        s.dx.batchStride,
        s.x.c,
        s.x.h * s.x.w,
        param(s.gamma.offset),
        param(s.beta.offset),
        pbs,
        stats(s.stats.offset),
        s.stats.batchStride,
        s.stats.channels,
        ACT_CODES[s.act],
        grad(s.gamma.offset),
        grad(s.beta.offset),
        s.accumulate ? 1 : 0,
        batch,
      ] as const;
      return (tid, nth) => f(...a, tid, nth);
    },
    access: (s, { v, p, stats, acc }) => ({
      reads: [
        v(s.x),
        v(s.dy),
        stats(s.stats),
        p("param", s.gamma),
        p("param", s.beta),
        ...acc(s.accumulate, s.dx),
      ],
      writes: [v(s.dx), p("grad", s.gamma), p("grad", s.beta)],
    }),
  },
  act_bwd: {
    launch: (s, c) => {
      const { k, batch, addr } = c;
      const f = kernel(k, "act_bwd");
      const a = [
        addr(s.x),
        s.x.batchStride,
        addr(s.y),
        s.y.batchStride,
        addr(s.dy),
        s.dy.batchStride,
        addr(s.dx),
        s.dx.batchStride,
        s.x.c,
        s.x.h * s.x.w,
        ACT_CODES[s.act],
        s.accumulate ? 1 : 0,
        batch,
      ] as const;
      return (tid, nth) => f(...a, tid, nth);
    },
    access: (s, { v, acc }) => ({
      reads: [v(s.x), v(s.y), v(s.dy), ...acc(s.accumulate, s.dx)],
      writes: [v(s.dx)],
    }),
  },
  pool_bwd: {
    launch: (s, c) => {
      const { k, batch, addr } = c;
      const f = kernel(k, "pool_bwd");
      const a = [
        addr(s.x),
        s.x.batchStride,
        addr(s.dy),
        s.dy.batchStride,
        addr(s.dx),
        s.dx.batchStride,
        s.x.c,
        s.x.h,
        s.x.w,
        s.mode === "avg" ? 0 : 1,
        s.accumulate ? 1 : 0,
        batch,
      ] as const;
      return (tid, nth) => f(...a, tid, nth);
    },
    access: (s, { v, acc }) => ({
      reads: [v(s.x), v(s.dy), ...acc(s.accumulate, s.dx)],
      writes: [v(s.dx)],
    }),
  },
  upsample_bwd: {
    launch: (s, c) => {
      const { k, batch, addr } = c;
      const f = kernel(k, "upsample_bwd");
      const a = [
        addr(s.dy),
        s.dy.batchStride,
        addr(s.dx),
        s.dx.batchStride,
        s.dx.c,
        s.dx.h,
        s.dx.w,
        s.dy.h,
        s.dy.w,
        s.mode === "nearest" ? 0 : 1,
        s.accumulate ? 1 : 0,
        batch,
      ] as const;
      return (tid, nth) => f(...a, tid, nth);
    },
    access: gradientAccess,
  },
  crop_copy_bwd: {
    launch: cropLaunch,
    access: gradientAccess,
  },
  copy_grad: {
    launch: (s, c) => {
      const { k, batch, addr, numel } = c;
      const f = kernel(k, "add_fwd");
      const a = [
        addr(s.dy),
        s.dy.batchStride,
        0,
        0,
        addr(s.dx),
        s.dx.batchStride,
        numel(s.dx),
        s.accumulate ? 1 : 0,
        batch,
      ] as const;
      return (tid, nth) => f(...a, tid, nth);
    },
    access: gradientAccess,
  },
  resample_down_bwd: {
    launch: resampleLaunch,
    access: gradientAccess,
  },
  input_noise: {
    launch: (s, c) => {
      const { k, batch, addr, numel, layout } = c;
      const f = kernel(k, "input_noise");
      const a = [
        addr(s.z0),
        s.z0.batchStride,
        addr(s.z),
        s.z.batchStride,
        numel(s.z),
        s.std,
        layout.seeds,
      ] as const;
      return (tid, nth, step) => f(...a, step, batch, tid, nth);
    },
    access: (s, { v }) => ({ reads: [v(s.z0)], writes: [v(s.z)] }),
  },
  mse_loss: {
    launch: (s, c) => {
      const { k, batch, addr, scalar } = c;
      const f = kernel(k, "mse_loss");
      const a = [
        addr(s.pred),
        s.pred.batchStride,
        addr(s.target),
        s.target.batchStride,
        s.mask ? addr(s.mask) : 0,
        s.mask ? s.mask.batchStride : 0,
        addr(s.dpred),
        s.dpred.batchStride,
        s.pred.c,
        s.pred.h * s.pred.w,
        scalar(s.lossOffset),
        batch,
      ] as const;
      return (tid, nth) => f(...a, tid, nth);
    },
    access: (s, { v, scalars }) => ({
      reads: [v(s.pred), v(s.target), ...(s.mask ? [v(s.mask)] : [])],
      writes: [v(s.dpred), scalars(s.lossOffset)],
    }),
  },
  adam: {
    launch: (s, c) => {
      const { k, layout } = c;
      const f = kernel(k, "adam");
      const { arenas } = layout;
      const { lr, beta1, beta2, eps, size } = s;
      return (tid, nth, step) => {
        // PyTorch Adam: bias corrections with t = step + 1.
        const t = step + 1;
        const stepSize = lr / (1 - beta1 ** t);
        const invSqrtBc2 = 1 / Math.sqrt(1 - beta2 ** t);
        f(
          arenas.param,
          arenas.grad,
          arenas.adamM,
          arenas.adamV,
          size,
          stepSize,
          beta1,
          beta2,
          eps,
          invSqrtBc2,
          tid,
          nth,
        );
      };
    },
    access: (_s, { whole }) => ({
      reads: [whole("grad")],
      writes: [whole("param"), whole("adamM"), whole("adamV")],
    }),
  },
  ema: {
    launch: (s, c) => {
      const { k, batch, addr, numel } = c;
      const f = kernel(k, "ema");
      const a = [addr(s.x), s.x.batchStride, addr(s.ema), s.ema.batchStride, numel(s.x), s.decay];
      return (tid, nth, step) => f(...a, step === 0 ? 1 : 0, batch, tid, nth);
    },
    access: (s, { v }) => ({ reads: [v(s.x), v(s.ema)], writes: [v(s.ema)] }),
  },
  psnr: {
    launch: (s, c) => {
      const { k, batch, addr, scalar, numel } = c;
      const f = kernel(k, "psnr");
      const a = [
        addr(s.a),
        s.a.batchStride,
        addr(s.b),
        s.b.batchStride,
        numel(s.a),
        scalar(s.offset),
        batch,
      ];
      return (tid, nth) => f(...a, tid, nth);
    },
    access: (s, { v, scalars }) => ({ reads: [v(s.a), v(s.b)], writes: [scalars(s.offset)] }),
  },
  wmv: {
    launch: (s, c) => {
      const { k, batch, addr, scalar, numel } = c;
      const f = kernel(k, "wmv");
      const n = numel(s.x);
      const head = [
        addr(s.x),
        s.x.batchStride,
        addr(s.ring),
        n,
        s.ring.batchStride,
        s.window,
        addr(s.best),
        s.best.batchStride,
        n,
      ];
      const tail = [scalar(s.varOffset), scalar(s.minOffset), scalar(s.argminOffset), batch];
      return (tid, nth, step) => f(...head, step, ...tail, tid, nth);
    },
    access: (s, { v, scalars }) => ({
      reads: [v(s.x), v(s.ring), scalars(s.minOffset)],
      writes: [
        { arena: s.ring.arena, start: s.ring.offset, end: Infinity },
        v(s.best),
        scalars(s.varOffset),
        scalars(s.minOffset),
        scalars(s.argminOffset),
      ],
    }),
  },
};
