/**
 * What a fit costs, per preset and image size, on one engine: measured ms per step (so time per
 * 1,000 steps) and memory, beside what `dipline run --dry-run` predicts for the same fit
 * (dip/estimate.ts: a 1 + 3-step calibration, the plan's arenas as memory). Issue 15, item 4.
 *
 * Every cell runs in fresh subprocesses, one after the other, never side by side:
 *
 * - `estimate`: what `--dry-run` does, cold: `estimateFit()` for the preset at that size.
 * - `measure`: the same plan, compiled the same way (dip/geometry.ts), on a new trainer:
 *   `--warmup` steps, one step timed alone to size the run, then N steps timed with the scalars
 *   read once at the end (N fills `--cell-s` seconds, at least 3, at most 200), and the CPU
 *   time the process got over those steps ÷ (their wall time × threads): well under 100 % when
 *   other work shared the cores (the table prints it and the load average). Memory: the
 *   engine's own accounting (the cpu engine's wasm memory, engine/cpu/memory.ts' layout; the
 *   plan's arenas elsewhere) and the process's peak RSS above its RSS just before the trainer
 *   was created (VmHWM, reset through /proc/self/clear_refs), workers included (they are
 *   threads of this process).
 * - `fit` (sizes in `--fit-sizes`, default 64): a real `fitImage()` of `--fit-steps` steps on
 *   the test card, its wall time from a cold process beside the estimate's total for the same
 *   steps: the check that the estimate misses no per-fit term (checks, snapshots, readbacks).
 *
 * "size" is the size the network is fitted at (its output): for SR ×4 the observation is
 * size/4 on a side. Presets run at their full widths (dip/tasks.ts PRESETS).
 *
 * ```sh
 * flock /tmp/dipline-cpu.lock deno task bench:cost
 * flock /tmp/dipline-cpu.lock deno task bench:cost --presets denoise --sizes 64,128 --cell-s 10 --json
 * flock /tmp/dipline-cpu.lock deno task bench:cost --json-out bench/results/cost.json   # table + JSON
 * ```
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { makeImage } from "../core/image.ts";
import { addGaussianNoise } from "../dip/degrade.ts";
import { estimateFit, type FitEstimate } from "../dip/estimate.ts";
import { fitImage, resolveFitOptions } from "../dip/fit.ts";
import { fitGeometry, planBytes } from "../dip/geometry.ts";
import type { ResolvedFit } from "../dip/options.ts";
import type { EngineName } from "../engine/backend.ts";
import { layoutMemory } from "../engine/cpu/memory.ts";
import { inputNoise } from "../engine/init.ts";
import { createTrainer } from "../engine/mod.ts";
import { countParams } from "../models/count.ts";
import { testCard } from "../image/testcard.ts";

/** The presets of the table and the dipFit options that select each. */
export const COST_PRESETS: Readonly<Record<string, Record<string, unknown>>> = {
  denoise: { task: "denoise", preset: "denoise" },
  sr4: { task: "sr", factor: 4, preset: "sr4" },
  inpaint: { task: "inpaint", preset: "inpaint" },
  jpeg: { task: "jpeg", preset: "jpeg" },
};

/** The fit of a preset, and the observation shape that makes its network output `size`². */
export function costFit(
  preset: string,
  size: number,
  engine: EngineName,
  threads: number,
  iterations?: number,
): { fit: ResolvedFit; input: { channels: number; height: number; width: number } } {
  const options = COST_PRESETS[preset];
  if (!options) {
    throw new Error(
      `bench/cost: expected a preset among ${
        Object.keys(COST_PRESETS).join(", ")
      } but got ${preset}`,
    );
  }
  const fit = resolveFitOptions(
    {
      ...options,
      engine,
      threads,
      ...(iterations !== undefined ? { iterations } : {}),
    } as Parameters<typeof resolveFitOptions>[0],
  );
  const side = size / fit.factor;
  if (!Number.isInteger(side)) {
    throw new Error(`bench/cost: expected ${size} to be a multiple of ${preset}'s factor`);
  }
  return { fit, input: { channels: 3, height: side, width: side } };
}

/** Peak and current resident memory of this process, from /proc/self/status, in bytes. */
function rss(): { current: number; peak: number } {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status);
    if (!m) throw new Error(`bench/cost: no ${key} in /proc/self/status`);
    return Number(m[1]) * 1024;
  };
  return { current: kb("VmRSS"), peak: kb("VmHWM") };
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0); false where it is not allowed. */
function resetPeak(): boolean {
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

/** What the measure child prints. */
interface Measured {
  msPerStep: number;
  steps: number;
  oneStepMs: number;
  /** CPU time of the process over the timed steps ÷ (their wall time × threads). */
  cpuShare: number;
  setupMs: number;
  engineBytes: number;
  planBytes: number;
  rssDeltaBytes: number;
  peakReset: boolean;
  adapter: string;
  params: number;
  height: number;
  width: number;
  forwardGmac: number;
}

async function measure(
  preset: string,
  size: number,
  engine: EngineName,
  threads: number,
  warmup: number,
  cellMs: number,
): Promise<Measured> {
  const { fit, input } = costFit(preset, size, engine, threads);
  const geometry = fitGeometry(fit, input);
  const plan = geometry.compile(1);
  (globalThis as { gc?: () => void }).gc?.();
  const peakReset = resetPeak();
  const before = rss();
  const t0 = performance.now();
  const trainer = await createTrainer(plan, { engine, threads });
  try {
    await trainer.reset([fit.seed]);
    const z0 = plan.io.z0;
    trainer.upload("z0", inputNoise("noise", z0.c, z0.h, z0.w, 1).subarray(0, z0.c * z0.h * z0.w));
    const target = plan.io.target;
    const t = new Float32Array(target.c * target.h * target.w);
    for (let i = 0; i < t.length; i++) t[i] = (Math.sin(i * 12.9898) * 43758.5453) % 1 * 0.5 + 0.5;
    trainer.upload("target", t);
    if (plan.io.mask) {
      const m = plan.io.mask;
      const mask = new Float32Array(m.c * m.h * m.w);
      for (let i = 0; i < mask.length; i++) mask[i] = i % 2;
      trainer.upload("mask", mask);
    }
    trainer.run(Math.max(1, warmup));
    await trainer.readScalars();
    const setupMs = performance.now() - t0;
    const t1 = performance.now();
    trainer.run(1);
    await trainer.readScalars();
    const oneStepMs = performance.now() - t1;
    const steps = Math.min(200, Math.max(3, Math.floor(cellMs / oneStepMs)));
    const c2 = process.cpuUsage();
    const t2 = performance.now();
    trainer.run(steps);
    const scalars = await trainer.readScalars();
    const wall = performance.now() - t2;
    const cpu = process.cpuUsage(c2);
    const msPerStep = wall / steps;
    const cpuShare = (cpu.user + cpu.system) / 1000 / (wall * threads);
    if (!Array.from(scalars.loss).every(Number.isFinite)) {
      throw new Error(`bench/cost: ${preset} at ${size}² gave a non-finite loss`);
    }
    const after = rss();
    const engineBytes = trainer.engine === "cpu"
      ? layoutMemory(plan, threads).totalBytes
      : planBytes(plan);
    return {
      msPerStep,
      steps,
      oneStepMs,
      cpuShare,
      setupMs,
      engineBytes,
      planBytes: planBytes(plan),
      rssDeltaBytes: Math.max(after.peak, after.current) - before.current,
      peakReset,
      adapter: `${trainer.engine}, ${trainer.adapter}`,
      params: countParams(geometry.network),
      height: geometry.height,
      width: geometry.width,
      forwardGmac: plan.forwardMacs / 1e9,
    };
  } finally {
    trainer.dispose();
  }
}

/** A real fit of the test card (noisy, low-res or half-masked as the task needs), timed. */
async function realFit(
  preset: string,
  size: number,
  engine: EngineName,
  threads: number,
  steps: number,
): Promise<{ wallMs: number; msPerStep: number; iterations: number }> {
  const { fit, input } = costFit(preset, size, engine, threads, steps);
  const clean = testCard(input.height, input.width);
  const observation = addGaussianNoise(clean, 25, 1);
  const mask = fit.task === "inpaint"
    ? makeImage(
      1,
      input.height,
      input.width,
      Float32Array.from({ length: input.height * input.width }, (_, i) => i % 2),
    )
    : undefined;
  const t0 = performance.now();
  const result = await fitImage({ observation, ...(mask ? { mask } : {}) }, fit);
  const wallMs = performance.now() - t0;
  return { wallMs, msPerStep: result.msPerStep, iterations: result.iterations };
}

/** One row of the table. */
export interface CostRow {
  preset: string;
  size: number;
  measured: Measured;
  estimate: Pick<FitEstimate, "msPerStep" | "setupMs" | "memoryBytes">;
  fit?: { steps: number; wallMs: number; estimateMs: number };
  /** The 1-minute load average after the cell. */
  load1: number;
}

async function child(mode: string, args: string[]): Promise<unknown> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", new URL(import.meta.url).pathname, mode, ...args],
    stdout: "piped",
    stderr: "piped",
  });
  const out = await cmd.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `bench/cost: ${mode} ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return JSON.parse(text.trim().split("\n").at(-1)!);
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const gibOrMib = (b: number) => b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : mib(b);
const pct = (predicted: number, measured: number) => {
  const d = (predicted / measured - 1) * 100;
  return `${d >= 0 ? "+" : ""}${d.toFixed(0)} %`;
};
const seconds = (ms: number) =>
  ms >= 60_000
    ? `${(ms / 60_000).toFixed(1)} min`
    : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

/** The markdown table of measured rows. */
export function costTable(rows: readonly CostRow[]): string {
  const lines = [
    "| preset  | size | params    | GMAC fwd | ms/step measured (N) | CPU share | load | per 1,000 steps | estimate ms/step | est. error | engine memory | RSS peak Δ | estimate memory |",
    "| ------- | ---: | --------: | -------: | -------------------: | --------: | ---: | --------------: | ---------------: | ---------: | ------------: | ---------: | --------------: |",
  ];
  for (const r of rows) {
    const m = r.measured;
    lines.push(
      `| ${r.preset} | ${r.size}² | ${m.params.toLocaleString("en-US")} | ${
        m.forwardGmac.toFixed(2)
      } | ${m.msPerStep.toFixed(1)} (${m.steps}) | ${(100 * m.cpuShare).toFixed(0)} % | ${
        r.load1.toFixed(1)
      } | ${seconds(1000 * m.msPerStep)} | ${r.estimate.msPerStep.toFixed(1)} | ${
        pct(r.estimate.msPerStep, m.msPerStep)
      } | ${gibOrMib(m.engineBytes)} | ${gibOrMib(m.rssDeltaBytes)} | ${
        gibOrMib(r.estimate.memoryBytes)
      } |`,
    );
  }
  const fits = rows.filter((r) => r.fit);
  if (fits.length > 0) {
    lines.push(
      "",
      "| preset  | size | real fit steps | real fit wall | estimate (setup + steps × ms) | est. error |",
      "| ------- | ---: | -------------: | ------------: | ----------------------------: | ---------: |",
    );
    for (const r of fits) {
      const f = r.fit!;
      lines.push(
        `| ${r.preset} | ${r.size}² | ${f.steps} | ${seconds(f.wallMs)} | ${
          seconds(f.estimateMs)
        } | ${pct(f.estimateMs, f.wallMs)} |`,
      );
    }
  }
  return lines.join("\n");
}

async function main() {
  const [mode] = Deno.args;
  const { values } = parseArgs({
    args: mode === "measure" || mode === "estimate" || mode === "fit"
      ? Deno.args.slice(1)
      : Deno.args,
    options: {
      presets: { type: "string", default: Object.keys(COST_PRESETS).join(",") },
      sizes: { type: "string", default: "64,128,256,512" },
      engine: { type: "string", default: "cpu" },
      threads: { type: "string", default: "2" },
      warmup: { type: "string", default: "2" },
      "cell-s": { type: "string", default: "15" },
      "fit-sizes": { type: "string", default: "64" },
      "fit-steps": { type: "string", default: "100" },
      preset: { type: "string" },
      size: { type: "string" },
      steps: { type: "string" },
      json: { type: "boolean", default: false },
      "json-out": { type: "string" },
    },
  });
  const engine = values.engine as EngineName;
  const threads = Number(values.threads);
  if (mode === "measure") {
    const r = await measure(
      values.preset!,
      Number(values.size),
      engine,
      threads,
      Number(values.warmup),
      1000 * Number(values["cell-s"]),
    );
    console.log(JSON.stringify(r));
    return;
  }
  if (mode === "estimate") {
    const { fit, input } = costFit(
      values.preset!,
      Number(values.size),
      engine,
      threads,
      values.steps ? Number(values.steps) : undefined,
    );
    const e = await estimateFit(fit, input, { engine, threads });
    console.log(JSON.stringify(e));
    return;
  }
  if (mode === "fit") {
    const r = await realFit(
      values.preset!,
      Number(values.size),
      engine,
      threads,
      Number(values.steps),
    );
    console.log(JSON.stringify(r));
    return;
  }
  const presets = values.presets.split(",");
  const sizes = values.sizes.split(",").map(Number);
  const fitSizes = new Set(values["fit-sizes"].split(",").filter((s) => s).map(Number));
  const fitSteps = Number(values["fit-steps"]);
  const common = ["--engine", engine, "--threads", String(threads)];
  const rows: CostRow[] = [];
  const load = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  const loadBefore = load();
  const started = performance.now();
  for (const size of sizes) {
    for (const preset of presets) {
      const cell = [...common, "--preset", preset, "--size", String(size)];
      const estimate = await child("estimate", cell) as FitEstimate;
      const measured = await child("measure", [
        ...cell,
        "--warmup",
        values.warmup,
        "--cell-s",
        values["cell-s"],
      ]) as Measured;
      const row: CostRow = {
        preset,
        size,
        measured,
        estimate: {
          msPerStep: estimate.msPerStep,
          setupMs: estimate.setupMs,
          memoryBytes: estimate.memoryBytes,
        },
        load1: 0,
      };
      if (fitSizes.has(size)) {
        const f = await child("fit", [...cell, "--steps", String(fitSteps)]) as {
          wallMs: number;
          iterations: number;
        };
        // What --dry-run would print for a fit of these steps: setup + steps × ms/step.
        const estimateMs = estimate.setupMs + f.iterations * estimate.msPerStep;
        row.fit = { steps: f.iterations, wallMs: f.wallMs, estimateMs };
      }
      row.load1 = Number(load().split(" ")[0]);
      rows.push(row);
      console.error(
        `${preset} ${size}²: ${measured.msPerStep.toFixed(1)} ms/step over ${measured.steps} ` +
          `(estimate ${estimate.msPerStep.toFixed(1)}), engine ${
            gibOrMib(measured.engineBytes)
          }, ` +
          `RSS Δ ${gibOrMib(measured.rssDeltaBytes)} [load ${load()}]`,
      );
    }
  }
  const loadAfter = load();
  const totalS = (performance.now() - started) / 1000;
  const report = JSON.stringify({ engine, threads, loadBefore, loadAfter, totalS, rows }, null, 2);
  if (values["json-out"]) Deno.writeTextFileSync(values["json-out"], report + "\n");
  if (values.json) {
    console.log(report);
    return;
  }
  console.log(costTable(rows));
  console.log(
    `\n${rows[0]?.measured.adapter ?? engine} (--threads ${threads}); load average before ` +
      `${loadBefore}, after ${loadAfter}; ${totalS.toFixed(0)} s in all`,
  );
}

if (import.meta.main) await main();
