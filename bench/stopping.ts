/**
 * `deno task bench:stopping`: how close each stopping rule gets to the peak of a DIP fit,
 * without the clean image, on the paper's benchmark images (issue 15).
 *
 * Each fit's trajectory is recorded once (bench/stopping/trace.ts) into
 * `<out>/traces/<protocol>/<task>-<name>-s<seed>.json`, and every rule is then replayed on the
 * recorded traces (bench/stopping/rules.ts): no fit is run per rule. A trace that exists is
 * not fitted again, so an interrupted run resumes and `--evaluate` only replays.
 *
 *     deno task bench:stopping                                 # all tasks, 128², 32 channels, 2 seeds
 *     deno task bench:stopping --task denoise --only F16,hill --seeds 1
 *     deno task bench:stopping --size 128 --channels 128 --task denoise --only F16 --seeds 1
 *     deno task bench:stopping --evaluate --rule "holdout P500"   # replay only, per-image table
 *     deno task bench:stopping --evaluate --json > bench/results/stopping.json
 *
 * Flags: `--data DIR` (the paper benchmarks), `--task T[,T]` (denoise, jpeg, sr, inpaint; default
 * all), `--only NAMES`, `--seeds K` (default 2) from `--seed S` (default 0), `--size N` (crop,
 * default 128), `--channels C` (default 32; `preset` for the presets' widths), `--check-every K`
 * (default 10), `--iterations N` (default: the presets'), `--engine`, `--threads`, `--out DIR`
 * (default bench/results/stopping), `--evaluate` (no fitting; with `--all`, the traces of every
 * protocol together), `--rule NAME` (the per-image table's rule; default "dipFit
 * default", what a fit that sets neither earlyStop nor iterations does), `--sure` (Monte-Carlo
 * SURE on the denoising images, bench/stopping/sure.ts), `--json`.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../image/save.ts";
import { HOLDOUT_PATIENCE } from "../dip/stopping.ts";
import { loadStopItems, STOP_TASKS, type StopTask } from "./stopping/items.ts";
import {
  beforeAfterTable,
  imageTable,
  type Labelled,
  rulesTable,
  summarize,
  TARGETS,
} from "./stopping/report.ts";
import {
  candidateRules,
  DIPFIT_DEFAULT,
  EARLY_STOP_TRUE,
  FIXED,
  holdoutRule,
  PEAK,
  replayMinimum,
  wmvRule,
} from "./stopping/rules.ts";
import { type Protocol, recordTrace, type Trace } from "./stopping/trace.ts";
import { recordSure, type SureTrace } from "./stopping/sure.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const DEFAULT_DATA = join(ROOT, "..", "shared", "data", "paper-benchmarks");

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(
      `stopping: expected a non-negative integer for --${name} but received ${value}`,
    );
  }
  return n;
}

function protocolId(p: Protocol): string {
  return `s${p.size}-c${p.channels ?? "preset"}-k${p.checkEvery}` +
    (p.iterations === undefined ? "" : `-i${p.iterations}`);
}

async function readTraces(dir: string): Promise<Trace[]> {
  const traces: Trace[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.endsWith(".json")) continue;
      traces.push(JSON.parse(await Deno.readTextFile(join(dir, entry.name))));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const order = (t: Trace) => STOP_TASKS.indexOf(t.task);
  return traces.sort((a, b) =>
    order(a) - order(b) || a.set.localeCompare(b.set) || a.name.localeCompare(b.name) ||
    a.seed - b.seed
  );
}

/** The rows of the before/after table: what a fit did before this study and what it does now. */
const BEFORE_AFTER: readonly Labelled[] = [
  { label: "before: fixed steps (no earlyStop)", rule: FIXED },
  { label: "before: earlyStop ES-WMV (W 100, P 1000)", rule: wmvRule(1000) },
  { label: "before: earlyStop holdout, every task", rule: holdoutRule(HOLDOUT_PATIENCE) },
  { label: "after: earlyStop: true (per task)", rule: EARLY_STOP_TRUE },
  { label: "after: default (no earlyStop, no iterations)", rule: DIPFIT_DEFAULT },
];

/** The protocols of `traces` with their counts, e.g. `s64-c32-k10 ×40, s128-c32-k10 ×3`. */
function protocols(traces: readonly Trace[]): string {
  const counts = new Map<string, number>();
  for (const t of traces) {
    counts.set(protocolId(t.protocol), (counts.get(protocolId(t.protocol)) ?? 0) + 1);
  }
  return [...counts].map(([id, n]) => `${id} ×${n}`).join(", ");
}

/** Every protocol's traces under `root` (`--evaluate --all`). */
async function readAllTraces(root: string): Promise<Trace[]> {
  const traces: Trace[] = [];
  for await (const entry of Deno.readDir(root)) {
    if (entry.isDirectory) traces.push(...await readTraces(join(root, entry.name)));
  }
  return traces;
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      data: { type: "string", default: DEFAULT_DATA },
      task: { type: "string" },
      only: { type: "string" },
      seeds: { type: "string" },
      seed: { type: "string" },
      size: { type: "string" },
      channels: { type: "string" },
      "check-every": { type: "string" },
      iterations: { type: "string" },
      engine: { type: "string", default: "cpu" },
      threads: { type: "string" },
      out: { type: "string", default: join(ROOT, "bench", "results", "stopping") },
      evaluate: { type: "boolean", default: false },
      rule: { type: "string" },
      sure: { type: "boolean", default: false },
      all: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  const tasks = (values.task?.split(",") ?? [...STOP_TASKS]) as StopTask[];
  for (const t of tasks) {
    if (!STOP_TASKS.includes(t)) {
      throw new Error(`stopping: expected a task of ${STOP_TASKS.join(", ")} but received ${t}`);
    }
  }
  const protocol: Protocol = {
    size: positive("size", values.size, 128),
    ...(values.channels === "preset"
      ? {}
      : { channels: positive("channels", values.channels, 32) }),
    checkEvery: positive("check-every", values["check-every"], 10),
    ...(values.iterations === undefined
      ? {}
      : { iterations: positive("iterations", values.iterations, 1) }),
  };
  const dir = join(values.out, "traces", protocolId(protocol));
  const only = values.only?.split(",");
  if (values.sure) {
    await sureCommand(values, protocol, dir, only);
    return;
  }
  if (!values.evaluate) {
    const seeds = positive("seeds", values.seeds, 2);
    const first = positive("seed", values.seed, 0);
    const items = await loadStopItems(values.data, tasks, protocol.size, only);
    await Deno.mkdir(dir, { recursive: true });
    const threads = values.threads === undefined
      ? undefined
      : positive("threads", values.threads, 1);
    for (const item of items) {
      for (let seed = first; seed < first + seeds; seed++) {
        const path = join(dir, `${item.task}-${item.set}-${item.name}-s${seed}.json`);
        if (await Deno.stat(path).then(() => true, () => false)) continue;
        const started = performance.now();
        const trace = await recordTrace(item, protocol, seed, {
          engine: values.engine as "cpu",
          threads,
        });
        await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(trace)));
        const peak = PEAK.pick(trace);
        console.error(
          `stopping: ${item.task}/${item.name} seed ${seed}: ${trace.step.at(-1)} steps, ` +
            `${trace.msPerStep.toFixed(1)} ms/step, peak ${
              trace[peak.kind === "ema" ? "ema" : "out"].psnr[peak.index]!.toFixed(2)
            } dB at ${trace.step[peak.index]} (${
              ((performance.now() - started) / 1000).toFixed(0)
            } s) → ${path}`,
        );
      }
    }
  }
  let traces = values.all ? await readAllTraces(join(values.out, "traces")) : await readTraces(dir);
  traces = traces.filter((t) => tasks.includes(t.task) && (!only || only.includes(t.name)));
  if (traces.length === 0) {
    console.error(`stopping: no traces under ${dir} for these tasks and images`);
    return;
  }
  const rules = candidateRules();
  const chosen = values.rule === undefined
    ? DIPFIT_DEFAULT
    : rules.find((r) => r.name === values.rule);
  if (!chosen) {
    throw new Error(
      `stopping: expected a rule of ${rules.map((r) => `"${r.name}"`).join(", ")} but received ` +
        `"${values.rule}"`,
    );
  }
  const byTask = [...new Set(traces.map((t) => t.task))];
  const report = {
    protocol,
    traces: traces.length,
    targets: TARGETS,
    rules: rules.map((r) => summarize(r, traces)).filter((s) => s !== undefined),
    perTask: Object.fromEntries(
      byTask.map((task) => [
        task,
        rules.map((r) => summarize(r, traces.filter((t) => t.task === task))).filter((s) =>
          s !== undefined
        ),
      ]),
    ),
  };
  if (values.json) {
    console.log(JSON.stringify(report, null, 1));
    return;
  }
  console.log(
    `protocol ${values.all ? protocols(traces) : protocolId(protocol)}: ${traces.length} fits (${
      byTask.map((task) => `${task} ${traces.filter((t) => t.task === task).length}`).join(", ")
    }); gap = peak along the run − PSNR at the chosen step; targets: mean gap ≤ ${TARGETS.meanGapDb} dB, ` +
      `every fit ≤ ${TARGETS.worstGapDb} dB, mean ≥ the fixed-step default's\n`,
  );
  console.log(beforeAfterTable(BEFORE_AFTER, traces));
  console.log("\nevery rule:");
  console.log(rulesTable(report.rules));
  for (const task of byTask) {
    console.log(`\n${task}:`);
    console.log(rulesTable(report.perTask[task]!));
  }
  console.log(`\nper fit, rule "${chosen.name}" (${chosen.description}):`);
  console.log(imageTable(chosen, traces));
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(1);
  }
}

/**
 * `--sure`: Monte-Carlo SURE on the denoising images (two plain fits each), then per fit the
 * PSNR at SURE's minimum (patience 500) beside the peak, and the plain fit's peak beside the
 * holdout trace's of the same image and seed (what holding 5 % of the pixels out costs).
 */
async function sureCommand(
  values: {
    data: string;
    out: string;
    seeds?: string;
    seed?: string;
    engine: string;
    threads?: string;
    evaluate: boolean;
  },
  protocol: Protocol,
  traceDir: string,
  only: string[] | undefined,
): Promise<void> {
  const dir = join(values.out, "sure", protocolId(protocol));
  if (!values.evaluate) {
    const seeds = positive("seeds", values.seeds, 1);
    const first = positive("seed", values.seed, 0);
    const items = await loadStopItems(values.data, ["denoise"], protocol.size, only);
    await Deno.mkdir(dir, { recursive: true });
    const threads = values.threads === undefined
      ? undefined
      : positive("threads", values.threads, 1);
    for (const item of items) {
      for (let seed = first; seed < first + seeds; seed++) {
        const path = join(dir, `denoise-${item.name}-s${seed}.json`);
        if (await Deno.stat(path).then(() => true, () => false)) continue;
        const trace = await recordSure(item, protocol, seed, {
          engine: values.engine as "cpu",
          threads,
        });
        await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(trace)));
        console.error(`stopping: SURE ${item.name} seed ${seed} → ${path}`);
      }
    }
  }
  const traces: SureTrace[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.endsWith(".json")) {
      traces.push(JSON.parse(await Deno.readTextFile(join(dir, entry.name))));
    }
  }
  // The holdout fits of the same images and seeds: this protocol's, else the preset-length
  // ones (a shorter SURE run still spans the denoising peak, a few hundred steps in).
  const holdout = [
    ...await readTraces(traceDir),
    ...(protocol.iterations === undefined ? [] : await readTraces(
      join(dirname(traceDir), protocolId({ ...protocol, iterations: undefined })),
    )),
  ];
  traces.sort((a, b) => a.name.localeCompare(b.name) || a.seed - b.seed);
  console.log(
    "image       seed  SURE pick  at step  peak   peak step  gap   | plain peak  holdout peak  cost",
  );
  const gaps: number[] = [];
  for (const t of traces.filter((t) => !only || only.includes(t.name))) {
    const { index } = replayMinimum(t.step, t.sure, () => HOLDOUT_PATIENCE);
    const peak = Math.max(...t.psnr);
    const peakIndex = t.psnr.indexOf(peak);
    gaps.push(peak - t.psnr[index]!);
    const twin = holdout.find((h) =>
      h.task === "denoise" && h.name === t.name && h.seed === t.seed
    );
    const twinPeak = twin ? Math.max(...twin.ema.psnr) : undefined;
    console.log(
      [
        t.name.padEnd(10),
        String(t.seed).padStart(4),
        t.psnr[index]!.toFixed(2).padStart(9),
        String(t.step[index]).padStart(8),
        peak.toFixed(2).padStart(6),
        String(t.step[peakIndex]).padStart(10),
        (peak - t.psnr[index]!).toFixed(2).padStart(5),
        "|",
        peak.toFixed(2).padStart(10),
        (twinPeak?.toFixed(2) ?? "–").padStart(13),
        (twinPeak === undefined ? "–" : (peak - twinPeak).toFixed(2)).padStart(5),
      ].join("  "),
    );
  }
  if (gaps.length > 0) {
    console.log(
      `SURE (ε = ${traces[0]!.epsilon.toExponential(1)}, patience ${HOLDOUT_PATIENCE}): mean gap ` +
        `${(gaps.reduce((a, b) => a + b, 0) / gaps.length).toFixed(2)} dB, worst ` +
        `${Math.max(...gaps).toFixed(2)} dB over ${gaps.length} fits`,
    );
  }
}
