/**
 * Pass 3, reachability: every tensor must contribute to the prediction, or its layer would
 * never receive a gradient (a dangling branch is a mistake in the network, not a no-op).
 *
 * @module
 */
import type { TensorGraph } from "./graph.ts";

/** Throws a RangeError naming the first tensor from which the prediction cannot be reached. */
export function checkReachability(graph: TensorGraph, where: string): void {
  const { order } = graph;
  const reaches = new Set<string>([graph.pred]);
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i]!;
    if (reaches.has(t.id)) t.inputs.forEach((x) => reaches.add(x));
  }
  for (const t of order) {
    if (!reaches.has(t.id)) {
      throw new RangeError(`${where}: node ${t.id} does not reach the output ${graph.output}`);
    }
  }
}
