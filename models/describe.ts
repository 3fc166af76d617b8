/**
 * A plain-text listing of a {@link Network}: one line per node with its channels and
 * parameter count, for `explain()` and `--dry-run`.
 *
 * @module
 */
import type { LayerNode, Network } from "./graph.ts";
import { inferChannels, nodeParams } from "./count.ts";

function detail(node: LayerNode): string {
  switch (node.op) {
    case "input":
      return `z ÷${node.downscale}`;
    case "conv":
      return `${node.kernel}×${node.kernel}/${node.stride} ${node.pad}${
        node.bias ? " +bias" : ""
      } ← ${node.input}`;
    case "bn":
      return `${node.act} ← ${node.input}`;
    case "act":
      return `${node.act} ← ${node.input}`;
    case "pool":
      return `${node.mode} ← ${node.input}`;
    case "lanczos_down":
      return `${node.kernel} ÷${node.factor} ← ${node.input}`;
    case "upsample":
      return `${node.mode} ×2 ← ${node.input}`;
    case "concat":
    case "add":
      return `← ${node.inputs.join(", ")}`;
  }
}

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
    const cin = node.op === "input"
      ? 0
      : channels.get("input" in node ? node.input : node.inputs[0]) ?? 0;
    const params = nodeParams(node, cin).reduce((s, p) => s + p.size, 0);
    total += params;
    lines.push(
      `  ${node.id.padEnd(20)} ${node.op.padEnd(12)} ${
        String(channels.get(node.id)).padStart(5)
      } ch ${String(params).padStart(9)} p  ${detail(node)}`,
    );
  }
  lines.push(`  total ${total} parameters, output ${network.output}`);
  return lines.join("\n");
}
