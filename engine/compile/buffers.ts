/**
 * Pass 6, forward buffers: the `io` arena (z0, z, target, mask, EMA, and for ES-WMV the best
 * output and the ring of outputs), one `act` region per kept forward tensor (aliased concat
 * inputs are slices of their concat's region), and the statistics of every layer whose kind keeps
 * them (BN) in `stats`. Regions in
 * `io` and `act` start on {@link ALIGN}-float boundaries.
 *
 * @module
 */
import type { StatsRef, View } from "../plan.ts";
import { layerKind } from "../layers/registry.ts";
import type { Aliases } from "./aliasing.ts";
import type { Shape, TensorGraph } from "./graph.ts";

/** Regions in act, dact and io start on 64-float (256-byte) boundaries, for GPU bindings. */
export const ALIGN = 64;

/** `n` rounded up to a multiple of {@link ALIGN}. */
export const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/** The channels [channel, channel + shape.c) of `v`, cropped to `shape`'s size. */
export function channelSlice(v: View, channel: number, shape: Shape): View {
  return {
    arena: v.arena,
    offset: v.offset + channel * v.h * v.w,
    batchStride: v.batchStride,
    ...shape,
  };
}

/** Where the forward pass reads and writes. */
export interface Buffers {
  /** The fixed input code. */
  readonly z0: View;
  /** The perturbed input (the input tensor's view). */
  readonly z: View;
  /** The observation, at the prediction's size. */
  readonly target: View;
  /** The mask, when the data term has one. */
  readonly mask?: View;
  /** The EMA of the output. */
  readonly ema: View;
  /** ES-WMV: the output at the minimum windowed variance. */
  readonly best?: View;
  /** ES-WMV: the last `window` outputs. */
  readonly ring?: View;
  /** Floats of `io`. */
  readonly ioSize: number;
  /** Floats of `act`. */
  readonly actSize: number;
  /** Floats of `stats`. */
  readonly statsSize: number;
  /** The view of a forward tensor by id. */
  readonly view: (id: string) => View;
  /** The saved statistics of each BN node, by id. */
  readonly stats: ReadonlyMap<string, StatsRef>;
}

/** Lays out `io`, `act` and `stats` for `batch` fits (a ring of `window` outputs for ES-WMV). */
export function layoutBuffers(
  graph: TensorGraph,
  aliases: Aliases,
  batch: number,
  window: number | undefined,
): Buffers {
  const { order, inputId, shapeOf } = graph;
  let ioSize = 0;
  const ioView = (shape: Shape, slots = 1): View => {
    const view: View = {
      arena: "io",
      offset: ioSize,
      batchStride: slots * shape.c * shape.h * shape.w,
      ...shape,
    };
    ioSize = align(ioSize + batch * view.batchStride);
    return view;
  };
  const zShape = shapeOf(inputId);
  const predShape = shapeOf(graph.pred);
  const z0 = ioView(zShape);
  const z = ioView(zShape);
  const target = ioView(predShape);
  const mask = graph.hasMask ? ioView({ c: 1, h: predShape.h, w: predShape.w }) : undefined;
  const outShape = shapeOf(graph.output);
  const ema = ioView(outShape);
  const best = window !== undefined ? ioView(outShape) : undefined;
  const ring = window !== undefined ? ioView(outShape, window) : undefined;

  let actSize = 0;
  const views = new Map<string, View>([[inputId, z]]);
  for (const t of order) {
    if (t.id === inputId || aliases.has(t.id)) continue;
    const n = t.shape.c * t.shape.h * t.shape.w;
    views.set(t.id, { arena: "act", offset: actSize, batchStride: n, ...t.shape });
    actSize = align(actSize + batch * n);
  }
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i]!;
    const a = aliases.get(t.id);
    if (a) views.set(t.id, channelSlice(views.get(a.concat)!, a.channel, t.shape));
  }

  let statsSize = 0;
  const stats = new Map<string, StatsRef>();
  for (const t of order) {
    if (t.node === undefined || !layerKind(t.node.op).stats) continue;
    stats.set(t.id, { offset: statsSize, batchStride: 2 * t.shape.c, channels: t.shape.c });
    statsSize += batch * 2 * t.shape.c;
  }
  return {
    z0,
    z,
    target,
    ...(mask ? { mask } : {}),
    ema,
    ...(best ? { best } : {}),
    ...(ring ? { ring } : {}),
    ioSize,
    actSize,
    statsSize,
    view: (id) => views.get(id)!,
    stats,
  };
}
