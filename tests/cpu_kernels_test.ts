/**
 * The CPU backend's wasm kernels, one step at a time, against the tfjs oracle (tests/oracle.ts)
 * and, for the step-level kinds the oracle lacks, the plain-TS reference executor. Shapes are
 * small and odd; fits have their own weights; views are channel slices with padded batch
 * strides; several threads' shares are emulated in turn on this thread.
 */
import assert from "node:assert/strict";
import type { Activation } from "../models/graph.ts";
import { lanczosTaps } from "../engine/compile.ts";
import { createArenas, runStep } from "../engine/reference.ts";
import { type Arena, gaussianAt, type Plan, type Step, type View } from "../engine/plan.ts";
import { createLocalKernels, type LocalKernels } from "../engine/cpu/local.ts";
import type { WinogradPolicy } from "../engine/cpu/memory.ts";
import {
  activation,
  activationGrad,
  adamStep,
  bnAct,
  bnActGrads,
  conv2d,
  conv2dGrads,
  convOutSize,
  maskedMse,
  maxAbsDiff,
  pool2,
  pool2Grad,
  randomArray,
  resampleDown,
  resampleDownGrad,
  upsample2,
  upsample2Grad,
} from "./oracle.ts";

const THREADS = 3;
const DUMMY: View = { arena: "io", offset: 0, batchStride: 1, c: 1, h: 1, w: 1 };

/** A plan holding only `steps` (in forward), with the given arena sizes. */
function planOf(
  steps: Step[],
  sizes: Partial<Record<Arena, number>>,
  batch: number,
  paramsPerFit = 0,
): Plan {
  const arenaSizes: Record<Arena, number> = {
    param: 0,
    grad: 0,
    adamM: 0,
    adamV: 0,
    act: 0,
    dact: 0,
    stats: 0,
    io: 1,
    scalars: 0,
  };
  Object.assign(arenaSizes, sizes);
  return {
    batch,
    height: 1,
    width: 1,
    paramsPerFit,
    arenaSizes,
    forward: steps,
    loss: [],
    backward: [],
    update: [],
    params: [],
    io: { z0: DUMMY, z: DUMMY, output: DUMMY, target: DUMMY, ema: DUMMY },
    scalars: { loss: 0, psnrObserved: 0 },
    forwardMacs: 0,
  };
}

/** A view of c×h×w at `offset` with batch stride `bs` (channel-slice views use bs > c·h·w). */
function view(arena: Arena, offset: number, bs: number, c: number, h: number, w: number): View {
  return { arena, offset, batchStride: bs, c, h, w };
}

/** Writes fit-major data into a view. */
function put(k: LocalKernels, v: View, batch: number, data: Float32Array): void {
  const n = v.c * v.h * v.w;
  for (let b = 0; b < batch; b++) {
    k.arenas[v.arena].set(data.subarray(b * n, (b + 1) * n), v.offset + b * v.batchStride);
  }
}

/** Reads fit b of a view (or all fits) fit-major. */
function get(k: LocalKernels, v: View, batch: number, only?: number): Float32Array {
  const n = v.c * v.h * v.w;
  const fits = only === undefined ? [...Array(batch).keys()] : [only];
  const out = new Float32Array(fits.length * n);
  fits.forEach((b, i) => {
    const start = v.offset + b * v.batchStride;
    out.set(k.arenas[v.arena].subarray(start, start + n), i * n);
  });
  return out;
}

function closeTo(actual: Float32Array, expected: Float32Array, tol: number, what: string): void {
  const scale = Math.max(1, ...Array.from(expected, Math.abs));
  const diff = maxAbsDiff(actual, expected);
  assert.ok(diff <= tol * scale, `${what}: max |diff| ${diff} exceeds ${tol * scale}`);
}

interface ConvCase {
  batch: number;
  cin: number;
  cout: number;
  h: number;
  w: number;
  k: number;
  stride: number;
  pad: "reflection" | "zero" | "replicate";
  bias: boolean;
}

const CONV_CASES: ConvCase[] = [
  { batch: 2, cin: 5, cout: 6, h: 7, w: 9, k: 3, stride: 1, pad: "reflection", bias: true },
  { batch: 1, cin: 3, cout: 5, h: 9, w: 6, k: 3, stride: 2, pad: "zero", bias: true },
  { batch: 2, cin: 4, cout: 3, h: 8, w: 7, k: 3, stride: 2, pad: "reflection", bias: false },
  { batch: 1, cin: 2, cout: 9, h: 6, w: 11, k: 5, stride: 1, pad: "replicate", bias: true },
  { batch: 2, cin: 7, cout: 5, h: 5, w: 13, k: 1, stride: 1, pad: "reflection", bias: true },
  { batch: 1, cin: 12, cout: 17, h: 10, w: 10, k: 3, stride: 1, pad: "reflection", bias: true },
  // More pixels than one backward-weight chunk (1024): the chunks' partial sums add up.
  { batch: 1, cin: 2, cout: 3, h: 33, w: 40, k: 3, stride: 1, pad: "zero", bias: true },
  // Winograd (policies f2, f4): replicate, odd width, tile groups on both sides of a row end.
  { batch: 2, cin: 9, cout: 6, h: 11, w: 21, k: 3, stride: 1, pad: "replicate", bias: true },
  // Winograd: more input channels than one thread's group of 8, even sizes, full fast paths.
  { batch: 1, cin: 20, cout: 13, h: 16, w: 24, k: 3, stride: 1, pad: "reflection", bias: false },
];

/**
 * The conv kernels are tested on three schedules: im2col GEMMs only, and Winograd F(2×2, 3×3)
 * or F(4×4, 3×3) for every 3×3 stride-1 conv (the "auto" policy uses them on large planes).
 */
const WINOGRAD_POLICIES: WinogradPolicy[] = ["never", "f2", "f4"];

/**
 * Lays out a conv case: x is a channel slice (offset 3 channels into a 2-channel-wider buffer),
 * y likewise; each fit has its own weights at b · paramsPerFit (+ a small offset).
 */
function convSetup(c: ConvCase) {
  const oh = convOutSize(c.h, c.k, c.stride);
  const ow = convOutSize(c.w, c.k, c.stride);
  const xs = c.cin * c.h * c.w;
  const ys = c.cout * oh * ow;
  const xbs = xs + 3 * c.h * c.w;
  const ybs = ys + 2 * oh * ow;
  const x = view("act", 2 * c.h * c.w, xbs, c.cin, c.h, c.w);
  const y = view("act", c.batch * xbs + 5, ybs, c.cout, oh, ow);
  const dy = view("dact", 7, ybs, c.cout, oh, ow);
  const dx = view("dact", 7 + c.batch * ybs + c.h * c.w, xbs, c.cin, c.h, c.w);
  const wsize = c.cout * c.cin * c.k * c.k;
  const weight = { offset: 3, size: wsize };
  const bias = c.bias ? { offset: 3 + wsize, size: c.cout } : undefined;
  const ppf = 3 + wsize + c.cout + 1;
  const sizes = {
    act: c.batch * (xbs + ybs) + 16,
    dact: c.batch * (xbs + ybs) + 2 * c.h * c.w + 16,
    param: c.batch * ppf,
    grad: c.batch * ppf,
  };
  return { oh, ow, x, y, dx, dy, weight, bias, ppf, sizes, wsize };
}

for (const winograd of WINOGRAD_POLICIES) {
  Deno.test(`conv forward (winograd ${winograd}) matches tfjs for odd sizes, stride 2, every padding, per-fit weights`, async () => {
    for (const [ci, c] of CONV_CASES.entries()) {
      const s = convSetup(c);
      const step: Step = {
        kind: "conv",
        x: s.x,
        y: s.y,
        weight: s.weight,
        ...(s.bias ? { bias: s.bias } : {}),
        k: c.k,
        stride: c.stride,
        pad: c.pad,
      };
      const k = await createLocalKernels(planOf([step], s.sizes, c.batch, s.ppf), THREADS, {
        winograd,
      });
      const xdata = randomArray(c.batch * c.cin * c.h * c.w, 10 + ci);
      put(k, s.x, c.batch, xdata);
      k.arenas.param.set(randomArray(c.batch * s.ppf, 20 + ci, 0.5));
      k.runStep(step);
      const n1 = { n: 1, c: c.cin, h: c.h, w: c.w };
      for (let b = 0; b < c.batch; b++) {
        const wb = k.arenas.param.slice(b * s.ppf + 3, b * s.ppf + 3 + s.wsize);
        const bb = s.bias
          ? k.arenas.param.slice(b * s.ppf + s.bias.offset, b * s.ppf + s.bias.offset + c.cout)
          : undefined;
        const xb = xdata.subarray(b * n1.c * n1.h * n1.w, (b + 1) * n1.c * n1.h * n1.w);
        const want = conv2d(xb, n1, wb, c.cout, c.k, bb, c.stride, c.pad).y;
        closeTo(get(k, s.y, c.batch, b), want, 1e-5, `conv case ${ci} fit ${b}`);
      }
    }
  });

  Deno.test(`conv backward (winograd ${winograd}: data with accumulate, weight, bias) matches tfjs gradients`, async () => {
    for (const [ci, c] of CONV_CASES.entries()) {
      const s = convSetup(c);
      const common = { weight: s.weight, k: c.k, stride: c.stride, pad: c.pad } as const;
      const data: Step = { kind: "conv_bwd_data", dy: s.dy, dx: s.dx, ...common, accumulate: true };
      const weight: Step = {
        kind: "conv_bwd_weight",
        x: s.x,
        dy: s.dy,
        ...common,
        ...(s.bias ? { bias: s.bias } : {}),
      };
      const k = await createLocalKernels(planOf([data, weight], s.sizes, c.batch, s.ppf), THREADS, {
        winograd,
      });
      const xdata = randomArray(c.batch * c.cin * c.h * c.w, 30 + ci);
      const dydata = randomArray(c.batch * c.cout * s.oh * s.ow, 40 + ci);
      const prior = randomArray(c.batch * c.cin * c.h * c.w, 50 + ci);
      put(k, s.x, c.batch, xdata);
      put(k, s.dy, c.batch, dydata);
      put(k, s.dx, c.batch, prior);
      k.arenas.param.set(randomArray(c.batch * s.ppf, 60 + ci, 0.5));
      k.arenas.grad.fill(123); // overwritten, never accumulated
      const plan = planOf([data, weight], s.sizes, c.batch, s.ppf);
      const ref = createArenas(plan);
      ref.dact.set(k.arenas.dact);
      ref.param.set(k.arenas.param);
      runStep(data, ref, { batch: c.batch, paramsPerFit: s.ppf, step: 0, noiseSeeds: [] });
      const referenceDx = new Float32Array(c.batch * c.cin * c.h * c.w);
      for (let b = 0; b < c.batch; b++) {
        const at = s.dx.offset + b * s.dx.batchStride;
        referenceDx.set(ref.dact.subarray(at, at + c.cin * c.h * c.w), b * c.cin * c.h * c.w);
      }
      k.runStep(data);
      k.runStep(weight);
      const n1 = { n: 1, c: c.cin, h: c.h, w: c.w };
      const xn = c.cin * c.h * c.w;
      const yn = c.cout * s.oh * s.ow;
      for (let b = 0; b < c.batch; b++) {
        const wb = k.arenas.param.slice(b * s.ppf + 3, b * s.ppf + 3 + s.wsize);
        const g = conv2dGrads(
          xdata.subarray(b * xn, (b + 1) * xn),
          n1,
          wb,
          c.cout,
          c.k,
          c.stride,
          c.pad,
          dydata.subarray(b * yn, (b + 1) * yn),
        );
        // tfjs' MirrorPad gradient only slices dy (it drops the reflected border's share), so
        // reflection's dx comes from the reference executor instead; dW and dbias are unaffected.
        const dxWant = c.pad === "reflection"
          ? referenceDx.subarray(b * xn, (b + 1) * xn)
          : g.dx.map((v, i) => v + prior[b * xn + i]!);
        closeTo(get(k, s.dx, c.batch, b), dxWant, 1e-5, `conv_bwd_data case ${ci} fit ${b}`);
        const dw = k.arenas.grad.slice(b * s.ppf + 3, b * s.ppf + 3 + s.wsize);
        closeTo(dw, g.dw, 1e-5, `conv_bwd_weight case ${ci} fit ${b}`);
        if (s.bias) {
          const at = b * s.ppf + s.bias.offset;
          closeTo(k.arenas.grad.slice(at, at + c.cout), g.dbias, 1e-5, `dbias case ${ci} fit ${b}`);
        }
      }
    }
  });
}

const ACTS: Activation[] = ["leaky_relu", "relu", "swish", "elu", "sigmoid", "none"];

Deno.test("bn_act forward and backward match tfjs per fit for every activation", async () => {
  const batch = 2, c = 3, h = 5, w = 7;
  const n = c * h * w;
  const bs = n + 2 * h * w;
  const x = view("act", h * w, bs, c, h, w);
  const y = view("act", batch * bs + 3, n, c, h, w);
  const dy = view("dact", 1, n, c, h, w);
  const dx = view("dact", 1 + batch * n, bs, c, h, w);
  const ppf = 2 * c + 2;
  const gamma = { offset: 1, size: c };
  const beta = { offset: 1 + c, size: c };
  const stats = { offset: 4, batchStride: 2 * c, channels: c };
  for (const [ai, act] of ACTS.entries()) {
    const fwd: Step = { kind: "bn_act", x, y, gamma, beta, stats, act };
    const bwd: Step = {
      kind: "bn_act_bwd",
      x,
      dy,
      dx,
      gamma,
      beta,
      stats,
      act,
      accumulate: ai % 2 === 1,
    };
    const sizes = {
      act: batch * bs + 3 + batch * n,
      dact: 1 + batch * (n + bs),
      param: batch * ppf,
    };
    const k = await createLocalKernels(
      planOf([fwd, bwd], { ...sizes, grad: batch * ppf, stats: 4 + 2 * c * batch }, batch, ppf),
      THREADS,
    );
    const xdata = randomArray(batch * n, 70 + ai, 2);
    const dydata = randomArray(batch * n, 80 + ai);
    const prior = randomArray(batch * n, 90 + ai);
    put(k, x, batch, xdata);
    put(k, dy, batch, dydata);
    put(k, dx, batch, prior);
    k.arenas.param.set(randomArray(batch * ppf, 100 + ai));
    k.runStep(fwd);
    k.runStep(bwd);
    for (let b = 0; b < batch; b++) {
      const g = k.arenas.param.slice(b * ppf + 1, b * ppf + 1 + c);
      const be = k.arenas.param.slice(b * ppf + 1 + c, b * ppf + 1 + 2 * c);
      const s1 = { n: 1, c, h, w };
      const xb = xdata.subarray(b * n, (b + 1) * n);
      const want = bnAct(xb, s1, g, be, act);
      closeTo(get(k, y, batch, b), want.y, 1e-5, `bn_act ${act} fit ${b}`);
      const st = k.arenas.stats.slice(4 + b * 2 * c, 4 + (b + 1) * 2 * c);
      closeTo(st.slice(0, c), want.mean, 1e-5, `bn mean ${act}`);
      closeTo(st.slice(c), want.invStd, 1e-4, `bn invStd ${act}`);
      const gr = bnActGrads(xb, s1, g, be, act, dydata.subarray(b * n, (b + 1) * n));
      const dxWant = bwd.accumulate ? gr.dx.map((v, i) => v + prior[b * n + i]!) : gr.dx;
      closeTo(get(k, dx, batch, b), dxWant, 1e-4, `bn_act_bwd dx ${act} fit ${b}`);
      closeTo(
        k.arenas.grad.slice(b * ppf + 1, b * ppf + 1 + c),
        gr.dgamma,
        1e-4,
        `dgamma ${act}`,
      );
      closeTo(
        k.arenas.grad.slice(b * ppf + 1 + c, b * ppf + 1 + 2 * c),
        gr.dbeta,
        1e-4,
        `dbeta ${act}`,
      );
    }
  }
});

Deno.test("act forward and backward match tfjs for every activation", async () => {
  const batch = 2, c = 2, h = 3, w = 5;
  const n = c * h * w;
  const x = view("act", 0, n + 4, c, h, w);
  const y = view("act", 2 * (n + 4), n, c, h, w);
  const dy = view("dact", 0, n, c, h, w);
  const dx = view("dact", 2 * n, n + 1, c, h, w);
  for (const [ai, act] of ACTS.entries()) {
    const fwd: Step = { kind: "act", x, y, act };
    const bwd: Step = { kind: "act_bwd", x, y, dy, dx, act, accumulate: false };
    const k = await createLocalKernels(
      planOf([fwd, bwd], { act: 4 * n + 8, dact: 4 * n + 4 }, batch),
      THREADS,
    );
    const xdata = randomArray(batch * n, 110 + ai, 3);
    const dydata = randomArray(batch * n, 120 + ai);
    put(k, x, batch, xdata);
    put(k, dy, batch, dydata);
    k.runStep(fwd);
    k.runStep(bwd);
    closeTo(get(k, y, batch), activation(xdata, act), 1e-6, `act ${act}`);
    // tf.grad of the identity has no path from x to y; its gradient is dy itself.
    const dxWant = act === "none" ? dydata : activationGrad(xdata, act, dydata);
    closeTo(get(k, dx, batch), dxWant, 1e-6, `act_bwd ${act}`);
  }
});

Deno.test("pool and upsample forward and backward match tfjs on odd sizes", async () => {
  const batch = 2, c = 3, h = 7, w = 5;
  const n = c * h * w;
  const s = { n: batch, c, h, w };
  for (const mode of ["avg", "max"] as const) {
    const x = view("act", 0, n, c, h, w);
    const y = view("act", batch * n, 2 * n, c, h >> 1, w >> 1);
    const dy = view("dact", 0, n, c, h >> 1, w >> 1);
    const dx = view("dact", batch * n, n, c, h, w);
    const fwd: Step = { kind: "pool", x, y, mode };
    const bwd: Step = { kind: "pool_bwd", x, dy, dx, mode, accumulate: false };
    const k = await createLocalKernels(
      planOf([fwd, bwd], { act: 3 * batch * n, dact: 2 * batch * n }, batch),
      THREADS,
    );
    const xdata = randomArray(batch * n, 130);
    const dydata = randomArray(batch * c * (h >> 1) * (w >> 1), 131);
    put(k, x, batch, xdata);
    put(k, dy, batch, dydata);
    k.arenas.dact.fill(9, batch * n); // pool_bwd must zero the cells no window covers
    k.runStep(fwd);
    k.runStep(bwd);
    closeTo(get(k, y, batch), pool2(xdata, s, mode), 1e-6, `pool ${mode}`);
    closeTo(get(k, dx, batch), pool2Grad(xdata, s, mode, dydata), 1e-6, `pool_bwd ${mode}`);
  }
  // 13 columns: the ×2 bilinear kernels' vector interior (4 columns at a time) and its tail.
  for (
    const [mode, h, w] of [["nearest", 7, 5], ["bilinear", 7, 5], ["bilinear", 4, 13]] as const
  ) {
    const n = c * h * w;
    const s = { n: batch, c, h, w };
    const x = view("act", 0, n + 3, c, h, w);
    const y = view("act", batch * (n + 3), 4 * n, c, 2 * h, 2 * w);
    const dy = view("dact", 0, 4 * n, c, 2 * h, 2 * w);
    const dx = view("dact", 4 * batch * n, n, c, h, w);
    const fwd: Step = { kind: "upsample", x, y, mode };
    const bwd: Step = { kind: "upsample_bwd", dy, dx, mode, accumulate: true };
    const k = await createLocalKernels(
      planOf([fwd, bwd], { act: 5 * batch * n + 6, dact: 5 * batch * n }, batch),
      THREADS,
    );
    const xdata = randomArray(batch * n, 140);
    const dydata = randomArray(4 * batch * n, 141);
    const prior = randomArray(batch * n, 142);
    put(k, x, batch, xdata);
    put(k, dy, batch, dydata);
    put(k, dx, batch, prior);
    k.runStep(fwd);
    k.runStep(bwd);
    closeTo(get(k, y, batch), upsample2(xdata, s, mode), 1e-6, `upsample ${mode}`);
    const want = upsample2Grad(s, mode, dydata).map((v, i) => v + prior[i]!);
    closeTo(get(k, dx, batch), want, 1e-5, `upsample_bwd ${mode}`);
  }
});

Deno.test("resample_down forward and backward match tfjs (Lanczos2, factors 2 and 4)", async () => {
  for (const factor of [2, 4]) {
    const batch = 2, c = 3, h = 4 * factor, w = 3 * factor;
    const taps = lanczosTaps(factor);
    const pad = (taps.length - factor) / 2;
    const n = c * h * w;
    const on = c * (h / factor) * (w / factor);
    const x = view("act", 0, n, c, h, w);
    const y = view("act", batch * n, on, c, h / factor, w / factor);
    const dy = view("dact", 0, on, c, h / factor, w / factor);
    const dx = view("dact", batch * on, n, c, h, w);
    const fwd: Step = { kind: "resample_down", x, y, factor, taps, pad };
    const bwd: Step = { kind: "resample_down_bwd", dy, dx, factor, taps, pad, accumulate: false };
    const k = await createLocalKernels(
      planOf([fwd, bwd], { act: batch * (n + on), dact: batch * (n + on) }, batch),
      THREADS,
    );
    const xdata = randomArray(batch * n, 150 + factor);
    const dydata = randomArray(batch * on, 160 + factor);
    put(k, x, batch, xdata);
    put(k, dy, batch, dydata);
    k.arenas.dact.fill(5, batch * on);
    k.runStep(fwd);
    k.runStep(bwd);
    const s = { n: batch, c, h, w };
    closeTo(get(k, y, batch), resampleDown(xdata, s, factor, taps, pad).y, 1e-5, "resample");
    closeTo(
      get(k, dx, batch),
      resampleDownGrad(s, factor, taps, pad, dydata),
      1e-5,
      "resample_bwd",
    );
  }
});

Deno.test("mse_loss (masked and not) and adam match tfjs and PyTorch's Adam", async () => {
  const batch = 2, c = 3, h = 5, w = 3;
  const n = c * h * w;
  const pred = view("io", 0, n, c, h, w);
  const target = view("io", batch * n, n, c, h, w);
  const mask = view("io", 2 * batch * n, h * w, 1, h, w);
  const dpred = view("dact", 0, n + 2, c, h, w);
  for (const masked of [false, true]) {
    const loss: Step = {
      kind: "mse_loss",
      pred,
      target,
      ...(masked ? { mask } : {}),
      dpred,
      lossOffset: 1,
    };
    const k = await createLocalKernels(
      planOf([loss], { io: 3 * batch * n, dact: batch * (n + 2), scalars: 4 }, batch),
      THREADS,
    );
    const p = randomArray(batch * n, 170);
    const t = randomArray(batch * n, 171);
    const m = randomArray(batch * h * w, 172).map((v) => (v > 0 ? 1 : 0));
    put(k, pred, batch, p);
    put(k, target, batch, t);
    put(k, mask, batch, m);
    k.runStep(loss);
    const want = maskedMse(p, t, masked ? m : undefined, { n: batch, c, h, w });
    closeTo(k.arenas.scalars.slice(1, 1 + batch), want.loss, 1e-6, `loss masked=${masked}`);
    closeTo(get(k, dpred, batch), want.dpred, 1e-6, `dpred masked=${masked}`);
  }
  const size = 4 * 37 + 3; // not a multiple of 4: the scalar tail runs too
  const adam: Step = { kind: "adam", size, lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
  const k = await createLocalKernels(
    planOf([adam], { param: size, grad: size, adamM: size, adamV: size }, 1),
    THREADS,
  );
  const p = randomArray(size, 180);
  const m = randomArray(size, 181, 0.1);
  const v = randomArray(size, 182, 0.01).map(Math.abs);
  k.arenas.param.set(p);
  k.arenas.adamM.set(m);
  k.arenas.adamV.set(v);
  for (let step = 0; step < 3; step++) {
    const g = randomArray(size, 190 + step);
    k.arenas.grad.set(g);
    k.runStep(adam, step);
    adamStep(p, g, m, v, step, 0.01, 0.9, 0.999, 1e-8);
  }
  closeTo(k.arenas.param, p, 1e-6, "adam param");
  closeTo(k.arenas.adamM, m, 1e-6, "adam m");
  closeTo(k.arenas.adamV, v, 1e-6, "adam v");
});

Deno.test("gaussian_at is bit-identical to gaussianAt and input_noise draws from it", async () => {
  const batch = 2, c = 2, h = 3, w = 7;
  const n = c * h * w;
  const z0 = view("io", 0, n + 1, c, h, w);
  const z = view("io", 2 * (n + 1), n, c, h, w);
  const noise: Step = { kind: "input_noise", z0, z, std: 0.05 };
  const k = await createLocalKernels(planOf([noise], { io: 4 * n + 2 }, batch), THREADS);
  const gauss = k.kernels.gaussian_at!;
  let mismatches = 0;
  for (let i = 0; i < 4000; i++) {
    const seed = (i * 2654435761) >>> 0, step = i % 97, index = i * 7919;
    if (gauss(seed, step, index) !== gaussianAt(seed, step, index)) mismatches++;
  }
  assert.equal(mismatches, 0);
  const z0data = randomArray(batch * n, 200);
  put(k, z0, batch, z0data);
  k.setNoiseSeeds([11, 4242]);
  k.runStep(noise, 5);
  const want = z0data.map((v, i) => {
    const b = Math.floor(i / n);
    return v + 0.05 * gaussianAt(b === 0 ? 11 : 4242, 5, i % n);
  });
  closeTo(get(k, z, batch), want, 1e-6, "input_noise");
});

Deno.test("crop, add, copy_grad, ema, psnr and wmv match the reference executor", async () => {
  const batch = 2, c = 3, h = 6, w = 5;
  const n = c * h * w;
  const big = view("act", 0, n + 5, c, h, w);
  const small = view("act", batch * (n + 5), c * 3 * 4, c, 3, 4);
  const other = view("act", batch * (n + 5) + batch * 36, n, c, h, w);
  const sum = view("act", batch * (n + 5) + batch * 36 + batch * n, n, c, h, w);
  const dsmall = view("dact", 0, 36, c, 3, 4);
  const dbig = view("dact", batch * 36, n, c, h, w);
  const dcopy = view("dact", batch * 36 + batch * n, n + 3, c, h, w);
  const ema = view("io", 0, n, c, h, w);
  const window = 3;
  const ring = view("io", batch * n, window * n, c, h, w);
  const best = view("io", batch * n + batch * window * n, n, c, h, w);
  const steps: Step[] = [
    { kind: "crop_copy", x: big, y: small },
    { kind: "add", a: big, b: other, y: sum },
    { kind: "crop_copy_bwd", dy: dsmall, dx: dbig, accumulate: true },
    { kind: "copy_grad", dy: dbig, dx: dcopy, accumulate: true },
    { kind: "ema", x: sum, ema, decay: 0.9 },
    { kind: "psnr", a: big, b: other, offset: 0 },
    {
      kind: "wmv",
      x: big,
      ring,
      window,
      best,
      varOffset: 2,
      minOffset: 4,
      argminOffset: 6,
    },
  ];
  const sizes = {
    act: batch * (n + 5) + batch * (36 + 2 * n),
    dact: batch * (36 + n + n + 3),
    io: batch * n * (window + 2),
    scalars: 8,
  };
  const plan = planOf(steps, sizes, batch);
  const k = await createLocalKernels(plan, THREADS);
  const ref = createArenas(plan);
  for (const a of ["act", "dact", "io"] as const) {
    const data = randomArray(sizes[a], 210 + a.length, 0.5).map((v) => v + 0.5);
    k.arenas[a].set(data);
    ref[a].set(data);
  }
  // The trainer's initial state: minima at +∞, the rest 0.
  for (const a of [k.arenas.scalars, ref.scalars]) a.fill(0).fill(Infinity, 4, 6);
  for (let step = 0; step < 5; step++) {
    // Fresh values each step so EMA and the variance window see change.
    const x = randomArray(batch * (n + 5), 220 + step, 0.5).map((v) => v + 0.5);
    k.arenas.act.set(x);
    ref.act.set(x);
    for (const s of steps) {
      k.runStep(s, step);
      runStep(s, ref, { batch, paramsPerFit: 0, step, noiseSeeds: [0, 0] });
    }
    for (const a of ["act", "dact", "io"] as const) {
      closeTo(k.arenas[a], ref[a], 1e-5, `${a} after step ${step}`);
    }
    const finite = (a: Float32Array) => a.map((v) => (Number.isFinite(v) ? v : -1));
    closeTo(finite(k.arenas.scalars), finite(ref.scalars), 1e-5, `scalars after step ${step}`);
  }
  assert.ok(Number.isFinite(k.arenas.scalars[4]!), "wmv set a minimum once the window filled");
});
