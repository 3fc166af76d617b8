/**
 * Every step kind of the WebGPU backend, forward and gradient, against the tfjs oracle
 * (tests/oracle.ts) on small random shapes: odd sizes, stride 2, each padding mode, batch 2
 * with per-fit weights, a concat channel-slice view, accumulate=true. All cases live in one
 * hand-built plan, so the pipelines compile once (in parallel) and run in one submission;
 * the stateful kinds (Adam, EMA, PSNR, ES-WMV, input noise) get a second plan run step by step.
 */
import assert from "node:assert/strict";
import { gaussianAt } from "../engine/plan.ts";
import type { Plan, View } from "../engine/plan.ts";
import { createWebGpuTrainer, type WebGpuTrainer } from "../engine/webgpu/mod.ts";
import type { Activation } from "../models/graph.ts";
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

const add = (a: Float32Array, b: Float32Array) => a.map((v, i) => v + b[i]!);

/** A case: its steps were pushed into the builder; `check` compares after the run. */
type Check = (before: Arenas, after: Arenas, ppf: number) => void;
const checks = new Map<string, Check>();
const pb = new PlanBuilder();

// ---- convolution cases --------------------------------------------------------------------

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
  /** Extra channels around x (x is a channel slice of a wider concat buffer). */
  sliceOf?: number;
  /** Explicit padding (the in-network Lanczos downsampler's even kernel). */
  padding?: number;
}

function convCase(c: ConvCase): void {
  const oh = oracle.convOutSize(c.h, c.k, c.stride, c.padding);
  const ow = oracle.convOutSize(c.w, c.k, c.stride, c.padding);
  const wide = c.sliceOf ?? c.cin;
  const concat = pb.view("act", wide, c.h, c.w);
  // x is channels [1, 1 + cin) of the concat buffer when sliceOf is set.
  const x: View = c.sliceOf ? { ...concat, offset: concat.offset + c.h * c.w, c: c.cin } : concat;
  const y = pb.view("act", c.cout, oh, ow);
  const dy = pb.view("dact", c.cout, oh, ow);
  const dx = pb.view("dact", c.cin, c.h, c.w);
  const weight = pb.param(c.cout * c.cin * c.k * c.k);
  const bias = c.bias ? pb.param(c.cout) : undefined;
  const common = {
    k: c.k,
    stride: c.stride,
    pad: c.pad,
    ...(c.padding !== undefined ? { padding: c.padding } : {}),
  } as const;
  pb.steps.push(
    { kind: "conv", x, y, weight, ...(bias ? { bias } : {}), ...common },
    { kind: "conv_bwd_data", dy, dx, weight, accumulate: c.accumulate, ...common },
    { kind: "conv_bwd_weight", x, dy, weight, ...(bias ? { bias } : {}), ...common },
  );
  checks.set(`conv ${c.name}`, (before, after, ppf) => {
    for (let b = 0; b < BATCH; b++) {
      const xv = readFit(before, x, b);
      const wv = paramOf(before, "param", weight, b, ppf);
      const bv = bias ? paramOf(before, "param", bias, b, ppf) : undefined;
      const fwd = oracle.conv2d(xv, shape(x), wv, c.cout, c.k, bv, c.stride, c.pad, c.padding);
      assert.deepEqual(fwd.shape, { n: 1, c: c.cout, h: oh, w: ow });
      assertClose(readFit(after, y, b), fwd.y, 1e-5, `conv ${c.name} y (fit ${b})`);
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
      const dxExpected = c.accumulate ? add(readFit(before, dx, b), g.dx) : g.dx;
      assertClose(readFit(after, dx, b), dxExpected, 1e-5, `conv ${c.name} dx (fit ${b})`);
      assertClose(
        paramOf(after, "grad", weight, b, ppf),
        g.dw,
        1e-5,
        `conv ${c.name} dw (fit ${b})`,
      );
      if (bias) {
        assertClose(
          paramOf(after, "grad", bias, b, ppf),
          g.dbias,
          1e-5,
          `conv ${c.name} dbias (fit ${b})`,
        );
      }
    }
  });
}

convCase({
  name: "3×3 reflection s1 odd 7×9, bias",
  cin: 3,
  cout: 5,
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
  cin: 4,
  cout: 6,
  h: 9,
  w: 7,
  k: 3,
  stride: 2,
  pad: "zero",
  bias: false,
  accumulate: true,
});
convCase({
  name: "3×3 reflection s2 8×6",
  cin: 2,
  cout: 4,
  h: 8,
  w: 6,
  k: 3,
  stride: 2,
  pad: "reflection",
  bias: true,
  accumulate: false,
});
convCase({
  name: "3×3 replicate s2 5×5",
  cin: 3,
  cout: 3,
  h: 5,
  w: 5,
  k: 3,
  stride: 2,
  pad: "replicate",
  bias: true,
  accumulate: true,
});
convCase({
  name: "1×1 on a concat channel slice, bias",
  cin: 6,
  cout: 3,
  h: 5,
  w: 3,
  k: 1,
  stride: 1,
  pad: "zero",
  bias: true,
  accumulate: false,
  sliceOf: 9,
});
// The in-network Lanczos downsampler: even k, replicate padding (k − stride)/2, stride = factor.
convCase({
  name: "8×8 replicate s2 padding 3 (in-net Lanczos ×2)",
  cin: 2,
  cout: 2,
  h: 10,
  w: 6,
  k: 8,
  stride: 2,
  pad: "replicate",
  bias: true,
  accumulate: true,
  padding: 3,
});
// The deepest levels of a 64² skip net: 2×2 and 4×4 inputs, where every pixel is at a border.
convCase({
  name: "3×3 reflection s1 2×2",
  cin: 3,
  cout: 4,
  h: 2,
  w: 2,
  k: 3,
  stride: 1,
  pad: "reflection",
  bias: true,
  accumulate: false,
});
convCase({
  name: "3×3 reflection s2 4×4",
  cin: 2,
  cout: 5,
  h: 4,
  w: 4,
  k: 3,
  stride: 2,
  pad: "reflection",
  bias: true,
  accumulate: true,
});
convCase({
  name: "3×3 reflection s2 2×2",
  cin: 4,
  cout: 3,
  h: 2,
  w: 2,
  k: 3,
  stride: 2,
  pad: "reflection",
  bias: false,
  accumulate: false,
});
convCase({
  name: "3×3 replicate s1 3×4",
  cin: 2,
  cout: 2,
  h: 3,
  w: 4,
  k: 3,
  stride: 1,
  pad: "replicate",
  bias: false,
  accumulate: false,
});
convCase({
  name: "5×5 reflection s1 6×7",
  cin: 2,
  cout: 3,
  h: 6,
  w: 7,
  k: 5,
  stride: 1,
  pad: "reflection",
  bias: false,
  accumulate: false,
});

// ---- BN + activation, activation, pooling, upsampling, crop, add, resampling --------------

const ACTS: readonly Activation[] = ["leaky_relu", "relu", "swish", "elu", "sigmoid", "none"];
for (const [i, act] of ACTS.entries()) {
  const accumulate = i % 2 === 1;
  const x = pb.view("act", 3, 5, 3, i === 0 ? 7 : 0);
  const y = pb.view("act", 3, 5, 3);
  const dy = pb.view("dact", 3, 5, 3);
  const dx = pb.view("dact", 3, 5, 3);
  const gamma = pb.param(3);
  const beta = pb.param(3);
  const stats = { offset: pb.alloc("stats", 6 * BATCH), batchStride: 6, channels: 3 };
  pb.steps.push(
    { kind: "bn_act", x, y, gamma, beta, stats, act },
    { kind: "bn_act_bwd", x, dy, dx, gamma, beta, stats, act, accumulate },
  );
  checks.set(`bn_act ${act}`, (before, after, ppf) => {
    for (let b = 0; b < BATCH; b++) {
      const xv = readFit(before, x, b);
      const g = paramOf(before, "param", gamma, b, ppf);
      const be = paramOf(before, "param", beta, b, ppf);
      const fwd = oracle.bnAct(xv, shape(x), g, be, act);
      assertClose(readFit(after, y, b), fwd.y, 2e-5, `bn_act ${act} y (fit ${b})`);
      const st = after.stats.slice(stats.offset + b * 6, stats.offset + b * 6 + 6);
      assertClose(st.slice(0, 3), fwd.mean, 1e-5, `bn_act ${act} mean`);
      assertClose(st.slice(3), fwd.invStd, 1e-5, `bn_act ${act} invStd`);
      const grads = oracle.bnActGrads(xv, shape(x), g, be, act, readFit(before, dy, b));
      const dxExpected = accumulate ? add(readFit(before, dx, b), grads.dx) : grads.dx;
      assertClose(readFit(after, dx, b), dxExpected, 5e-5, `bn_act ${act} dx (fit ${b})`);
      assertClose(
        paramOf(after, "grad", gamma, b, ppf),
        grads.dgamma,
        2e-5,
        `bn_act ${act} dgamma`,
      );
      assertClose(paramOf(after, "grad", beta, b, ppf), grads.dbeta, 2e-5, `bn_act ${act} dbeta`);
    }
  });
  // The activation alone (forward and gradient) on the same shapes.
  const ay = pb.view("act", 3, 5, 3);
  const adx = pb.view("dact", 3, 5, 3);
  pb.steps.push(
    { kind: "act", x, y: ay, act },
    { kind: "act_bwd", x, y: ay, dy, dx: adx, act, accumulate },
  );
  checks.set(`act ${act}`, (before, after) => {
    for (let b = 0; b < BATCH; b++) {
      const xv = readFit(before, x, b);
      assertClose(readFit(after, ay, b), oracle.activation(xv, act), 1e-6, `act ${act}`);
      const g = oracle.activationGrad(xv, act, readFit(before, dy, b));
      assertClose(
        readFit(after, adx, b),
        accumulate ? add(readFit(before, adx, b), g) : g,
        1e-6,
        `act_bwd ${act}`,
      );
    }
  });
}

for (const mode of ["avg", "max"] as const) {
  const x = pb.view("act", 2, 7, 5);
  const y = pb.view("act", 2, 3, 2);
  const dy = pb.view("dact", 2, 3, 2);
  const dx = pb.view("dact", 2, 7, 5);
  const accumulate = mode === "max";
  pb.steps.push({ kind: "pool", x, y, mode }, { kind: "pool_bwd", x, dy, dx, mode, accumulate });
  checks.set(`pool ${mode}`, (before, after) => {
    for (let b = 0; b < BATCH; b++) {
      const xv = readFit(before, x, b);
      assertClose(readFit(after, y, b), oracle.pool2(xv, shape(x), mode), 1e-6, `pool ${mode}`);
      const g = oracle.pool2Grad(xv, shape(x), mode, readFit(before, dy, b));
      assertClose(
        readFit(after, dx, b),
        accumulate ? add(readFit(before, dx, b), g) : g,
        1e-6,
        `pool_bwd ${mode}`,
      );
    }
  });
}

for (const mode of ["nearest", "bilinear"] as const) {
  const x = pb.view("act", 2, 3, 5);
  const y = pb.view("act", 2, 6, 10);
  const dy = pb.view("dact", 2, 6, 10);
  const dx = pb.view("dact", 2, 3, 5);
  const accumulate = mode === "nearest";
  pb.steps.push({ kind: "upsample", x, y, mode }, {
    kind: "upsample_bwd",
    dy,
    dx,
    mode,
    accumulate,
  });
  checks.set(`upsample ${mode}`, (before, after) => {
    for (let b = 0; b < BATCH; b++) {
      assertClose(
        readFit(after, y, b),
        oracle.upsample2(readFit(before, x, b), shape(x), mode),
        1e-6,
        `upsample ${mode}`,
      );
      const g = oracle.upsample2Grad(shape(x), mode, readFit(before, dy, b));
      assertClose(
        readFit(after, dx, b),
        accumulate ? add(readFit(before, dx, b), g) : g,
        1e-6,
        `upsample_bwd ${mode}`,
      );
    }
  });
}

{
  // crop 2×7×6 → 2×4×3 (offsets 1, 1), its gradient, add and copy_grad.
  const x = pb.view("act", 2, 7, 6);
  const y = pb.view("act", 2, 4, 3, 5);
  const dx = pb.view("dact", 2, 7, 6);
  const a = pb.view("act", 2, 4, 3);
  const sum = pb.view("act", 2, 4, 3);
  const cg = pb.view("dact", 2, 4, 3);
  pb.steps.push(
    { kind: "crop_copy", x, y },
    { kind: "crop_copy_bwd", dy: a, dx, accumulate: false },
    { kind: "add", a, b: y, y: sum },
    { kind: "copy_grad", dy: a, dx: cg, accumulate: true },
  );
  checks.set("crop_copy, add, copy_grad", (before, after) => {
    for (let b = 0; b < BATCH; b++) {
      const xv = readFit(before, x, b);
      const crop = new Float32Array(24);
      const pad = new Float32Array(84);
      const av = readFit(before, a, b);
      for (let c = 0; c < 2; c++) {
        for (let i = 0; i < 4; i++) {
          for (let j = 0; j < 3; j++) {
            crop[c * 12 + i * 3 + j] = xv[c * 42 + (i + 1) * 6 + j + 1]!;
            pad[c * 42 + (i + 1) * 6 + j + 1] = av[c * 12 + i * 3 + j]!;
          }
        }
      }
      assert.deepEqual(readFit(after, y, b), crop);
      assert.deepEqual(readFit(after, dx, b), pad);
      assertClose(readFit(after, sum, b), add(av, crop), 1e-7, "add");
      assertClose(
        readFit(after, cg, b),
        add(readFit(before, cg, b), av),
        1e-7,
        "copy_grad accumulate",
      );
    }
  });
}

{
  // The SR data term's downsampler at factor 2 (lanczos2, phase 0.5: 8 taps, replicate pad 3).
  const taps = [-0.0089, -0.0419, 0.1165, 0.4343, 0.4343, 0.1165, -0.0419, -0.0089]; // REFERENCE.md §1b, f=2
  const x = pb.view("act", 3, 10, 6);
  const y = pb.view("act", 3, 5, 3);
  const dy = pb.view("dact", 3, 5, 3);
  const dx = pb.view("dact", 3, 10, 6);
  pb.steps.push(
    { kind: "resample_down", x, y, factor: 2, taps, pad: 3 },
    { kind: "resample_down_bwd", dy, dx, factor: 2, taps, pad: 3, accumulate: true },
  );
  checks.set("resample_down", (before, after) => {
    for (let b = 0; b < BATCH; b++) {
      const fwd = oracle.resampleDown(readFit(before, x, b), shape(x), 2, taps, 3);
      assert.deepEqual(fwd.shape, { n: 1, c: 3, h: 5, w: 3 });
      assertClose(readFit(after, y, b), fwd.y, 1e-6, "resample_down");
      const g = oracle.resampleDownGrad(shape(x), 2, taps, 3, readFit(before, dy, b));
      assertClose(readFit(after, dx, b), add(readFit(before, dx, b), g), 1e-6, "resample_down_bwd");
    }
  });
}

{
  // Masked and unmasked MSE: loss per fit into scalars, dpred into dact.
  const pred = pb.view("act", 3, 4, 5);
  const target = pb.view("io", 3, 4, 5);
  const mask = pb.view("io", 1, 4, 5);
  const dpred = pb.view("dact", 3, 4, 5);
  const dpred2 = pb.view("dact", 3, 4, 5);
  const lossOffset = pb.alloc("scalars", 4);
  pb.steps.push(
    { kind: "mse_loss", pred, target, mask, dpred, lossOffset },
    { kind: "mse_loss", pred, target, dpred: dpred2, lossOffset: lossOffset + 2 },
  );
  checks.set("mse_loss", (before, after) => {
    for (let b = 0; b < BATCH; b++) {
      const p = readFit(before, pred, b);
      const t = readFit(before, target, b);
      const m = oracle.maskedMse(p, t, readFit(before, mask, b), shape(pred));
      const u = oracle.maskedMse(p, t, undefined, shape(pred));
      assertClose(
        after.scalars.slice(lossOffset + b, lossOffset + b + 1),
        m.loss,
        1e-6,
        "masked loss",
      );
      assertClose(
        after.scalars.slice(lossOffset + 2 + b, lossOffset + 3 + b),
        u.loss,
        1e-6,
        "loss",
      );
      assertClose(readFit(after, dpred, b), m.dpred, 1e-6, "masked dpred");
      assertClose(readFit(after, dpred2, b), u.dpred, 1e-6, "dpred");
    }
  });
}

// ---- run the single-pass plan once ----------------------------------------------------------

function randomArenas(plan: Plan, seed: number): Arenas {
  return Object.fromEntries(
    ARENAS.map((a, i) => [a, oracle.randomArray(Math.max(4, plan.arenaSizes[a]), seed + i)]),
  ) as Arenas;
}

async function readAll(t: WebGpuTrainer): Promise<Arenas> {
  const out = {} as Arenas;
  for (const a of ARENAS) out[a] = await t.readArena(a);
  return out;
}

const plan = pb.build();
const trainer = await createWebGpuTrainer(plan);
const before = randomArenas(plan, 100);
for (const a of ARENAS) trainer.writeArena(a, before[a].subarray(0, plan.arenaSizes[a]));
trainer.run(1);
const after = await readAll(trainer);
trainer.dispose();

for (const [name, check] of checks) {
  Deno.test(`webgpu ${name} matches the tfjs oracle`, () =>
    check(before, after, plan.paramsPerFit));
}

// ---- stateful kinds: input noise, Adam, EMA, PSNR, ES-WMV over several steps ----------------

Deno.test("webgpu input_noise, adam, ema, psnr and wmv follow the oracle step by step", async () => {
  const sb = new PlanBuilder();
  const z0 = sb.view("io", 2, 3, 5, 3);
  const z = sb.view("io", 2, 3, 5);
  sb.param(23); // 23 parameters per fit for Adam
  const x = sb.view("act", 2, 3, 4);
  const e = sb.view("io", 2, 3, 4);
  const best = sb.view("io", 2, 3, 4);
  const window = 3;
  const ring: View = {
    ...sb.view("io", 2, 3, 4 * window),
    c: 2,
    h: 3,
    w: 4,
    batchStride: 24 * window,
  };
  const sc = {
    psnr: sb.alloc("scalars", 2),
    v: sb.alloc("scalars", 2),
    min: sb.alloc("scalars", 2),
    arg: sb.alloc("scalars", 2),
  };
  const std = 0.5;
  const adam = {
    kind: "adam",
    size: BATCH * 23,
    lr: 0.01,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
  } as const; // PyTorch defaults
  sb.steps.push({ kind: "input_noise", z0, z, std });
  const p = sb.build({
    update: [
      adam,
      { kind: "ema", x, ema: e, decay: 0.99 },
      { kind: "psnr", a: x, b: e, offset: sc.psnr },
      {
        kind: "wmv",
        x,
        ring,
        window,
        best,
        varOffset: sc.v,
        minOffset: sc.min,
        argminOffset: sc.arg,
      },
    ],
  });
  const t = await createWebGpuTrainer(p);
  const host = randomArenas(p, 7);
  host.adamM.fill(0);
  host.adamV.fill(0);
  host.scalars.fill(Infinity, sc.min, sc.min + 2);
  for (const a of ARENAS) t.writeArena(a, host[a].subarray(0, p.arenaSizes[a]));
  const seeds = [12345, 0xdeadbeef];
  t.setNoiseSeeds(seeds);
  const param = host.param.slice();
  const m = new Float32Array(param.length);
  const v = new Float32Array(param.length);
  const emaHost = [readFit(host, e, 0), readFit(host, e, 1)];
  const ringHost: Float32Array[][] = [[], []];
  const minHost = [Infinity, Infinity];
  const argHost = [0, 0];
  const bestHost = [readFit(host, best, 0), readFit(host, best, 1)];
  for (let step = 0; step < 5; step++) {
    // x changes every step, like a network output would.
    const xs = [0, 1].map((b) => oracle.randomArray(24, 1000 + 10 * step + b));
    for (let b = 0; b < BATCH; b++) t.writeArena("act", xs[b]!, x.offset + b * x.batchStride);
    t.run(1);
    const got = await readAll(t);
    oracle.adamStep(param, host.grad.subarray(0, param.length), m, v, step, 0.01, 0.9, 0.999, 1e-8);
    assertClose(got.param.subarray(0, param.length), param, 2e-6, `adam param, step ${step}`);
    assertClose(got.adamM.subarray(0, param.length), m, 1e-6, `adam m, step ${step}`);
    assertClose(got.adamV.subarray(0, param.length), v, 1e-6, `adam v, step ${step}`);
    for (let b = 0; b < BATCH; b++) {
      const zExpected = readFit(host, z0, b).map((zv, i) =>
        zv + std * gaussianAt(seeds[b]!, step, i)
      );
      assertClose(readFit(got, z, b), zExpected, 2e-6, `input_noise fit ${b} step ${step}`);
      const xb = xs[b]!;
      emaHost[b] = step === 0 ? xb.slice() : emaHost[b]!.map((ev, i) => 0.99 * ev + 0.01 * xb[i]!);
      assertClose(readFit(got, e, b), emaHost[b]!, 1e-6, `ema fit ${b} step ${step}`);
      const mse = xb.reduce((s, xv, i) => s + (xv - emaHost[b]![i]!) ** 2, 0) / 24;
      const psnr = got.scalars[sc.psnr + b]!;
      if (step === 0) assert.equal(psnr, Infinity);
      else {assert.ok(
          Math.abs(psnr - 10 * Math.log10(1 / mse)) < 1e-3,
          `psnr ${psnr} vs ${10 * Math.log10(1 / mse)}`,
        );}
      ringHost[b]!.push(xb);
      if (ringHost[b]!.length > window) ringHost[b]!.shift();
      if (step >= window - 1) {
        const mean = new Float64Array(24);
        for (const r of ringHost[b]!) r.forEach((rv, i) => (mean[i]! += rv / window));
        let variance = 0;
        for (const r of ringHost[b]!) r.forEach((rv, i) => (variance += (rv - mean[i]!) ** 2));
        variance /= window * 24;
        assert.ok(
          Math.abs(got.scalars[sc.v + b]! - variance) < 1e-6,
          `wmv variance fit ${b} step ${step}`,
        );
        if (variance < minHost[b]!) {
          minHost[b] = variance;
          argHost[b] = step;
          bestHost[b] = xb.slice();
        }
      }
      assert.ok(Math.abs(got.scalars[sc.min + b]! - minHost[b]!) < 1e-6 || minHost[b] === Infinity);
      assert.equal(
        got.scalars[sc.arg + b],
        step >= window - 1 ? argHost[b] : host.scalars[sc.arg + b],
      );
      assert.deepEqual(readFit(got, best, b), bestHost[b]);
    }
  }
  t.dispose();
});

Deno.test("webgpu input_noise draws gaussianAt to a few ulp", async () => {
  const n = 20000;
  const z0: View = { arena: "io", offset: 0, batchStride: n, c: 1, h: 1, w: n };
  const z: View = { arena: "io", offset: n, batchStride: n, c: 1, h: 1, w: n };
  const plan: Plan = {
    batch: 1,
    height: 1,
    width: n,
    paramsPerFit: 1,
    arenaSizes: {
      param: 1,
      grad: 1,
      adamM: 1,
      adamV: 1,
      act: 1,
      dact: 1,
      stats: 1,
      io: 2 * n,
      scalars: 2,
    },
    forward: [{ kind: "input_noise", z0, z, std: 1 }],
    loss: [],
    backward: [],
    update: [],
    params: [],
    io: { z0, z, output: z, target: z0, ema: z0 },
    scalars: { loss: 0, psnrObserved: 1 },
    forwardMacs: 0,
  };
  const t = await createWebGpuTrainer(plan);
  try {
    t.setNoiseSeeds([0x9e3779b9]);
    t.run(2); // the second step draws with step = 1
    const io = await t.readArena("io");
    const ulp = (x: number) => 2 ** (Math.floor(Math.log2(Math.max(Math.abs(x), 2 ** -126))) - 23);
    let exact = 0;
    for (let i = 0; i < n; i++) {
      const expected = gaussianAt(0x9e3779b9, 1, i);
      const got = io[n + i]!;
      if (got === expected) exact++;
      // f32 log and cos: a few ulp on llvmpipe; GPUs' sin/cos may be coarser near zero.
      assert.ok(
        Math.abs(got - expected) <= Math.max(8 * ulp(expected), 1e-6),
        `draw ${i}: ${got} vs ${expected}`,
      );
    }
    assert.ok(exact > 0, "some draws are bit-identical");
  } finally {
    t.dispose();
  }
});
