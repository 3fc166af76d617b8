/**
 * Pass 5, concat in place: a concat input whose only consumer is that concat and whose size
 * needs no crop becomes a channel slice of the concat output, so its producer writes there
 * and no copy runs (and its gradient is the same slice of the concat's gradient). z and the
 * network output are never aliased: the caller uploads and reads them.
 *
 * @module
 */
import type { TensorGraph } from "./graph.ts";

/** The concat a tensor is a channel slice of, and the slice's first channel. */
export interface ConcatAlias {
  /** The concat's id. */
  readonly concat: string;
  /** First channel of the slice within the concat output. */
  readonly channel: number;
}

/** Tensor id → the concat it is a channel slice of. */
export type Aliases = ReadonlyMap<string, ConcatAlias>;

/** The concat inputs that can live in their concat's output. */
export function planConcatAliases(graph: TensorGraph): Aliases {
  const { order, shapeOf } = graph;
  const consumers = new Map<string, string[]>();
  for (const t of order) {
    for (const x of t.inputs) consumers.set(x, [...(consumers.get(x) ?? []), t.id]);
  }
  const aliasOf = new Map<string, ConcatAlias>();
  for (const t of order) {
    if (t.node?.op !== "concat") continue;
    let channel = 0;
    for (const x of t.inputs) {
      const s = shapeOf(x);
      if (
        x !== graph.inputId && x !== graph.output && consumers.get(x)?.length === 1 &&
        s.h === t.shape.h &&
        s.w === t.shape.w
      ) {
        aliasOf.set(x, { concat: t.id, channel });
      }
      channel += s.c;
    }
  }
  return aliasOf;
}

/**
 * The tensor whose gradient region holds `id`'s gradient (itself, or the outermost concat of a
 * chain of aliases), and the channel at which `id`'s slice starts in it.
 */
export function gradientRoot(aliases: Aliases, id: string): { root: string; channel: number } {
  let channel = 0;
  let cur = id;
  for (let a = aliases.get(cur); a; a = aliases.get(cur)) {
    channel += a.channel;
    cur = a.concat;
  }
  return { root: cur, channel };
}
