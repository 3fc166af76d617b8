/**
 * The two real backends against each other (not only each against the reference executor):
 * the same compiled plan, parameters, inputs and noise seeds on the cpu (wasm) and webgpu
 * engines give the same network output before training and the same losses and outputs after
 * a few Adam steps.
 */
import assert from "node:assert/strict";
import { compilePlan, downsampleTerm } from "../engine/compile.ts";
import type { Trainer } from "../engine/backend.ts";
import { createCpuTrainer } from "../engine/cpu/mod.ts";
import { createWebGpuTrainer } from "../engine/webgpu/mod.ts";
import { skip } from "../models/skip.ts";
import { maxAbsDiff, randomArray } from "./oracle.ts";

/** A small skip net with reflection padding, bilinear upsampling and a centre-cropping concat. */
const net = skip({
  inputChannels: 3,
  outputChannels: 3,
  channelsDown: [5, 6],
  channelsSkip: [2, 2],
  pad: "reflection",
  upsampleMode: "bilinear",
});

const plan = compilePlan(net, {
  batch: 2,
  height: 12,
  width: 16,
  dataTerm: { kind: "compose", terms: [downsampleTerm(2), { kind: "mask" }] },
  lr: 0.01, // reference notebooks: LR 0.01
  regNoiseStd: 0.03, // reference SR ×4: reg_noise_std 0.03
  emaDecay: 0.99, // reference denoising: EMA 0.99
  earlyStopWindow: 2,
});

function prepare(trainers: Trainer[]): Promise<void[]> {
  const n = (v: { c: number; h: number; w: number }) => plan.batch * v.c * v.h * v.w;
  const z0 = randomArray(n(plan.io.z0), 11, 0.1);
  const target = randomArray(n(plan.io.target), 12, 0.5).map((v) => v + 0.5);
  const mask = randomArray(n(plan.io.mask!), 13).map((v) => (v > -0.5 ? 1 : 0));
  return Promise.all(trainers.map(async (t) => {
    await t.reset([5, 6]);
    t.upload("z0", z0);
    t.upload("target", target);
    t.upload("mask", mask);
    t.setNoiseSeeds([7, 8]);
  }));
}

function assertClose(a: Float32Array, b: Float32Array, tol: number, what: string) {
  assert.equal(a.length, b.length, `${what}: lengths differ`);
  const d = maxAbsDiff(a, b);
  assert.ok(d <= tol, `${what}: max |cpu − webgpu| ${d} exceeds ${tol}`);
}

Deno.test("cpu and webgpu engines agree on one plan: forward before training, then 3 Adam steps", async () => {
  const cpu = await createCpuTrainer(plan, { threads: 2 });
  const gpu = await createWebGpuTrainer(plan);
  try {
    await prepare([cpu, gpu]);
    // Forward only: both are float32 evaluations of the same sums, so they agree closely.
    assertClose(await cpu.evaluate(), await gpu.evaluate(), 2e-5, "initial output");

    cpu.run(3);
    gpu.run(3);
    const [sc, sg] = [await cpu.readScalars(), await gpu.readScalars()];
    assert.equal(sc.step, 3);
    assert.equal(sg.step, 3);
    // After Adam steps the runs drift a little (sign flips of near-zero gradients, e.g. a conv
    // bias just before a BN, amplified by Adam's normalisation), so the bound is looser.
    assertClose(sc.loss, sg.loss, 1e-3 * Math.max(...sc.loss), "loss after 3 steps");
    assertClose(await cpu.read("output"), await gpu.read("output"), 5e-3, "output after 3 steps");
    assertClose(await cpu.read("ema"), await gpu.read("ema"), 5e-3, "EMA after 3 steps");
  } finally {
    cpu.dispose();
    gpu.dispose();
  }
});
