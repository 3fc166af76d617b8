/**
 * The WebGPU trainer on whole compiled plans (engine/compile.ts): a few training steps against
 * engine/reference.ts, a short fit that lowers the loss, snapshot/restore and evaluate. Tiny
 * networks at 12×12 keep the pipelines few and fast to compile on llvmpipe.
 */
import assert from "node:assert/strict";
import { compilePlan, downsampleTerm } from "../engine/compile.ts";
import type { DataTerm, Plan } from "../engine/plan.ts";
import { createReferenceTrainer } from "../engine/reference.ts";
import { createWebGpuTrainer, probeWebGpu } from "../engine/webgpu/mod.ts";
import { HARDWARE_TUNING, kernelsForStep } from "../engine/webgpu/kernels.ts";
import { skip } from "../models/skip.ts";
import { maxAbsDiff, randomArray } from "./oracle.ts";

const SIZE = 12;
const net = skip({
  inputChannels: 3,
  outputChannels: 3,
  channelsDown: [4, 4],
  channelsSkip: [2, 2],
});

// 16 channels (engine/webgpu/conv_gemm.ts GEMM_MIN_M) so the hardware tuning's GEMM convs run.
const wideNet = skip({
  inputChannels: 16,
  outputChannels: 3,
  channelsDown: [16, 16],
  channelsSkip: [4, 4],
});

function planFor(dataTerm: DataTerm, earlyStopWindow?: number, model = net) {
  return compilePlan(model, {
    batch: 2,
    height: SIZE,
    width: SIZE,
    dataTerm,
    lr: 0.01, // reference notebooks: LR 0.01
    regNoiseStd: 1 / 30, // reference denoising: reg_noise_std 1/30
    emaDecay: 0.99, // reference denoising: EMA 0.99
    ...(earlyStopWindow ? { earlyStopWindow } : {}),
  });
}

/** Uploads the same seeded z0, target (in [0, 1]) and mask to each trainer. */
function uploadInputs(
  plan: ReturnType<typeof planFor>,
  trainers: { upload(name: "z0" | "target" | "mask", d: Float32Array): void }[],
) {
  const n = (v: { c: number; h: number; w: number }) => plan.batch * v.c * v.h * v.w;
  const z0 = randomArray(n(plan.io.z0), 1, 0.1);
  const target = randomArray(n(plan.io.target), 2, 0.5).map((v) => v + 0.5);
  const mask = plan.io.mask
    ? randomArray(n(plan.io.mask), 3).map((v) => (v > 0 ? 1 : 0))
    : undefined;
  for (const t of trainers) {
    t.upload("z0", z0);
    t.upload("target", target);
    if (mask) t.upload("mask", mask);
  }
}

/** Relative closeness of two arrays: max |a − b| ≤ tol · (1 + max |b|). */
function assertClose(a: Float32Array, b: Float32Array, tol: number, what: string) {
  const scale = 1 + b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const d = maxAbsDiff(a, b);
  assert.ok(d <= tol * scale, `${what}: max |diff| ${d} exceeds ${tol * scale}`);
}

for (
  const [name, term, window, tuning] of [
    ["denoising (identity, ES-WMV)", { kind: "identity" }, 3, "software"],
    [
      "super-resolution ×2 with a mask",
      {
        kind: "compose",
        terms: [downsampleTerm(2), { kind: "mask" }],
      },
      undefined,
      "software",
    ],
    // The GPU sizing (GEMM convs, wider reductions) checked here on llvmpipe.
    [
      "denoising, hardware kernel sizing and GEMM convs",
      { kind: "identity" },
      undefined,
      "hardware",
    ],
  ] as const
) {
  Deno.test(`webgpu trainer follows the reference trainer for 3 steps: ${name}`, async () => {
    const plan = planFor(term as DataTerm, window, tuning === "hardware" ? wideNet : net);
    if (tuning === "hardware") {
      const steps = [...plan.forward, ...plan.backward];
      const labels = steps.flatMap((s) => kernelsForStep(plan, s, HARDWARE_TUNING))
        .map((k) => k.label);
      for (const kind of ["conv gemm", "conv_bwd_data gemm", "conv_bwd_weight gemm"]) {
        assert.ok(labels.some((l) => l.startsWith(kind)), `no "${kind}" kernel in the plan`);
      }
    }
    const gpu = await createWebGpuTrainer(plan, { tuning });
    const ref = await createReferenceTrainer(plan);
    try {
      assert.match(gpu.adapter, /\S/);
      assert.ok(gpu.pipelineCount > 0 && gpu.pipelineCount <= gpu.dispatchesPerStep + 2);
      await gpu.reset([11, 12]);
      await ref.reset([11, 12]);
      uploadInputs(plan, [gpu, ref]);
      for (let step = 0; step < 3; step++) {
        gpu.run(1);
        ref.run(1);
        const a = await gpu.readScalars();
        const b = await ref.readScalars();
        assert.equal(a.step, step + 1);
        assertClose(a.loss, b.loss, 1e-4, `loss at step ${step}`);
        assertClose(a.psnrObserved, b.psnrObserved, 1e-4, `PSNR at step ${step}`);
        if (window) {
          assert.deepEqual(a.wmvArgmin, b.wmvArgmin);
          if (step >= window - 1) assertClose(a.wmvMin!, b.wmvMin!, 1e-3, `wmv at step ${step}`);
        }
        // Parameters whose true gradient is 0 (conv biases before BN) get float-noise
        // gradients and so Adam steps of ±lr that differ between engines; they do not reach
        // the output, which is what is compared.
        assertClose(
          await gpu.read("output"),
          await ref.read("output"),
          1e-3,
          `output at step ${step}`,
        );
        assertClose(await gpu.read("ema"), await ref.read("ema"), 1e-3, `EMA at step ${step}`);
      }
      assertClose(await gpu.evaluate(), await ref.evaluate(), 1e-3, "evaluate");
    } finally {
      gpu.dispose();
    }
  });
}

Deno.test("webgpu trainer lowers the loss, and restore() returns to the snapshot", async () => {
  const plan = planFor({ kind: "identity" });
  const gpu = await createWebGpuTrainer(plan);
  try {
    gpu.run(2); // before reset: its queued scalars copy must not be mistaken for later steps'
    await gpu.reset([5, 6]);
    const zero = await gpu.readScalars();
    assert.equal(zero.step, 0);
    assert.deepEqual([...zero.loss], [0, 0]);
    uploadInputs(plan, [gpu]);
    gpu.run(1);
    const first = await gpu.readScalars();
    assert.ok(first.loss[0]! > 0);
    gpu.run(40);
    const later = await gpu.readScalars();
    assert.equal(later.step, 41);
    for (let b = 0; b < plan.batch; b++) {
      assert.ok(
        later.loss[b]! < 0.8 * first.loss[b]!,
        `fit ${b}: loss ${first.loss[b]} → ${later.loss[b]}`,
      );
    }
    gpu.snapshot();
    const atSnapshot = await gpu.evaluate();
    const momentsAtSnapshot = [await gpu.readArena("adamM"), await gpu.readArena("adamV")];
    gpu.run(5);
    const moved = await gpu.evaluate();
    assert.ok(maxAbsDiff(moved, atSnapshot) > 0, "training after the snapshot changes the output");
    gpu.restore();
    assert.deepEqual(await gpu.evaluate(), atSnapshot);
    assert.deepEqual(
      [await gpu.readArena("adamM"), await gpu.readArena("adamV")],
      momentsAtSnapshot,
    );
    // Fits are independent: the same seed in both slots trains identically.
    await gpu.reset([9, 9]);
    gpu.setNoiseSeeds([4, 4]);
    const one = randomArray(plan.io.z0.c * SIZE * SIZE, 8, 0.1);
    const z0 = new Float32Array(2 * one.length);
    z0.set(one);
    z0.set(one, one.length);
    gpu.upload("z0", z0);
    const target = randomArray(3 * SIZE * SIZE, 9, 0.5).map((v) => v + 0.5);
    const t2 = new Float32Array(2 * target.length);
    t2.set(target);
    t2.set(target, target.length);
    gpu.upload("target", t2);
    gpu.run(3);
    const s = await gpu.readScalars();
    assert.equal(s.loss[0], s.loss[1]);
  } finally {
    gpu.dispose();
  }
});

Deno.test("webgpu trainer names the limit when a kernel's range exceeds the adapter's binding size", async () => {
  // The adapter's limits without touching WebGPU on this test thread (engine/webgpu/main_thread.ts).
  const gpu = await probeWebGpu();
  assert.ok(gpu.available);
  // One activation just over the adapter's maxStorageBufferBindingSize; nothing is allocated.
  const floats = gpu.maxStorageBufferBindingSize / 4 + 64;
  const big = { arena: "act", offset: 0, batchStride: floats, c: 1, h: 1, w: floats } as const;
  const io = { arena: "io", offset: 0, batchStride: 1, c: 1, h: 1, w: 1 } as const;
  const plan: Plan = {
    batch: 1,
    height: 1,
    width: 1,
    paramsPerFit: 1,
    arenaSizes: {
      param: 1,
      grad: 1,
      adamM: 1,
      adamV: 1,
      act: floats,
      dact: 1,
      stats: 1,
      io: 1,
      scalars: 2,
    },
    forward: [{ kind: "act", x: big, y: big, act: "relu" }],
    loss: [],
    backward: [],
    update: [],
    params: [],
    io: { z0: io, z: io, output: io, target: io, ema: io },
    scalars: { loss: 0, psnrObserved: 1 },
    forwardMacs: 0,
  };
  await assert.rejects(
    () => createWebGpuTrainer(plan),
    /limit/,
  );
});

Deno.test("webgpu trainer refuses an upload that is not one batch of the view, in one line", async () => {
  const plan = planFor({ kind: "identity" });
  const gpu = await createWebGpuTrainer(plan);
  try {
    const v = plan.io.target;
    assert.throws(
      () => gpu.upload("target", new Float32Array(5)),
      new RangeError(
        `WebGpuTrainer.upload: expected ${plan.batch * v.c * v.h * v.w} values ` +
          `(${plan.batch}×${v.c}×${v.h}×${v.w}) for target but received 5`,
      ),
    );
    if (!plan.io.mask) {
      assert.throws(() => gpu.upload("mask", new Float32Array(5)), /the plan has no mask view/);
    }
  } finally {
    gpu.dispose();
  }
});
