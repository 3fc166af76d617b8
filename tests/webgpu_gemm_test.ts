/**
 * The GEMM conv kernels of the "hardware" tuning (engine/webgpu/conv_gemm.ts) against the tfjs
 * oracle (tests/oracle.ts), run on whatever adapter is present (llvmpipe in CI): odd sizes,
 * stride 2, each padding mode, k 1/3/5, channel counts that are not multiples of the tile
 * (and more than one tile), batch 2 with per-fit weights, accumulate, a concat channel-slice
 * view, and the Lanczos downsampler's even kernel. All cases live in one plan, compiled once
 * (llvmpipe compiles a workgroup-memory kernel in ~2 s cold, so the cases share pipelines).
 */
import assert from "node:assert/strict";
import type { Step, View } from "../engine/plan.ts";
import { HARDWARE_TUNING, kernelsForStep, SOFTWARE_TUNING } from "../engine/webgpu/kernels.ts";
import { GEMM_MIN_M } from "../engine/webgpu/conv_gemm.ts";
import { createWebGpuTrainer } from "../engine/webgpu/mod.ts";
import * as oracle from "./oracle.ts";
import {
  ARENAS,
  type Arenas,
  assertClose,
  BATCH,
  paramOf,
  PlanBuilder,
  readFit,
  shape,
} from "./plan_harness.ts";

const pb = new PlanBuilder();
const view = pb.view.bind(pb);
const param = pb.param.bind(pb);
const steps = pb.steps;
const planOf = (forward: Step[]) => pb.build({ forward });
const close = (actual: Float32Array, expected: Float32Array, what: string): void =>
  assertClose(actual, expected, 1e-5, what);

interface ConvCase {
  name: string;
  cin: number;
  cout: number;
  h: number;
  w: number;
  k: number;
  stride: number;
  pad: "reflection" | "zero" | "replicate";
  bias: boolean;
  accumulate: boolean;
  /** x is channels [1, 1 + cin) of a concat buffer this many channels wide. */
  sliceOf?: number;
  /** Explicit padding (the in-network Lanczos downsampler's even kernel). */
  padding?: number;
}

type Check = (before: Arenas, after: Arenas) => void;
const checks = new Map<string, Check>();

function convCase(c: ConvCase): void {
  const oh = oracle.convOutSize(c.h, c.k, c.stride, c.padding);
  const ow = oracle.convOutSize(c.w, c.k, c.stride, c.padding);
  const concat = view("act", c.sliceOf ?? c.cin, c.h, c.w);
  const x: View = c.sliceOf ? { ...concat, offset: concat.offset + c.h * c.w, c: c.cin } : concat;
  const y = view("act", c.cout, oh, ow, 3);
  const dy = view("dact", c.cout, oh, ow, 5);
  const dx = view("dact", c.cin, c.h, c.w);
  const weight = param(c.cout * c.cin * c.k * c.k);
  const bias = c.bias ? param(c.cout) : undefined;
  const common = {
    k: c.k,
    stride: c.stride,
    pad: c.pad,
    ...(c.padding !== undefined ? { padding: c.padding } : {}),
  } as const;
  steps.push(
    { kind: "conv", x, y, weight, ...(bias ? { bias } : {}), ...common },
    { kind: "conv_bwd_data", dy, dx, weight, accumulate: c.accumulate, ...common },
    { kind: "conv_bwd_weight", x, dy, weight, ...(bias ? { bias } : {}), ...common },
  );
  checks.set(c.name, (before, after) => {
    for (let b = 0; b < BATCH; b++) {
      const xv = readFit(before, x, b);
      const wv = paramOf(before, "param", weight, b, pb.paramsPerFit);
      const bv = bias ? paramOf(before, "param", bias, b, pb.paramsPerFit) : undefined;
      const fwd = oracle.conv2d(xv, shape(x), wv, c.cout, c.k, bv, c.stride, c.pad, c.padding);
      close(readFit(after, y, b), fwd.y, `${c.name} y (fit ${b})`);
      const g = oracle.conv2dGrads(
        xv,
        shape(x),
        wv,
        c.cout,
        c.k,
        c.stride,
        c.pad,
        readFit(before, dy, b),
        c.padding,
      );
      const dx0 = readFit(before, dx, b);
      const dxExpected = c.accumulate ? g.dx.map((v, i) => v + dx0[i]!) : g.dx;
      close(readFit(after, dx, b), dxExpected, `${c.name} dx (fit ${b})`);
      close(paramOf(after, "grad", weight, b, pb.paramsPerFit), g.dw, `${c.name} dw (fit ${b})`);
      if (bias) {
        close(
          paramOf(after, "grad", bias, b, pb.paramsPerFit),
          g.dbias,
          `${c.name} dbias (fit ${b})`,
        );
      }
    }
  });
}

// Channel counts ≥ GEMM_MIN_M (16) so every product takes the GEMM path; none a multiple of 4.
convCase({
  name: "3×3 reflection s1 odd 7×9, bias",
  cin: 18,
  cout: 17,
  h: 7,
  w: 9,
  k: 3,
  stride: 1,
  pad: "reflection",
  bias: true,
  accumulate: false,
});
convCase({
  name: "3×3 zero s2 odd 9×7, accumulate",
  cin: 17,
  cout: 19,
  h: 9,
  w: 7,
  k: 3,
  stride: 2,
  pad: "zero",
  bias: false,
  accumulate: true,
});
convCase({
  name: "3×3 replicate s2 5×6, bias, accumulate",
  cin: 17,
  cout: 17,
  h: 5,
  w: 6,
  k: 3,
  stride: 2,
  pad: "replicate",
  bias: true,
  accumulate: true,
});
convCase({
  name: "1×1 on a concat channel slice, bias",
  cin: 21,
  cout: 17,
  h: 5,
  w: 3,
  k: 1,
  stride: 1,
  pad: "zero",
  bias: true,
  accumulate: false,
  sliceOf: 23,
});
convCase({
  name: "5×5 zero s1 6×7, bias, accumulate",
  cin: 17,
  cout: 17,
  h: 6,
  w: 7,
  k: 5,
  stride: 1,
  pad: "zero",
  bias: true,
  accumulate: true,
});
// Reflection and replicate padding also run kernels.ts's ring and fold kernels, which bake the
// shape and compile slowly on llvmpipe, so the other cases use zero padding; the GEMM kernels
// read the padding mode from the uniform table, one code path for all three.
// More than one tile along M (> 64 channels), N (> 64 pixels) and many K chunks.
convCase({
  name: "3×3 zero s1 9×10 spanning tiles (70→66)",
  cin: 70,
  cout: 66,
  h: 9,
  w: 10,
  k: 3,
  stride: 1,
  pad: "zero",
  bias: true,
  accumulate: false,
});
convCase({
  name: "8×8 zero s2 padding 3 (the in-net Lanczos ×2 geometry)",
  cin: 16,
  cout: 16,
  h: 10,
  w: 6,
  k: 8,
  stride: 2,
  pad: "zero",
  bias: false,
  accumulate: false,
  padding: 3,
});

const plan = planOf(steps);

function randomArenas(seed: number): Arenas {
  return Object.fromEntries(
    ARENAS.map((a, i) => [a, oracle.randomArray(Math.max(4, plan.arenaSizes[a]), seed + i)]),
  ) as Arenas;
}

const trainer = await createWebGpuTrainer(plan, { tuning: "hardware" });
const before = randomArenas(300);
for (const a of ARENAS) trainer.writeArena(a, before[a].subarray(0, plan.arenaSizes[a]));
trainer.run(1);
const after = {} as Arenas;
for (const a of ARENAS) after[a] = await trainer.readArena(a);
trainer.dispose();

for (const [name, check] of checks) {
  Deno.test(`webgpu hardware conv gemm ${name} matches the tfjs oracle`, () =>
    check(before, after));
}

Deno.test("webgpu hardware tuning runs every conv product of the cases as a GEMM", () => {
  for (const step of steps) {
    const labels = kernelsForStep(plan, step, HARDWARE_TUNING).map((k) => k.label);
    assert.ok(labels.some((l) => l.includes("gemm")), `${step.kind}: ${labels.join(", ")}`);
    const software = kernelsForStep(plan, step, SOFTWARE_TUNING).map((k) => k.label);
    assert.ok(!software.some((l) => l.includes("gemm")), `${step.kind}: ${software.join(", ")}`);
  }
});

Deno.test("webgpu hardware conv gemm: layers of other sizes, padding and bias share one source", () => {
  const convAt = (
    cin: number,
    cout: number,
    h: number,
    w: number,
    pad: "reflection" | "zero",
    offset: number,
  ): Step => ({
    kind: "conv",
    x: { arena: "act", offset, batchStride: cin * h * w, c: cin, h, w },
    y: { arena: "dact", offset, batchStride: cout * h * w + 7, c: cout, h, w },
    weight: { offset: 0, size: cout * cin * 9 },
    ...(pad === "reflection" ? { bias: { offset: cout * cin * 9, size: cout } } : {}),
    k: 3,
    stride: 1,
    pad,
  });
  const p = planOf([]);
  const a = kernelsForStep(p, convAt(132, 128, 64, 64, "reflection", 0), HARDWARE_TUNING);
  const b = kernelsForStep(p, convAt(20, 17, 9, 11, "zero", 4096), HARDWARE_TUNING);
  assert.equal(a.length, 1);
  assert.equal(a[0]!.code, b[0]!.code);
  assert.notDeepEqual(a[0]!.uniforms, b[0]!.uniforms);
});

Deno.test("webgpu hardware conv gemm leaves fewer than GEMM_MIN_M channels to the tiled kernels", () => {
  const c = GEMM_MIN_M - 1;
  const step: Step = {
    kind: "conv",
    x: { arena: "act", offset: 0, batchStride: 64 * 25, c: 64, h: 5, w: 5 },
    y: { arena: "dact", offset: 0, batchStride: c * 25, c, h: 5, w: 5 },
    weight: { offset: 0, size: c * 64 * 9 },
    k: 3,
    stride: 1,
    pad: "zero",
  };
  const labels = kernelsForStep(planOf([]), step, HARDWARE_TUNING).map((k) => k.label);
  assert.ok(labels.every((l) => !l.includes("gemm")), labels.join(", "));
});
