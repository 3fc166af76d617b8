import assert from "node:assert/strict";
import * as oracle from "./oracle.ts";
import {
  createArenas,
  readView,
  ReferenceTrainer,
  runStep,
  type StepContext,
  writeView,
} from "../engine/reference.ts";
import type { Arenas } from "../engine/reference.ts";
import { type Arena, gaussianAt, type Plan, type Step, type View } from "../engine/plan.ts";
import { compilePlan, lanczosTaps } from "../engine/compile.ts";
import { initParams, inputNoise } from "../engine/init.ts";
import { createTrainer, detectEngine } from "../engine/mod.ts";
import { skip } from "../models/mod.ts";
import type { Activation } from "../models/graph.ts";

const N = 2; // fits per test: every kernel runs on a batch of two

/** Arenas of the given sizes (the others empty), as a plan-less harness for single steps. */
function arenasOf(sizes: Partial<Record<Arena, number>>): Arenas {
  const all: Record<Arena, number> = {
    param: 0,
    grad: 0,
    adamM: 0,
    adamV: 0,
    act: 0,
    dact: 0,
    stats: 0,
    io: 0,
    scalars: 0,
    ...sizes,
  };
  return createArenas({ arenaSizes: all } as Plan);
}

/** A view with a padded batch stride (so strides are exercised), starting at `offset`. */
function view(arena: Arena, offset: number, c: number, h: number, w: number, gap = 5): View {
  return { arena, offset, batchStride: c * h * w + gap, c, h, w };
}

/** Floats a view spans over N fits. */
function end(v: View): number {
  return v.offset + (N - 1) * v.batchStride + v.c * v.h * v.w;
}

function ctxFor(paramsPerFit: number, step = 0, noiseSeeds: number[] = [11, 12]): StepContext {
  return { batch: N, paramsPerFit, step, noiseSeeds };
}

function close(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
): void {
  const diff = oracle.maxAbsDiff(actual, expected);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  assert.ok(diff <= tol * Math.max(1, scale), `${what}: max |difference| ${diff} (scale ${scale})`);
}

/** Per-fit parameter gradients summed over the fits (the oracle shares parameters). */
function sumFits(
  grad: Float32Array,
  offset: number,
  size: number,
  paramsPerFit: number,
): Float32Array {
  const out = new Float32Array(size);
  for (let b = 0; b < N; b++) {
    for (let i = 0; i < size; i++) out[i]! += grad[b * paramsPerFit + offset + i]!;
  }
  return out;
}

/** A parameter-free step and its backward run on seeded random x and dy; what they wrote. */
function runUnary(
  [c, h, w]: readonly [number, number, number],
  [oh, ow]: readonly [number, number],
  seeds: { readonly x: number; readonly dy: number; readonly xScale?: number },
  forward: (x: View, y: View) => Step,
  backward: (x: View, y: View, dy: View, dx: View) => Step,
) {
  const x = view("act", 0, c, h, w);
  const y = view("act", end(x), c, oh, ow);
  const dy = view("dact", 0, c, oh, ow);
  const dx = view("dact", end(dy), c, h, w);
  const arenas = arenasOf({ act: end(y), dact: end(dx) });
  const xData = oracle.randomArray(N * c * h * w, seeds.x, seeds.xScale);
  const dyData = oracle.randomArray(N * c * oh * ow, seeds.dy);
  writeView(arenas, x, N, xData);
  writeView(arenas, dy, N, dyData);
  runStep(forward(x, y), arenas, ctxFor(0));
  runStep(backward(x, y, dy, dx), arenas, ctxFor(0));
  return {
    xs: { n: N, c, h, w },
    xData,
    dyData,
    y: readView(arenas, y, N),
    dx: readView(arenas, dx, N),
  };
}

const convCases = [
  { pad: "reflection", k: 3, stride: 1, cin: 3, cout: 4, h: 5, w: 7 },
  { pad: "zero", k: 3, stride: 2, cin: 2, cout: 3, h: 7, w: 6 },
  { pad: "replicate", k: 1, stride: 1, cin: 4, cout: 2, h: 3, w: 3 },
  { pad: "reflection", k: 5, stride: 2, cin: 2, cout: 2, h: 9, w: 8 },
] as const;

for (const c of convCases) {
  Deno.test(`runStep() conv and its gradients match tfjs (${c.pad}, k${c.k}, stride ${c.stride}, ${c.h}×${c.w})`, () => {
    const ho = oracle.convOutSize(c.h, c.k, c.stride), wo = oracle.convOutSize(c.w, c.k, c.stride);
    const x = view("act", 3, c.cin, c.h, c.w);
    const y = view("act", end(x) + 2, c.cout, ho, wo);
    const dy = view("dact", 1, c.cout, ho, wo);
    const dx = view("dact", end(dy) + 4, c.cin, c.h, c.w, 3);
    const weight = { offset: 2, size: c.cout * c.cin * c.k * c.k };
    const bias = { offset: 2 + weight.size, size: c.cout };
    const ppf = bias.offset + bias.size + 1;
    const arenas = arenasOf({ act: end(y), dact: end(dx), param: N * ppf, grad: N * ppf });
    const xs = { n: N, c: c.cin, h: c.h, w: c.w };
    const xData = oracle.randomArray(N * c.cin * c.h * c.w, 1);
    const wData = oracle.randomArray(weight.size, 2, 0.5);
    const bData = oracle.randomArray(c.cout, 3, 0.5);
    for (let b = 0; b < N; b++) {
      arenas.param.set(wData, b * ppf + weight.offset);
      arenas.param.set(bData, b * ppf + bias.offset);
    }
    writeView(arenas, x, N, xData);
    const geometry = { k: c.k, stride: c.stride, pad: c.pad };
    runStep({ kind: "conv", x, y, weight, bias, ...geometry }, arenas, ctxFor(ppf));
    const expected = oracle.conv2d(xData, xs, wData, c.cout, c.k, bData, c.stride, c.pad);
    close(readView(arenas, y, N), expected.y, 1e-5, "y");

    const dyData = oracle.randomArray(N * c.cout * ho * wo, 4);
    writeView(arenas, dy, N, dyData);
    const g = oracle.conv2dGrads(xData, xs, wData, c.cout, c.k, c.stride, c.pad, dyData);
    runStep(
      { kind: "conv_bwd_data", dy, dx, weight, ...geometry, accumulate: false },
      arenas,
      ctxFor(ppf),
    );
    const dxData = readView(arenas, dx, N);
    // conv_bwd_data is the adjoint of the (bias-free) conv: <dy, conv(x) − bias> = <dx, x>.
    let lhs = 0, rhs = 0;
    const plane = ho * wo;
    expected.y.forEach((v, i) => lhs += dyData[i]! * (v - bData[Math.floor(i / plane) % c.cout]!));
    dxData.forEach((v, i) => rhs += v * xData[i]!);
    assert.ok(Math.abs(lhs - rhs) < 1e-4 * Math.max(1, Math.abs(lhs)), `adjoint: ${lhs} vs ${rhs}`);
    close(dxData, g.dx, 1e-5, "dx");
    runStep(
      { kind: "conv_bwd_data", dy, dx, weight, ...geometry, accumulate: true },
      arenas,
      ctxFor(ppf),
    );
    close(readView(arenas, dx, N), dxData.map((v) => 2 * v), 1e-5, "dx accumulated");
    runStep({ kind: "conv_bwd_weight", x, dy, weight, bias, ...geometry }, arenas, ctxFor(ppf));
    close(sumFits(arenas.grad, weight.offset, weight.size, ppf), g.dw, 1e-5, "dw");
    close(sumFits(arenas.grad, bias.offset, bias.size, ppf), g.dbias, 1e-5, "dbias");
  });
}

const acts: Activation[] = ["leaky_relu", "relu", "swish", "elu", "sigmoid", "none"];

for (const act of acts) {
  Deno.test(`runStep() bn_act and bn_act_bwd match tfjs (${act})`, () => {
    const [c, h, w] = [3, 5, 6];
    const x = view("act", 0, c, h, w);
    const y = view("act", end(x), c, h, w, 0);
    const dy = view("dact", 0, c, h, w, 0);
    const dx = view("dact", end(dy), c, h, w);
    const gamma = { offset: 0, size: c }, beta = { offset: c, size: c };
    const stats = { offset: 1, batchStride: 2 * c, channels: c };
    const ppf = 2 * c;
    const arenas = arenasOf({
      act: end(y),
      dact: end(dx),
      param: N * ppf,
      grad: N * ppf,
      stats: 1 + N * 2 * c,
    });
    const xs = { n: N, c, h, w };
    const xData = oracle.randomArray(N * c * h * w, 5, 2);
    const gData = oracle.randomArray(c, 6).map((v) => 1 + 0.5 * v);
    const bData = oracle.randomArray(c, 7, 0.3);
    for (let b = 0; b < N; b++) {
      arenas.param.set(gData, b * ppf);
      arenas.param.set(bData, b * ppf + c);
    }
    writeView(arenas, x, N, xData);
    runStep({ kind: "bn_act", x, y, gamma, beta, stats, act }, arenas, ctxFor(ppf));
    const expected = oracle.bnAct(xData, xs, gData, bData, act);
    close(readView(arenas, y, N), expected.y, 2e-5, "y");
    for (let b = 0; b < N; b++) {
      for (let ch = 0; ch < c; ch++) {
        const at = stats.offset + b * stats.batchStride;
        assert.ok(Math.abs(arenas.stats[at + ch]! - expected.mean[b * c + ch]!) < 1e-5, "mean");
        assert.ok(
          Math.abs(arenas.stats[at + c + ch]! - expected.invStd[b * c + ch]!) < 1e-4,
          "invStd",
        );
      }
    }
    const dyData = oracle.randomArray(N * c * h * w, 8);
    writeView(arenas, dy, N, dyData);
    runStep(
      { kind: "bn_act_bwd", x, dy, dx, gamma, beta, stats, act, accumulate: false },
      arenas,
      ctxFor(ppf),
    );
    const g = oracle.bnActGrads(xData, xs, gData, bData, act, dyData);
    close(readView(arenas, dx, N), g.dx, 1e-4, "dx");
    close(sumFits(arenas.grad, 0, c, ppf), g.dgamma, 1e-4, "dgamma");
    close(sumFits(arenas.grad, c, c, ppf), g.dbeta, 1e-4, "dbeta");
  });

  Deno.test(`runStep() act and act_bwd match tfjs (${act})`, () => {
    const r = runUnary(
      [2, 3, 4],
      [3, 4],
      { x: 9, dy: 10, xScale: 3 },
      (x, y) => ({ kind: "act", x, y, act }),
      (x, y, dy, dx) => ({ kind: "act_bwd", x, y, dy, dx, act, accumulate: false }),
    );
    close(r.y, oracle.activation(r.xData, act), 1e-6, "y");
    close(r.dx, oracle.activationGrad(r.xData, act, r.dyData), 1e-6, "dx");
  });
}

for (const mode of ["avg", "max"] as const) {
  Deno.test(`runStep() ${mode} pool and its gradient match tfjs on an odd size`, () => {
    const r = runUnary(
      [2, 5, 7],
      [2, 3],
      { x: 11, dy: 12 },
      (x, y) => ({ kind: "pool", x, y, mode }),
      (x, _y, dy, dx) => ({ kind: "pool_bwd", x, dy, dx, mode, accumulate: false }),
    );
    close(r.y, oracle.pool2(r.xData, r.xs, mode), 1e-6, "y");
    close(r.dx, oracle.pool2Grad(r.xData, r.xs, mode, r.dyData), 1e-6, "dx");
  });
}

for (const mode of ["nearest", "bilinear"] as const) {
  Deno.test(`runStep() ${mode} ×2 upsampling and its gradient match tfjs`, () => {
    const r = runUnary(
      [2, 3, 4],
      [6, 8],
      { x: 13, dy: 14 },
      (x, y) => ({ kind: "upsample", x, y, mode }),
      (_x, _y, dy, dx) => ({ kind: "upsample_bwd", dy, dx, mode, accumulate: false }),
    );
    close(r.y, oracle.upsample2(r.xData, r.xs, mode), 1e-6, "y");
    close(r.dx, oracle.upsample2Grad(r.xs, mode, r.dyData), 1e-5, "dx");
  });
}

Deno.test("runStep() Lanczos resample_down and its gradient match tfjs", () => {
  const taps = lanczosTaps(2);
  const pad = (taps.length - 2) / 2;
  const r = runUnary(
    [3, 8, 10],
    [4, 5],
    { x: 15, dy: 16 },
    (x, y) => ({ kind: "resample_down", x, y, factor: 2, taps, pad }),
    (_x, _y, dy, dx) => ({
      kind: "resample_down_bwd",
      dy,
      dx,
      factor: 2,
      taps,
      pad,
      accumulate: false,
    }),
  );
  close(r.y, oracle.resampleDown(r.xData, r.xs, 2, taps, pad).y, 1e-5, "y");
  close(r.dx, oracle.resampleDownGrad(r.xs, 2, taps, pad, r.dyData), 1e-5, "dx");
});

for (const masked of [false, true]) {
  Deno.test(`runStep() mse_loss matches tfjs ${masked ? "with" : "without"} a mask`, () => {
    const [c, h, w] = [3, 4, 5];
    const pred = view("act", 0, c, h, w);
    const target = view("io", 0, c, h, w);
    const mask = view("io", end(target), 1, h, w);
    const dpred = view("dact", 0, c, h, w);
    const arenas = arenasOf({ act: end(pred), io: end(mask), dact: end(dpred), scalars: 4 });
    const p = oracle.randomArray(N * c * h * w, 17);
    const t = oracle.randomArray(N * c * h * w, 18);
    const m = oracle.randomArray(N * h * w, 19).map((v) => v > 0 ? 1 : 0);
    writeView(arenas, pred, N, p);
    writeView(arenas, target, N, t);
    writeView(arenas, mask, N, m);
    runStep(
      { kind: "mse_loss", pred, target, ...(masked ? { mask } : {}), dpred, lossOffset: 1 },
      arenas,
      ctxFor(0),
    );
    const expected = oracle.maskedMse(p, t, masked ? m : undefined, { n: N, c, h, w });
    close(arenas.scalars.subarray(1, 1 + N), expected.loss, 1e-6, "loss");
    close(readView(arenas, dpred, N), expected.dpred, 1e-6, "dpred");
  });
}

Deno.test("runStep() adam matches PyTorch's update", () => {
  const size = 50;
  const arenas = arenasOf({ param: size, grad: size, adamM: size, adamV: size });
  arenas.param.set(oracle.randomArray(size, 20));
  arenas.grad.set(oracle.randomArray(size, 21, 0.1));
  arenas.adamM.set(oracle.randomArray(size, 22, 0.01));
  arenas.adamV.set(oracle.randomArray(size, 23, 0.01).map(Math.abs));
  const [p, m, v] = [arenas.param.slice(), arenas.adamM.slice(), arenas.adamV.slice()];
  oracle.adamStep(p, arenas.grad, m, v, 3, 0.01, 0.9, 0.999, 1e-8);
  runStep({ kind: "adam", size, lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 }, arenas, {
    ...ctxFor(size / N),
    step: 3,
  });
  close(arenas.param, p, 1e-7, "param");
  close(arenas.adamM, m, 1e-7, "m");
  close(arenas.adamV, v, 1e-7, "v");
});

Deno.test("runStep() crop_copy takes the centre crop and crop_copy_bwd puts it back", () => {
  const x = view("act", 0, 1, 4, 5);
  const y = view("act", end(x), 1, 3, 3);
  const arenas = arenasOf({ act: end(y), dact: 100 });
  const xData = Float32Array.from({ length: N * 20 }, (_, i) => i);
  writeView(arenas, x, N, xData);
  runStep({ kind: "crop_copy", x, y }, arenas, ctxFor(0));
  // Offsets floor((4 − 3)/2) = 0 rows, floor((5 − 3)/2) = 1 column.
  const expected = [1, 2, 3, 6, 7, 8, 11, 12, 13].flatMap((i) => [i]);
  assert.deepEqual([...readView(arenas, y, N)], [...expected, ...expected.map((i) => i + 20)]);
  const dy = { ...y, arena: "dact" as const, offset: 0 };
  const dx = { ...x, arena: "dact" as const, offset: end(dy) };
  writeView(arenas, dy, N, Float32Array.from({ length: N * 9 }, () => 1));
  arenas.dact.fill(5, dx.offset, end(dx));
  runStep({ kind: "crop_copy_bwd", dy, dx, accumulate: false }, arenas, ctxFor(0));
  const back = readView(arenas, dx, N);
  assert.deepEqual(
    [...back.subarray(0, 20)],
    Array.from({ length: 20 }, (_, i) => expected.includes(i) ? 1 : 0),
  );
});

Deno.test("runStep() input_noise adds std · gaussianAt(seed_b, step, i) per fit", () => {
  const z0 = view("io", 0, 2, 3, 3);
  const z = view("io", end(z0), 2, 3, 3);
  const arenas = arenasOf({ io: end(z) });
  const z0Data = oracle.randomArray(N * 18, 24);
  writeView(arenas, z0, N, z0Data);
  runStep({ kind: "input_noise", z0, z, std: 0.05 }, arenas, ctxFor(0, 7, [3, 9]));
  const got = readView(arenas, z, N);
  for (let b = 0; b < N; b++) {
    for (let i = 0; i < 18; i++) {
      const expected = z0Data[b * 18 + i]! + 0.05 * gaussianAt([3, 9][b]!, 7, i);
      assert.ok(Math.abs(got[b * 18 + i]! - expected) < 1e-7);
    }
  }
});

Deno.test("runStep() ema starts at the output, psnr has peak 1, wmv tracks the windowed variance", () => {
  const x = view("act", 0, 1, 1, 2, 0);
  const ema = view("io", 0, 1, 1, 2, 0);
  const best = view("io", 4, 1, 1, 2, 0);
  const ring: View = { arena: "io", offset: 8, batchStride: 3 * 2, c: 1, h: 1, w: 2 };
  const arenas = arenasOf({ act: 4, io: 8 + N * 6, scalars: 8 });
  arenas.scalars.fill(Infinity, 4, 6);
  const outputs = [[0, 0], [1, 1], [2, 2], [2, 2], [2.5, 2.5]];
  for (let step = 0; step < outputs.length; step++) {
    const o = outputs[step]!;
    writeView(arenas, x, N, Float32Array.from([...o, ...o.map((v) => -v)]));
    runStep({ kind: "ema", x, ema, decay: 0.5 }, arenas, ctxFor(0, step));
    runStep(
      { kind: "wmv", x, ring, window: 3, best, varOffset: 2, minOffset: 4, argminOffset: 6 },
      arenas,
      ctxFor(0, step),
    );
  }
  // EMA with decay 0.5: 0 → 0.5 → 1.25 → 1.625 → 2.0625.
  assert.deepEqual([...readView(arenas, ema, N)], [2.0625, 2.0625, -2.0625, -2.0625]);
  // Windows: {0,1,2} var 2/3, {1,2,2} var 2/9, {2,2,2.5} var 1/18 (per element, mean over the window).
  assert.ok(Math.abs(arenas.scalars[2]! - 1 / 18) < 1e-6);
  assert.ok(Math.abs(arenas.scalars[4]! - 1 / 18) < 1e-6);
  assert.deepEqual([arenas.scalars[6], arenas.scalars[7]], [4, 4]);
  assert.deepEqual([...readView(arenas, best, N)], [2.5, 2.5, -2.5, -2.5]);
  const b = view("io", 0, 1, 1, 2, 0);
  writeView(arenas, b, N, Float32Array.from([0.1, 0.1, 0, 0]));
  runStep({ kind: "psnr", a: x, b, offset: 0 }, arenas, ctxFor(0));
  assert.ok(Math.abs(arenas.scalars[0]! - 10 * Math.log10(1 / 2.4 ** 2)) < 1e-4);
});

Deno.test("initParams() follows PyTorch's default rules, seeded per fit", () => {
  const plan = compilePlan(skip({ inputChannels: 2, channelsDown: [4], channelsSkip: [2] }), {
    batch: 3,
    height: 8,
    width: 8,
    dataTerm: { kind: "identity" },
    lr: 0.01,
    regNoiseStd: 0,
    emaDecay: 0,
  });
  const p = initParams(plan, [5, 6, 5]);
  const ppf = plan.paramsPerFit;
  assert.deepEqual(p.subarray(0, ppf), p.subarray(2 * ppf, 3 * ppf), "equal seeds give equal fits");
  assert.notDeepEqual(p.subarray(0, ppf), p.subarray(ppf, 2 * ppf));
  for (const t of plan.params) {
    const values = p.subarray(t.ref.offset, t.ref.offset + t.ref.size);
    if (t.init === "uniform") {
      const bound = 1 / Math.sqrt(t.fanIn);
      assert.ok(values.every((v) => Math.abs(v) <= bound), `${t.name} within ±1/√fanIn`);
      if (values.length >= 16) {
        const spread = Math.max(...values) - Math.min(...values);
        assert.ok(spread > bound, `${t.name} spreads over the interval`);
      }
    } else if (t.init === "constant") {
      assert.ok(values.every((v) => v === t.value), `${t.name} constant ${t.value}`);
      assert.equal(t.value, t.name.endsWith(".weight") ? 1 : 0);
    }
  }
  assert.throws(() => initParams(plan, [1]), /expected 3 seeds/);
});

Deno.test("inputNoise() draws U[0, 1)·0.1 by default and builds a [0, 1] meshgrid", () => {
  const z = inputNoise("noise", 4, 16, 16, 3);
  assert.ok(z.every((v) => v >= 0 && v < 0.1));
  const mean = z.reduce((a, b) => a + b, 0) / z.length;
  assert.ok(Math.abs(mean - 0.05) < 0.005, `mean ${mean}`);
  assert.notDeepEqual(z, inputNoise("noise", 4, 16, 16, 4));
  const n = inputNoise("noise", 1, 32, 32, 3, 1, "n");
  const nMean = n.reduce((a, b) => a + b, 0) / n.length;
  const nVar = n.reduce((a, b) => a + (b - nMean) ** 2, 0) / n.length;
  assert.ok(
    Math.abs(nMean) < 0.1 && Math.abs(nVar - 1) < 0.15,
    `N(0,1): mean ${nMean}, var ${nVar}`,
  );
  const g = inputNoise("meshgrid", 2, 3, 5, 0);
  assert.deepEqual([...g.subarray(0, 5)], [0, 0.25, 0.5, 0.75, 1]); // X along the width
  assert.deepEqual([g[15], g[20], g[25]], [0, 0.5, 1]); // Y along the height
  assert.throws(() => inputNoise("meshgrid", 3, 3, 5, 0), /expected 2 channels/);
});

Deno.test("createTrainer() runs the reference engine; evaluate() is the noise-free forward", async () => {
  const plan = compilePlan(skip({ inputChannels: 2, channelsDown: [4], channelsSkip: [1] }), {
    batch: 1,
    height: 8,
    width: 8,
    dataTerm: { kind: "identity" },
    lr: 0.01,
    regNoiseStd: 0.1,
    emaDecay: 0.9,
  });
  const trainer = await createTrainer(plan, { engine: "reference" });
  assert.equal(trainer.engine, "reference");
  await trainer.reset([1]);
  trainer.upload("z0", inputNoise("noise", 2, 8, 8, 1));
  trainer.upload("target", inputNoise("noise", 3, 8, 8, 2, 1));
  const before = await trainer.evaluate();
  trainer.snapshot();
  trainer.run(2);
  assert.notDeepEqual(await trainer.evaluate(), before);
  trainer.restore();
  assert.deepEqual(await trainer.evaluate(), before, "restore() brings back the snapshot");
  assert.throws(() => trainer.upload("mask", new Float32Array(64)), /no mask/);
  assert.ok(["webgpu", "cpu"].includes(await detectEngine()));
});

Deno.test("ReferenceTrainer is deterministic for equal seeds", async () => {
  const plan = compilePlan(skip({ inputChannels: 2, channelsDown: [4], channelsSkip: [1] }), {
    batch: 1,
    height: 8,
    width: 8,
    dataTerm: { kind: "identity" },
    lr: 0.01,
    regNoiseStd: 0.1,
    emaDecay: 0,
  });
  const outputs = [];
  for (let i = 0; i < 2; i++) {
    const t = new ReferenceTrainer(plan);
    await t.reset([7]);
    t.upload("z0", inputNoise("noise", 2, 8, 8, 1));
    t.upload("target", inputNoise("noise", 3, 8, 8, 2, 1));
    t.run(3);
    outputs.push(await t.read("output"));
  }
  assert.deepEqual(outputs[0], outputs[1]);
});
