/**
 * The training-step benchmark behind `dipline bench`: trains one of the reference networks for a few steps on synthetic data and
 * reports time to first step (pipeline/shader compilation included), time per step and
 * achieved GFLOP/s. `--json` prints one object with the same keys as bench/torch_dip.py, so
 * bench/side_by_side.ts can compare the two.
 *
 * ```sh
 * deno run -A cli.ts bench --engine cpu --size 128 --steps 20
 * deno run -A cli.ts bench --engine webgpu --size 512 --json
 * ```
 *
 * @module
 */
import type { Network } from "../models/graph.ts";
import { skip } from "../models/skip.ts";
import { compilePlan } from "../engine/compile.ts";
import { createTrainer } from "../engine/mod.ts";
import type { DataTerm, Plan, View } from "../engine/plan.ts";
import { inputNoise } from "../engine/init.ts";
import { lanczosDown } from "../dip/operators.ts";
import { UsageError } from "../core/errors.ts";

/** The networks `bench` can build (REFERENCE.md §1a/§1c notebooks). */
export type BenchPreset = "denoise" | "sr" | "inpaint";

/** The engines `bench` can ask `createTrainer` for. */
export type BenchEngine = "webgpu" | "cpu" | "reference" | "auto";

/** What to measure. */
export interface BenchOptions {
  /** The backend; `auto` = webgpu on a hardware adapter, else cpu. */
  readonly engine: BenchEngine;
  /** Which notebook's network and data term. */
  readonly preset: BenchPreset;
  /** Channels per level (nd = nu = [C]×5); 128 is the paper's network, 32 the light variant. */
  readonly channels: number;
  /** Height and width of the network output. */
  readonly size: number;
  /** Timed steps. */
  readonly steps: number;
  /** Steps run (and waited for) before timing. */
  readonly warmup: number;
  /** Independent fits trained together in one step. */
  readonly batch: number;
  /** Worker threads of the cpu engine. */
  readonly threads: number;
}

/** What `bench` measured; the JSON `--json` prints (keys shared with bench/torch_dip.py). */
export interface BenchResult {
  /** The trainer's engine: `webgpu`, `cpu` or `reference` (`auto` resolved). */
  readonly engine: string;
  /** The adapter or CPU the trainer runs on, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`. */
  readonly adapter: string;
  /** The preset benchmarked. */
  readonly preset: BenchPreset;
  /** Channels per level. */
  readonly channels: number;
  /** The network's name, e.g. `skip(32→3, nd=[128×5], nu=[128×5], ns=[4×5])`. */
  readonly network: string;
  /** Parameters of one fit. */
  readonly params: number;
  /** Height and width of the output. */
  readonly size: number;
  /** Fits per step. */
  readonly batch: number;
  /** Threads asked for (used by the cpu engine). */
  readonly threads: number;
  /** Timed steps. */
  readonly steps: number;
  /** Warm-up steps. */
  readonly warmup: number;
  /** Forward multiply-adds of one fit (the plan's count). */
  readonly forwardMacs: number;
  /** Mean wall time of one timed step, in milliseconds. */
  readonly msPerStep: number;
  /** 3 × forward MACs × 2 FLOP × batch / 1e9: a training step ≈ forward + 2 × forward for backward. */
  readonly gflopPerStep: number;
  /** Achieved GFLOP/s: gflopPerStep / seconds per step. */
  readonly gflops: number;
  /** createTrainer start → first step's scalars read back (includes shader/pipeline compilation). */
  readonly firstStepMs: number;
  /** compilePlan time (network → plan). */
  readonly compileMs: number;
  /** Per-fit loss after the first step (a sanity check: finite, seed-dependent). */
  readonly firstLoss: number[];
  /** Per-fit loss after the last timed step. */
  readonly loss: number[];
  /** Per-fit PSNR of the data-term output against the observation after the last step. */
  readonly psnrObserved: number[];
}

/** Defaults of `dipline bench` (and `deno task bench`). */
export const BENCH_DEFAULTS: BenchOptions = {
  engine: "auto",
  preset: "denoise",
  channels: 128,
  size: 128,
  steps: 20,
  warmup: 3,
  batch: 1,
  threads: navigator.hardwareConcurrency,
};

// REFERENCE.md §1c: Adam lr 0.01 everywhere; reg noise 1/30 (denoising F16), 0.03 (SR ×4,
// inpainting kate); EMA 0.99 (denoising notebook).
const LEARNING_RATE = 0.01;
const EMA_DECAY = 0.99;
const REG_NOISE_STD: Record<BenchPreset, number> = { denoise: 1 / 30, sr: 0.03, inpaint: 0.03 };
/** The SR notebook's ×4 factor. */
const SR_FACTOR = 4;
const LEVELS = 5;

/**
 * The preset's network: denoise and sr are `skip` 32→3, nd = nu = [C]×5, ns = [4]×5, bilinear,
 * reflection (2,217,831 parameters at C = 128); inpaint has ns = [C]×5 and nearest upsampling
 * (3,002,627 at C = 128), as in the notebooks.
 */
export function benchNetwork(preset: BenchPreset, channels: number): Network {
  const c = new Array<number>(LEVELS).fill(channels);
  if (preset === "inpaint") {
    return skip({ channelsDown: c, channelsUp: c, channelsSkip: c, upsampleMode: "nearest" });
  }
  return skip({
    channelsDown: c,
    channelsUp: c,
    channelsSkip: new Array<number>(LEVELS).fill(4),
    upsampleMode: "bilinear",
  });
}

/** The preset's data term: identity (denoise), Lanczos2 ×4 (sr), mask (inpaint). */
export function benchDataTerm(preset: BenchPreset): DataTerm {
  if (preset === "sr") return lanczosDown(SR_FACTOR).dataTerm;
  if (preset === "inpaint") return { kind: "mask" };
  return { kind: "identity" };
}

/**
 * Fills an io view for every fit from {@link inputNoise} (U(0, 1) · scale, seeded per fit), as
 * one batch-major array.
 */
function batchNoise(view: View, seeds: readonly number[], scale: number): Float32Array {
  const perFit = view.c * view.h * view.w;
  const out = new Float32Array(seeds.length * perFit);
  seeds.forEach((seed, b) => {
    out.set(inputNoise("noise", view.c, view.h, view.w, seed, scale), b * perFit);
  });
  return out;
}

function checkPositive(name: string, value: number, min = 1): void {
  if (!Number.isInteger(value) || value < min) {
    throw new UsageError(
      `bench: expected ${
        min === 0 ? "a non-negative" : "a positive"
      } integer for --${name} but received ${value}`,
    );
  }
}

/** Checks options, throwing a {@link UsageError} that names the flag. */
export function validateBenchOptions(o: BenchOptions): void {
  if (!["webgpu", "cpu", "reference", "auto"].includes(o.engine)) {
    throw new UsageError(
      `bench: expected --engine webgpu, cpu, reference or auto but received "${o.engine}"`,
    );
  }
  if (!["denoise", "sr", "inpaint"].includes(o.preset)) {
    throw new UsageError(
      `bench: expected --preset denoise, sr or inpaint but received "${o.preset}"`,
    );
  }
  checkPositive("channels", o.channels);
  checkPositive("size", o.size);
  checkPositive("steps", o.steps);
  checkPositive("warmup", o.warmup, 0);
  checkPositive("batch", o.batch);
  checkPositive("threads", o.threads);
  // The deepest level runs at size / 2^levels; reflection padding needs at least 2 pixels.
  const multiple = 2 ** LEVELS;
  if (o.size % multiple !== 0 || o.size < 2 * multiple) {
    throw new UsageError(
      `bench: expected --size a multiple of ${multiple}, at least ${
        2 * multiple
      } (the network has ${LEVELS} levels), but received ${o.size}`,
    );
  }
}

/**
 * Builds, compiles and trains the preset's network on synthetic data, and times it. Scalars
 * are read only after the first step, after the warm-up and after the timed steps, so the
 * device queue never stalls inside the timed region.
 */
export async function runBench(options: BenchOptions): Promise<BenchResult> {
  validateBenchOptions(options);
  const { preset, channels, size, batch } = options;
  const network = benchNetwork(preset, channels);

  const compileStart = performance.now();
  const plan: Plan = compilePlan(network, {
    batch,
    height: size,
    width: size,
    dataTerm: benchDataTerm(preset),
    lr: LEARNING_RATE,
    regNoiseStd: REG_NOISE_STD[preset],
    emaDecay: EMA_DECAY,
  });
  const compileMs = performance.now() - compileStart;

  const seeds = Array.from({ length: batch }, (_, b) => b + 1);
  const firstStart = performance.now();
  const trainer = await createTrainer(plan, { engine: options.engine, threads: options.threads });
  try {
    await trainer.reset(seeds);
    trainer.setNoiseSeeds(seeds.map((s) => s + 1000));
    // REFERENCE.md §1d get_noise: z0 = U(0, 1) · 0.1; a synthetic observation U(0, 1).
    trainer.upload("z0", batchNoise(plan.io.z0, seeds, 0.1));
    trainer.upload("target", batchNoise(plan.io.target, seeds.map((s) => s + 100), 1));
    if (plan.io.mask) {
      // Bernoulli keep 50% (restoration notebook), one mask for all channels.
      const u = batchNoise(plan.io.mask, seeds.map((s) => s + 200), 1);
      trainer.upload("mask", u.map((v) => (v < 0.5 ? 1 : 0)));
    }
    trainer.run(1);
    const first = await trainer.readScalars();
    const firstStepMs = performance.now() - firstStart;

    if (options.warmup > 0) {
      trainer.run(options.warmup);
      await trainer.readScalars();
    }
    const timedStart = performance.now();
    trainer.run(options.steps);
    const last = await trainer.readScalars();
    const msPerStep = (performance.now() - timedStart) / options.steps;

    const gflopPerStep = (3 * plan.forwardMacs * 2 * batch) / 1e9;
    return {
      engine: trainer.engine,
      adapter: trainer.adapter,
      preset,
      channels,
      network: network.name,
      params: plan.paramsPerFit,
      size,
      batch,
      threads: options.threads,
      steps: options.steps,
      warmup: options.warmup,
      forwardMacs: plan.forwardMacs,
      msPerStep,
      gflopPerStep,
      gflops: gflopPerStep / (msPerStep / 1000),
      firstStepMs,
      compileMs,
      firstLoss: Array.from(first.loss),
      loss: Array.from(last.loss),
      psnrObserved: Array.from(last.psnrObserved),
    };
  } finally {
    trainer.dispose();
  }
}

/** A human-readable report of one result. */
export function formatBenchResult(r: BenchResult): string {
  const rows: [string, string][] = [
    ["engine", `${r.engine} (${r.adapter})`],
    ["network", `${r.preset}: ${r.network}`],
    ["parameters", r.params.toLocaleString("en-US")],
    ["size × batch", `${r.size}² × ${r.batch}`],
    ["compile plan", `${r.compileMs.toFixed(1)} ms`],
    ["first step", `${r.firstStepMs.toFixed(1)} ms (trainer creation, shaders, one step)`],
    ["per step", `${r.msPerStep.toFixed(2)} ms (${r.steps} steps after ${r.warmup} warm-up)`],
    ["GFLOP per step", r.gflopPerStep.toFixed(3)],
    ["achieved", `${r.gflops.toFixed(2)} GFLOP/s`],
    [
      "loss",
      `${r.firstLoss.map((l) => l.toFixed(4)).join(", ")} → ${
        r.loss.map((l) => l.toFixed(4)).join(", ")
      }`,
    ],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}
