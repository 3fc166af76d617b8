/**
 * What a fit will do, before it runs: the resolved preset, the network it trains (family,
 * depth, widths, parameter count), and for a known input size the forward multiply-adds, the
 * memory the engine allocates for its compiled plan (dip/estimate.ts `engineBytes()`) and the
 * engine. `explain()` and `--dry-run` print it.
 *
 * @module
 */
import type { ExplainContext } from "../core/graph.ts";
import { countParams } from "../models/count.ts";
import type { Network } from "../models/graph.ts";
import { engineBytes } from "./estimate.ts";
import { buildNetwork } from "./fit.ts";
import { fitGeometry } from "./geometry.ts";
import type { ResolvedFit } from "./options.ts";
import { describeEarlyStop } from "./stopping.ts";
import { TASKS, type TaskSpec } from "./tasks.ts";

const grouped = (n: number) => n.toLocaleString("en-US");

function bytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
}

/** Widths of a skip/hourglass network per level, or the family's own size options. */
function widths(fit: ResolvedFit): string {
  const net = fit.net as Record<string, unknown>;
  const list = (key: string) =>
    Array.isArray(net[key]) ? `[${(net[key] as unknown[]).join(", ")}]` : undefined;
  const down = list("channelsDown");
  if (down) {
    const levels = (net.channelsDown as unknown[]).length;
    const skip = list("channelsSkip");
    return `${levels} levels, channels ${down}${skip ? `, skip ${skip}` : ""}`;
  }
  return Object.entries(net).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(", ");
}

/** The lines `explain()` prints under a dipFit op. */
export function explainFit(fit: ResolvedFit, context: ExplainContext = {}): string {
  const task: TaskSpec = TASKS[fit.task];
  const channels = context.input?.channels ?? 3;
  const inputChannels = fit.input === "image" ? channels : fit.inputDepth;
  const network: Network = buildNetwork(fit, inputChannels, channels);
  const lines = [
    `preset ${fit.preset} (task ${fit.task}: ${task.summary})`,
    `network: ${fit.arch}, ${widths(fit)}; ${grouped(countParams(network))} parameters ` +
    `(${channels === 1 ? "gray" : "RGB"})`,
    `fit: z ${fit.input}${fit.input === "noise" ? ` ${network.inputChannels}` : ""}, input noise ` +
    `${+fit.regNoise.toFixed(4)}, lr ${fit.lr}, ${fit.iterations} steps` +
    `${fit.ema > 0 ? `, EMA ${fit.ema}` : ""}${fit.backtracking ? ", backtracking" : ""}` +
    `${fit.earlyStop ? `, ${describeEarlyStop(fit.earlyStop)}` : ""}` +
    `${fit.runs > 1 ? `, ${fit.runs} runs averaged` : ""}`,
  ];
  const input = context.input;
  const engine = context.engine ?? fit.engine;
  if (input) {
    const geometry = fitGeometry(fit, input);
    const plan = geometry.compile(1);
    // What the engine allocates (dip/estimate.ts); `auto → cpu` is the cpu engine too.
    const cpu = /(^|→ )cpu$/.test(engine);
    const threads = fit.threads ?? navigator.hardwareConcurrency ?? 1;
    lines.push(
      `for ${input.channels}×${input.height}×${input.width} (fitted at ${geometry.height}×` +
        `${geometry.width}): ${(plan.forwardMacs / 1e9).toFixed(2)} GMAC forward, about ` +
        `${bytes(engineBytes(plan, cpu ? "cpu" : engine, threads))} of engine memory per fit`,
    );
  }
  lines.push(`engine: ${engine}`);
  return lines.join("\n");
}
