/**
 * Micro-benchmark of the CPU backend's conv kernels on one thread: the skip network's
 * dominant layer, the full-resolution 3×3 conv 132 → 128 with reflection padding
 * (REFERENCE.md §1a: 51% of the forward cost), at 64² by default. Prints GFLOP/s (2 FLOP per
 * multiply-add) of the forward, backward-data and backward-weight kernels, im2col GEMM and
 * Winograd F(2×2, 3×3) / F(4×4, 3×3) schedules, by wall time and by the process's CPU time.
 *
 * Not a test: timings on a shared machine are rough. Run:
 * `deno run -A bench/cpu_conv.ts [size] [repeats] [cin] [cout]`
 *
 * @module
 */
import process from "node:process";
import type { Plan, Step, View } from "../engine/plan.ts";
import { createLocalKernels } from "../engine/cpu/local.ts";

const size = Number(Deno.args[0] ?? 64);
const repeats = Number(Deno.args[1] ?? 10);
// REFERENCE.md §1a: level-0 conv of the skip net, 132 → 128 (36 → 32 in the light variant).
const cin = Number(Deno.args[2] ?? 132), cout = Number(Deno.args[3] ?? 128), k = 3;
const hw = size * size;
const x: View = { arena: "act", offset: 0, batchStride: cin * hw, c: cin, h: size, w: size };
const y: View = {
  arena: "act",
  offset: cin * hw,
  batchStride: cout * hw,
  c: cout,
  h: size,
  w: size,
};
const dy: View = { ...y, arena: "dact", offset: 0 };
const dx: View = { ...x, arena: "dact", offset: cout * hw };
const weight = { offset: 0, size: cout * cin * k * k };
const bias = { offset: weight.size, size: cout };
const common = { weight, k, stride: 1, pad: "reflection" } as const;
const steps: Step[] = [
  { kind: "conv", x, y, bias, ...common },
  { kind: "conv_bwd_data", dy, dx, accumulate: false, ...common },
  { kind: "conv_bwd_weight", x, dy, bias, ...common },
];
const params = weight.size + bias.size;
const io: View = { arena: "io", offset: 0, batchStride: 1, c: 1, h: 1, w: 1 };
const plan: Plan = {
  batch: 1,
  height: size,
  width: size,
  paramsPerFit: params,
  arenaSizes: {
    param: params,
    grad: params,
    adamM: 0,
    adamV: 0,
    act: (cin + cout) * hw,
    dact: (cin + cout) * hw,
    stats: 0,
    io: 1,
    scalars: 0,
  },
  forward: steps,
  loss: [],
  backward: [],
  update: [],
  params: [],
  io: { z0: io, z: io, output: io, target: io, ema: io },
  scalars: { loss: 0, psnrObserved: 0 },
  forwardMacs: cout * cin * k * k * hw,
};

const flops = 2 * plan.forwardMacs;
console.log(
  `conv 3×3 ${cin}→${cout} at ${size}², one thread, ${(flops / 1e9).toFixed(2)} GFLOP each ` +
    "(direct-conv FLOPs: Winograd's GFLOP/s are effective rates)",
);
for (const winograd of ["never", "f2", "f4"] as const) {
  const kernels = await createLocalKernels(plan, 1, { winograd });
  for (const a of ["act", "dact", "param"] as const) {
    const arena = kernels.arenas[a];
    for (let i = 0; i < arena.length; i++) arena[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  }
  for (const s of steps) {
    kernels.runStep(s); // warm-up (and tier-up to optimised code)
    kernels.runStep(s);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let r = 0; r < repeats; r++) kernels.runStep(s);
    const ms = (performance.now() - t0) / repeats;
    const c1 = process.cpuUsage(c0);
    // CPU time of this (single-threaded) process: steadier than wall time on a shared machine.
    const cpuMs = (c1.user + c1.system) / 1000 / repeats;
    const name = `${s.kind} ${winograd === "never" ? "im2col" : `winograd ${winograd}`}`;
    console.log(
      `${name.padEnd(26)} wall ${ms.toFixed(2).padStart(8)} ms ${
        (flops / ms / 1e6).toFixed(1).padStart(6)
      } GFLOP/s   cpu ${cpuMs.toFixed(2).padStart(8)} ms ${
        (flops / cpuMs / 1e6).toFixed(1).padStart(6)
      } GFLOP/s`,
    );
  }
}
