/**
 * Per-kernel time of one training step of a bench network on the cpu engine (not a test):
 * every step of the plan runs on this thread (the `threads` shares in turn, as
 * engine/cpu/local.ts does), timed alone, median over `--repeat` steps, then summed by kernel
 * kind and, for convs, by geometry. Shows where a step's time goes and how each part scales
 * with the image size.
 *
 * ```sh
 * deno run -A bench/cpu_profile_plan.ts --channels 128 --size 128 --repeat 3
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { compilePlan } from "../engine/compile.ts";
import type { Step } from "../engine/plan.ts";
import { benchDataTerm, benchNetwork } from "./train_step.ts";
import { createLocalKernels } from "../engine/cpu/local.ts";

const { values } = parseArgs({
  options: {
    channels: { type: "string", default: "128" },
    size: { type: "string", default: "64" },
    repeat: { type: "string", default: "3" },
    threads: { type: "string", default: "1" },
  },
});
const channels = Number(values.channels);
const size = Number(values.size);
const repeat = Number(values.repeat);
const threads = Number(values.threads);

// REFERENCE.md §1c: the denoising preset (lr 0.01, reg noise 1/30, EMA 0.99).
const plan = compilePlan(benchNetwork("denoise", channels), {
  batch: 1,
  height: size,
  width: size,
  dataTerm: benchDataTerm("denoise"),
  lr: 0.01,
  regNoiseStd: 1 / 30,
  emaDecay: 0.99,
});
const steps = [...plan.forward, ...plan.loss, ...plan.backward, ...plan.update];
const kernels = await createLocalKernels(plan, threads);
for (const a of ["act", "dact", "param", "io"] as const) {
  const arena = kernels.arenas[a];
  for (let i = 0; i < arena.length; i++) arena[i] = ((i * 2654435761) % 1000) / 1000 * 0.1;
}

/** A label that groups steps: the kind, and for convs cin→cout k×k /stride at the output size. */
function label(s: Step): string {
  switch (s.kind) {
    case "conv":
      return `conv ${s.x.c}→${s.y.c} ${s.k}×${s.k}/${s.stride} @${s.y.h}`;
    case "conv_bwd_data":
      return `conv_bwd_data ${s.dx.c}←${s.dy.c} ${s.k}×${s.k}/${s.stride} @${s.dy.h}`;
    case "conv_bwd_weight":
      return `conv_bwd_weight ${s.x.c}→${s.dy.c} ${s.k}×${s.k}/${s.stride} @${s.dy.h}`;
    default:
      return s.kind;
  }
}

/** 2 × multiply-adds of a conv step (0 for other kinds). */
function flops(s: Step): number {
  if (s.kind === "conv") return 2 * s.y.c * s.x.c * s.k * s.k * s.y.h * s.y.w;
  if (s.kind === "conv_bwd_data") return 2 * s.dy.c * s.dx.c * s.k * s.k * s.dy.h * s.dy.w;
  if (s.kind === "conv_bwd_weight") return 2 * s.dy.c * s.x.c * s.k * s.k * s.dy.h * s.dy.w;
  return 0;
}

const times = steps.map(() => [] as number[]);
for (let r = 0; r < repeat + 1; r++) {
  steps.forEach((s, i) => {
    const t0 = performance.now();
    kernels.runStep(s, r);
    if (r > 0) times[i]!.push(performance.now() - t0); // the first step warms up
  });
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1] ?? 0;

const byKind = new Map<string, { ms: number; flops: number; n: number }>();
const byLabel = new Map<string, { ms: number; flops: number; n: number }>();
let total = 0;
steps.forEach((s, i) => {
  const ms = median(times[i]!);
  total += ms;
  for (const [map, key] of [[byKind, s.kind], [byLabel, label(s)]] as const) {
    const e = map.get(key) ?? { ms: 0, flops: 0, n: 0 };
    e.ms += ms;
    e.flops += flops(s);
    e.n++;
    map.set(key, e);
  }
});

console.log(
  `denoise C=${channels} ${size}², ${threads} emulated thread(s) on one core, median of ${repeat}: ${
    total.toFixed(1)
  } ms/step`,
);
for (const [title, map] of [["by kind", byKind], ["by conv geometry", byLabel]] as const) {
  console.log(`\n${title}`);
  const rows = [...map].sort((a, b) => b[1].ms - a[1].ms);
  for (const [key, e] of rows) {
    if (title === "by conv geometry" && e.flops === 0) continue;
    const gf = e.flops > 0 ? `${(e.flops / e.ms / 1e6).toFixed(1).padStart(6)} GFLOP/s` : "";
    console.log(
      `${key.padEnd(42)} ×${String(e.n).padStart(3)} ${e.ms.toFixed(2).padStart(9)} ms ${
        (100 * e.ms / total).toFixed(1).padStart(5)
      } %  ${gf}`,
    );
  }
}
