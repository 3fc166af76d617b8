/**
 * Whole-network checks of the compiled backward schedule: central finite differences of the
 * loss against the gradients the reference executor computes, and a short fit that lowers
 * the loss. Everything is float32 storage (as every backend), so the step size and the
 * tolerance are chosen for float32 forward passes.
 */
import assert from "node:assert/strict";
import { type CompileOptions, compilePlan, downsampleTerm } from "../engine/compile.ts";
import { inputNoise } from "../engine/init.ts";
import type { Plan } from "../engine/plan.ts";
import { readView, ReferenceTrainer, runStep, type StepContext } from "../engine/reference.ts";
import { type Network, resnet, skip } from "../models/mod.ts";

const H = 9, W = 11; // odd: both levels' concats centre-crop

/** Fills z0, target and mask of a trainer with seeded data (2 fits). */
function upload(trainer: ReferenceTrainer, plan: Plan): void {
  const { z0, target, mask } = plan.io;
  const fit = (c: number, h: number, w: number, seed: number, scale: number) => {
    const out = new Float32Array(plan.batch * c * h * w);
    for (let b = 0; b < plan.batch; b++) {
      out.set(inputNoise("noise", c, h, w, seed + b, scale), b * c * h * w);
    }
    return out;
  };
  trainer.upload("z0", fit(z0.c, z0.h, z0.w, 10, 0.1));
  trainer.upload("target", fit(target.c, target.h, target.w, 20, 1));
  if (mask) trainer.upload("mask", fit(1, mask.h, mask.w, 30, 1).map((u) => u < 0.75 ? 1 : 0));
}

/** Σ over fits of the masked MSE, computed in float64 from the stored prediction. */
function lossOf(trainer: ReferenceTrainer, plan: Plan, ctx: StepContext): number {
  for (const step of plan.forward) runStep(step, trainer.arenas, ctx);
  const loss = plan.loss[0]!;
  assert.ok(loss.kind === "mse_loss");
  const pred = readView(trainer.arenas, loss.pred, plan.batch);
  const target = readView(trainer.arenas, loss.target, plan.batch);
  const mask = loss.mask ? readView(trainer.arenas, loss.mask, plan.batch) : undefined;
  const n = loss.pred.c * loss.pred.h * loss.pred.w;
  const plane = loss.pred.h * loss.pred.w;
  let total = 0;
  for (let i = 0; i < pred.length; i++) {
    const b = Math.floor(i / n);
    const m = mask ? mask[b * plane + (i % plane)]! : 1;
    total += (m * (pred[i]! - target[i]!)) ** 2 / n;
  }
  return total;
}

async function gradcheck(network: Network, options: CompileOptions, checks: number): Promise<void> {
  const plan = compilePlan(network, options);
  const trainer = new ReferenceTrainer(plan);
  await trainer.reset([1, 2]);
  upload(trainer, plan);
  const ctx: StepContext = {
    batch: plan.batch,
    paramsPerFit: plan.paramsPerFit,
    step: 0,
    noiseSeeds: [5, 6],
  };
  const { param, grad } = trainer.arenas;
  // Analytic gradients: forward, loss, backward.
  lossOf(trainer, plan, ctx);
  for (const step of [...plan.loss, ...plan.backward]) runStep(step, trainer.arenas, ctx);
  const analytic = grad.slice();
  // Check the largest gradients of every parameter tensor of both fits (small ones are
  // dominated by float32 rounding of the loss), plus every tensor's largest entry.
  const picks: number[] = [];
  for (let b = 0; b < plan.batch; b++) {
    for (const p of plan.params) {
      let best = -1;
      for (let i = 0; i < p.ref.size; i++) {
        const at = b * plan.paramsPerFit + p.ref.offset + i;
        if (best < 0 || Math.abs(analytic[at]!) > Math.abs(analytic[best]!)) best = at;
      }
      picks.push(best);
    }
  }
  const order = [...analytic.keys()].sort((a, b) =>
    Math.abs(analytic[b]!) - Math.abs(analytic[a]!)
  );
  for (const i of order.slice(0, checks)) if (!picks.includes(i)) picks.push(i);
  let worst = 0;
  let worstName = "";
  let checked = 0;
  for (const i of picks) {
    const g = analytic[i]!;
    if (Math.abs(g) < 1e-4) continue; // below float32 finite-difference resolution
    checked++;
    const original = param[i]!;
    const h = Math.max(1e-3, Math.abs(original) * 1e-2);
    param[i] = original + h;
    const plus = lossOf(trainer, plan, ctx);
    param[i] = original - h;
    const minus = lossOf(trainer, plan, ctx);
    param[i] = original;
    const numeric = (plus - minus) / (2 * h);
    const rel = Math.abs(numeric - g) / Math.max(Math.abs(numeric), Math.abs(g));
    if (rel > worst) {
      worst = rel;
      const within = i % plan.paramsPerFit;
      worstName = `${
        plan.params.find((p) => within >= p.ref.offset && within < p.ref.offset + p.ref.size)?.name
      }` +
        ` (fit ${Math.floor(i / plan.paramsPerFit)}): analytic ${g}, numeric ${numeric}`;
    }
  }
  assert.ok(
    checked >= plan.params.length,
    `${checked} checked entries: most tensors have a checkable gradient`,
  );
  assert.ok(worst < 1e-2, `worst relative error ${worst} at ${worstName}`);
}

Deno.test("the compiled backward of a skip net matches central differences (SR term, mask, odd size, batch 2)", async () => {
  const net = skip({
    inputChannels: 3,
    outputChannels: 3,
    channelsDown: [4, 4],
    channelsSkip: [2, 2],
    pad: "reflection",
    upsampleMode: "bilinear",
    act: "elu",
  });
  await gradcheck(net, {
    batch: 2,
    height: H,
    width: W,
    dataTerm: { kind: "compose", terms: [downsampleTerm(2), { kind: "mask" }] },
    lr: 0.01,
    regNoiseStd: 0.05,
    emaDecay: 0,
  }, 20);
});

Deno.test("the compiled backward of avg-pool, nearest and zero-pad paths matches central differences", async () => {
  const net = skip({
    inputChannels: 2,
    outputChannels: 1,
    channelsDown: [3, 3],
    channelsSkip: [0, 2],
    pad: "zero",
    upsampleMode: "nearest",
    downsampleMode: "avg",
    act: "swish",
  });
  await gradcheck(net, {
    batch: 2,
    height: 8,
    width: 12,
    dataTerm: { kind: "identity" },
    lr: 0.01,
    regNoiseStd: 0,
    emaDecay: 0,
  }, 10);
});

Deno.test("the compiled backward of the in-network Lanczos downsampler matches central differences", async () => {
  const net = skip({
    inputChannels: 2,
    outputChannels: 2,
    channelsDown: [2, 2],
    channelsSkip: [1, 1],
    downsampleMode: "lanczos2",
    act: "swish",
  });
  const plan = compilePlan(net, {
    batch: 1,
    height: 8,
    width: 8,
    dataTerm: { kind: "identity" },
    lr: 0.01,
    regNoiseStd: 0,
    emaDecay: 0,
  });
  const lanczos = plan.forward.find((s) => s.kind === "conv" && s.k === 8);
  assert.ok(
    lanczos?.kind === "conv" && lanczos.stride === 2 && lanczos.padding === 3 &&
      lanczos.pad === "replicate",
  );
  assert.deepEqual([lanczos.y.h, lanczos.y.w], [lanczos.x.h / 2, lanczos.x.w / 2]);
  const init = plan.params.find((p) => p.name === "l0.down.pool.weight");
  assert.ok(init?.init === "values" && init.values.length === 2 * 2 * 8 * 8);
  const sum = init.values.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 2) < 1e-6, `one normalised kernel per diagonal channel, sum ${sum}`);
  await gradcheck(net, {
    batch: 2,
    height: 8,
    width: 8,
    dataTerm: { kind: "identity" },
    lr: 0.01,
    regNoiseStd: 0,
    emaDecay: 0,
  }, 10);
});

Deno.test("the compiled backward of a ResNet (residual adds) matches central differences", async () => {
  await gradcheck(
    resnet({ inputChannels: 2, outputChannels: 2, blocks: 2, channels: 3, act: "elu" }),
    {
      batch: 2,
      height: 6,
      width: 5,
      dataTerm: { kind: "mask" },
      lr: 0.01,
      regNoiseStd: 0,
      emaDecay: 0,
    },
    10,
  );
});

Deno.test("30 Adam steps on the reference engine lower the loss of every fit", async () => {
  const plan = compilePlan(skip({ inputChannels: 4, channelsDown: [8, 8], channelsSkip: [2, 2] }), {
    batch: 2,
    height: 12,
    width: 12,
    dataTerm: { kind: "identity" },
    lr: 0.01,
    regNoiseStd: 1 / 30,
    emaDecay: 0.99,
  });
  const trainer = new ReferenceTrainer(plan);
  await trainer.reset([1, 2]);
  upload(trainer, plan);
  // A smooth target (DIP fits structure fast and noise slowly).
  const target = new Float32Array(2 * 3 * 12 * 12);
  for (let i = 0; i < target.length; i++) {
    const x = i % 12, y = Math.floor(i / 12) % 12, c = Math.floor(i / 144) % 3;
    target[i] = 0.5 + 0.3 * Math.sin(0.4 * x + c) * Math.cos(0.3 * y);
  }
  trainer.upload("target", target);
  trainer.run(1);
  const first = (await trainer.readScalars()).loss;
  trainer.run(29);
  const last = await trainer.readScalars();
  assert.equal(last.step, 30);
  for (let b = 0; b < 2; b++) {
    assert.ok(last.loss[b]! < 0.5 * first[b]!, `fit ${b}: loss ${first[b]} → ${last.loss[b]}`);
    assert.ok(Number.isFinite(last.psnrObserved[b]!));
  }
});
