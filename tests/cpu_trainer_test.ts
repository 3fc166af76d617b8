/**
 * The CPU backend on whole compiled plans: the worker-based trainer against the reference
 * executor step by step, central finite differences of the loss against this backend's own
 * backward kernels, and the Trainer contract (ordering, evaluate, snapshot/restore,
 * determinism).
 */
import assert from "node:assert/strict";
import { type CompileOptions, compilePlan, downsampleTerm } from "../engine/compile.ts";
import { initParams, inputNoise } from "../engine/init.ts";
import { ReferenceTrainer } from "../engine/reference.ts";
import type { Trainer } from "../engine/backend.ts";
import { createCpuTrainer } from "../engine/cpu/mod.ts";
import { createTrainer } from "../engine/mod.ts";
import { createLocalKernels, type LocalKernels } from "../engine/cpu/local.ts";
import { barriersBefore } from "../engine/cpu/schedule.ts";
import type { Plan, Step, View } from "../engine/plan.ts";
import { type Network, resnet, skip } from "../models/mod.ts";
import { maxAbsDiff } from "./oracle.ts";

/** Seeded z0, target and mask for every fit of a plan. */
function inputs(plan: Plan): { z0: Float32Array; target: Float32Array; mask?: Float32Array } {
  const fill = (c: number, h: number, w: number, seed: number, scale: number) => {
    const out = new Float32Array(plan.batch * c * h * w);
    for (let b = 0; b < plan.batch; b++) {
      out.set(inputNoise("noise", c, h, w, seed + b, scale), b * c * h * w);
    }
    return out;
  };
  const { z0, target, mask } = plan.io;
  return {
    z0: fill(z0.c, z0.h, z0.w, 10, 0.1),
    target: fill(target.c, target.h, target.w, 20, 1),
    ...(mask ? { mask: fill(1, mask.h, mask.w, 30, 1).map((u) => (u < 0.75 ? 1 : 0)) } : {}),
  };
}

function uploadAll(t: Trainer, plan: Plan): void {
  const data = inputs(plan);
  t.upload("z0", data.z0);
  t.upload("target", data.target);
  if (data.mask) t.upload("mask", data.mask);
}

const SR_NET = (act: "leaky_relu" | "elu" = "leaky_relu") =>
  skip({
    act,
    inputChannels: 3,
    outputChannels: 3,
    channelsDown: [6, 5],
    channelsSkip: [2, 2],
    pad: "reflection",
    upsampleMode: "bilinear",
  });

const SR_OPTIONS: CompileOptions = {
  batch: 2,
  height: 10,
  width: 14,
  dataTerm: { kind: "compose", terms: [downsampleTerm(2), { kind: "mask" }] },
  lr: 0.01,
  regNoiseStd: 0.05,
  emaDecay: 0.9,
  earlyStopWindow: 2,
};

Deno.test("createCpuTrainer() follows the reference executor for 3 steps (SR + mask, noise, EMA, WMV, batch 2)", async () => {
  const plan = compilePlan(SR_NET(), SR_OPTIONS);
  const ref = new ReferenceTrainer(plan);
  const cpu = await createCpuTrainer(plan, { threads: 2 });
  try {
    assert.equal(cpu.engine, "cpu");
    assert.match(cpu.adapter, /wasm-simd128 ×2/);
    for (const t of [ref, cpu]) {
      await t.reset([3, 4]);
      uploadAll(t, plan);
      t.setNoiseSeeds([7, 8]);
    }
    for (let step = 0; step < 3; step++) {
      ref.run(1);
      cpu.run(1);
      const [a, b] = [await ref.readScalars(), await cpu.readScalars()];
      assert.equal(b.step, step + 1);
      assert.ok(maxAbsDiff(a.loss, b.loss) < 1e-4 * Math.max(...a.loss), `loss at ${step}`);
      assert.ok(maxAbsDiff(a.psnrObserved, b.psnrObserved) < 1e-2, `psnr at ${step}`);
      if (step >= 1) {
        assert.ok(maxAbsDiff(a.wmvMin!, b.wmvMin!) < 1e-4, `wmv min at ${step}`);
        assert.deepEqual(Array.from(b.wmvArgmin!), Array.from(a.wmvArgmin!));
      }
    }
    for (const name of ["output", "ema", "best"] as const) {
      const diff = maxAbsDiff(await ref.read(name), await cpu.read(name));
      assert.ok(diff < 1e-3, `${name} differs by ${diff}`);
    }
    const diff = maxAbsDiff(await ref.evaluate(), await cpu.evaluate());
    assert.ok(diff < 1e-3, `evaluate differs by ${diff}`);
  } finally {
    cpu.dispose();
  }
});

Deno.test("createCpuTrainer() with Winograd F(2×2) and F(4×4) convs on 2 workers follows the reference executor", async () => {
  const plan = compilePlan(SR_NET(), SR_OPTIONS);
  for (const winograd of ["f2", "f4"] as const) {
    const ref = new ReferenceTrainer(plan);
    const cpu = await createCpuTrainer(plan, { threads: 2, winograd });
    try {
      for (const t of [ref, cpu]) {
        await t.reset([3, 4]);
        uploadAll(t, plan);
        t.setNoiseSeeds([7, 8]);
      }
      ref.run(3);
      cpu.run(3);
      const [a, b] = [await ref.readScalars(), await cpu.readScalars()];
      assert.ok(maxAbsDiff(a.loss, b.loss) < 1e-4 * Math.max(...a.loss), `${winograd}: loss`);
      const diff = maxAbsDiff(await ref.read("output"), await cpu.read("output"));
      assert.ok(diff < 1e-3, `${winograd}: output differs by ${diff}`);
    } finally {
      cpu.dispose();
    }
  }
});

Deno.test("createCpuTrainer() follows the reference executor with in-net Lanczos and max-pool downsampling", async () => {
  for (const downsampleMode of ["lanczos2", "max"] as const) {
    const plan = compilePlan(
      skip({
        inputChannels: 2,
        outputChannels: 1,
        channelsDown: [4, 5],
        channelsSkip: [0, 2],
        pad: "zero",
        upsampleMode: "nearest",
        downsampleMode,
        act: "swish",
      }),
      {
        batch: 1,
        height: 16,
        width: 12,
        dataTerm: { kind: "identity" },
        lr: 0.01,
        regNoiseStd: 0,
        emaDecay: 0,
      },
    );
    const ref = new ReferenceTrainer(plan);
    const cpu = await createCpuTrainer(plan, { threads: 2 });
    try {
      for (const t of [ref, cpu]) {
        await t.reset([5]);
        uploadAll(t, plan);
        t.run(3);
      }
      const [a, b] = [await ref.readScalars(), await cpu.readScalars()];
      assert.ok(maxAbsDiff(a.loss, b.loss) < 1e-4 * a.loss[0]!, `${downsampleMode} loss`);
      const diff = maxAbsDiff(await ref.read("output"), await cpu.read("output"));
      assert.ok(diff < 1e-3, `${downsampleMode}: output differs by ${diff}`);
    } finally {
      cpu.dispose();
    }
  }
});

/**
 * Runs the forward schedule on local kernels and returns Σ_b of the masked MSE computed in
 * float64 from the stored prediction (the stored float32 loss is too coarse for differences).
 */
function lossOf(k: LocalKernels, plan: Plan): number {
  for (const s of plan.forward) k.runStep(s, 0);
  const loss = plan.loss[0]!;
  assert.ok(loss.kind === "mse_loss");
  const n = loss.pred.c * loss.pred.h * loss.pred.w;
  const plane = loss.pred.h * loss.pred.w;
  let total = 0;
  for (let b = 0; b < plan.batch; b++) {
    const at = (v: typeof loss.pred, i: number) =>
      k.arenas[v.arena][v.offset + b * v.batchStride + i]!;
    for (let i = 0; i < n; i++) {
      const m = loss.mask ? at(loss.mask, i % plane) : 1;
      total += (m * (at(loss.pred, i) - at(loss.target, i))) ** 2 / n;
    }
  }
  return total;
}

async function gradcheck(net: Network, options: CompileOptions): Promise<void> {
  const plan = compilePlan(net, options);
  const k = await createLocalKernels(plan, 2);
  k.arenas.param.set(initParams(plan, [1, 2]));
  const data = inputs(plan);
  const put = (name: "z0" | "target" | "mask", values: Float32Array | undefined) => {
    const v = plan.io[name];
    if (!v || !values) return;
    const n = v.c * v.h * v.w;
    for (let b = 0; b < plan.batch; b++) {
      k.arenas[v.arena].set(values.subarray(b * n, (b + 1) * n), v.offset + b * v.batchStride);
    }
  };
  put("z0", data.z0);
  put("target", data.target);
  put("mask", data.mask);
  k.setNoiseSeeds([5, 6]);
  lossOf(k, plan);
  for (const s of [...plan.loss, ...plan.backward]) k.runStep(s, 0);
  const analytic = k.arenas.grad.slice();
  // Each tensor's largest gradient entry per fit (small ones drown in float32 rounding).
  const picks: number[] = [];
  for (let b = 0; b < plan.batch; b++) {
    for (const p of plan.params) {
      let best = b * plan.paramsPerFit + p.ref.offset;
      for (let i = 0; i < p.ref.size; i++) {
        const at = b * plan.paramsPerFit + p.ref.offset + i;
        if (Math.abs(analytic[at]!) > Math.abs(analytic[best]!)) best = at;
      }
      picks.push(best);
    }
  }
  let worst = 0, checked = 0;
  for (const i of picks) {
    const g = analytic[i]!;
    if (Math.abs(g) < 1e-4) continue; // below float32 finite-difference resolution
    checked++;
    const original = k.arenas.param[i]!;
    const h = Math.max(1e-3, Math.abs(original) * 1e-2);
    k.arenas.param[i] = original + h;
    const plus = lossOf(k, plan);
    k.arenas.param[i] = original - h;
    const minus = lossOf(k, plan);
    k.arenas.param[i] = original;
    const numeric = (plus - minus) / (2 * h);
    worst = Math.max(worst, Math.abs(numeric - g) / Math.max(Math.abs(numeric), Math.abs(g)));
  }
  assert.ok(checked >= plan.params.length / 2, `only ${checked} checkable gradient entries`);
  assert.ok(worst < 1e-2, `worst relative error ${worst}`);
}

Deno.test("the CPU kernels' backward matches central differences (skip: mask, reflection, ELU, odd size)", async () => {
  // ELU: smooth, so finite differences do not straddle LeakyReLU's kink.
  await gradcheck(SR_NET("elu"), {
    ...SR_OPTIONS,
    height: 9,
    width: 11,
    dataTerm: { kind: "mask" },
  });
});

Deno.test("the CPU kernels' backward matches central differences (avg-pool, nearest, zero pad, ResNet)", async () => {
  await gradcheck(
    skip({
      inputChannels: 2,
      outputChannels: 1,
      channelsDown: [3, 3],
      channelsSkip: [0, 2],
      pad: "zero",
      upsampleMode: "nearest",
      downsampleMode: "avg",
      act: "swish",
    }),
    { ...SR_OPTIONS, height: 8, width: 12, dataTerm: { kind: "identity" }, regNoiseStd: 0 },
  );
  await gradcheck(
    resnet({ inputChannels: 2, outputChannels: 2, blocks: 2, channels: 3, act: "elu" }),
    { ...SR_OPTIONS, height: 6, width: 5, dataTerm: { kind: "mask" }, regNoiseStd: 0 },
  );
});

Deno.test("CPU trainer: calls apply in order, snapshot/restore round-trips, equal seeds give equal fits", async () => {
  const plan = compilePlan(skip({ inputChannels: 4, channelsDown: [8, 8], channelsSkip: [2, 2] }), {
    batch: 2,
    height: 12,
    width: 12,
    dataTerm: { kind: "identity" },
    lr: 0.01,
    regNoiseStd: 1 / 30,
    emaDecay: 0.99,
  });
  // Through the engine's entry point, as dipFit and the benchmarks create it.
  const a = await createTrainer(plan, { engine: "cpu", threads: 2 });
  assert.equal(a.engine, "cpu");
  const b = await createCpuTrainer(plan, { threads: 1 });
  try {
    for (const t of [a, b]) {
      await t.reset([1, 1]);
      uploadAll(t, plan);
      const z0 = inputs(plan).z0;
      // Both fits get fit 0's z0 and target, and equal noise seeds: they must stay equal.
      const n0 = z0.length / 2;
      z0.copyWithin(n0, 0, n0);
      t.upload("z0", z0);
      const target = inputs(plan).target;
      target.copyWithin(target.length / 2, 0, target.length / 2);
      t.upload("target", target);
      t.setNoiseSeeds([9, 9]);
    }
    assert.throws(() => b.restore(), /snapshot\(\) first/);
    assert.throws(() => b.upload("target", new Float32Array(5)), /expected 864 values/);
    a.run(1);
    const first = (await a.readScalars()).loss;
    a.snapshot();
    const before = await a.evaluate();
    a.run(10); // queued: the read below waits for all ten
    const after = await a.readScalars();
    assert.equal(after.step, 11);
    assert.equal(after.loss[0], after.loss[1], "equal seeds and data give equal fits");
    assert.ok(after.loss[0]! < first[0]!, `loss ${first[0]} → ${after.loss[0]}`);
    a.restore();
    assert.equal(maxAbsDiff(await a.evaluate(), before), 0, "restore brings back the parameters");
    // One thread and two threads compute the same step (up to float reassociation: none here).
    b.run(11);
    const single = await b.readScalars();
    assert.ok(maxAbsDiff(single.loss, after.loss) < 1e-5 * after.loss[0]!, "threads agree");
  } finally {
    a.dispose();
    b.dispose();
  }
});

Deno.test("barriersBefore() lets independent kernels run back to back and stops before a dependent one", () => {
  const t = (arena: View["arena"], offset: number): View => ({
    arena,
    offset,
    batchStride: 32,
    c: 2,
    h: 4,
    w: 4,
  });
  const [x, y, z] = [t("act", 0), t("act", 64), t("act", 128)];
  const [dy, dx] = [t("dact", 0), t("dact", 64)];
  const weight = { offset: 0, size: 36 };
  const conv = { weight, k: 3, stride: 1, pad: "zero" } as const;
  const steps: Step[] = [
    { kind: "conv", x, y, ...conv },
    { kind: "act", x: y, y: z, act: "relu" }, // reads what the conv wrote
    { kind: "conv_bwd_data", dy, dx, accumulate: false, ...conv }, // independent of both
    { kind: "conv_bwd_weight", x, dy, ...conv }, // reads dy, writes grad only
    { kind: "act_bwd", x, y, dy: dx, dx: dy, act: "relu", accumulate: false }, // reads dx
  ];
  const plan = compilePlan(SR_NET(), SR_OPTIONS);
  assert.deepEqual(barriersBefore({ ...plan, batch: 2, paramsPerFit: 40 }, steps), [
    true,
    true,
    false,
    false,
    true,
  ]);
});
