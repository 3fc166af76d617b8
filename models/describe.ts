/**
 * A plain-text listing of a {@link Network}: one line per node with its channels, parameter
 * count and its layer kind's `describe` (engine/layers/), for `explain()` and `--dry-run`.
 *
 * @module
 */
import { layerKind } from "../engine/layers/registry.ts";
import type { Network } from "./graph.ts";
import { inferChannels, nodeParams } from "./count.ts";

/**
 * One line per node: `id  op  channels  params  detail`, then the total.
 *
 * @example
 * ```ts
 * import { describeNetwork, skip } from "./mod.ts";
 * console.log(describeNetwork(skip({ channelsDown: [8, 8] })));
 * ```
 */
export function describeNetwork(network: Network): string {
  const channels = inferChannels(network);
  const lines = [`${network.name} (size multiple ${network.sizeMultiple})`];
  let total = 0;
  for (const node of network.nodes) {
    const kind = layerKind(node.op);
    const first = kind.inputs(node)[0];
    const cin = first === undefined ? 0 : channels.get(first) ?? 0;
    const params = nodeParams(node, cin).reduce((s, p) => s + p.size, 0);
    total += params;
    lines.push(
      `  ${node.id.padEnd(20)} ${node.op.padEnd(12)} ${
        String(channels.get(node.id)).padStart(5)
      } ch ${String(params).padStart(9)} p  ${kind.describe(node)}`,
    );
  }
  lines.push(`  total ${total} parameters, output ${network.output}`);
  return lines.join("\n");
}
