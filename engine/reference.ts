/**
 * The reference executor: every {@link Step} kind of engine/plan.ts in plain TypeScript over
 * `Float32Array` arenas. Sums are taken in float64 and stored as float32. Slow on purpose:
 * obviously correct loops, the yardstick every backend is compared with.
 *
 * @module
 */
import type { Activation } from "./plan.ts";
import type { StepScalars, Trainer } from "./backend.ts";
import { initParams } from "./init.ts";
import {
  type Arena,
  gaussianAt,
  type ParamRef,
  type Plan,
  type Step,
  type StepKind,
  type StepOf,
  type View,
} from "./plan.ts";

/** One Float32Array per arena, sized as `plan.arenaSizes`. */
export type Arenas = Record<Arena, Float32Array>;

/** What a step needs besides its own fields. */
export interface StepContext {
  /** Fits in the plan. */
  readonly batch: number;
  /** Floats between fit b's and fit b+1's parameters. */
  readonly paramsPerFit: number;
  /** Training steps run since reset (0 for the first); drives Adam's t, EMA, WMV, noise. */
  readonly step: number;
  /** Per-fit seeds of the input noise. */
  readonly noiseSeeds: readonly number[];
}

/** BN epsilon (PyTorch BatchNorm2d default). */
const BN_EPS = 1e-5;
/** LeakyReLU slope (reference `act('LeakyReLU')` = nn.LeakyReLU(0.2)). */
const LEAKY_SLOPE = 0.2;

/** Fresh zeroed arenas for a plan. */
export function createArenas(plan: Plan): Arenas {
  const out = {} as Arenas;
  for (const [name, size] of Object.entries(plan.arenaSizes) as [Arena, number][]) {
    out[name] = new Float32Array(size);
  }
  return out;
}

// ---- element access ---------------------------------------------------------------------

/** Copies fit b of a view into a dense c×h×w Float64Array. */
function readFit(arenas: Arenas, v: View, b: number): Float64Array {
  const a = arenas[v.arena];
  const out = new Float64Array(v.c * v.h * v.w);
  const base = v.offset + b * v.batchStride;
  for (let i = 0; i < out.length; i++) out[i] = a[base + i]!;
  return out;
}

/** Writes (or adds) a dense c×h×w array into fit b of a view. */
function writeFit(
  arenas: Arenas,
  v: View,
  b: number,
  data: ArrayLike<number>,
  accumulate = false,
): void {
  const a = arenas[v.arena];
  const base = v.offset + b * v.batchStride;
  const n = v.c * v.h * v.w;
  if (data.length !== n) {
    throw new Error(`reference: expected ${n} values for a view but received ${data.length}`);
  }
  for (let i = 0; i < n; i++) a[base + i] = accumulate ? a[base + i]! + data[i]! : data[i]!;
}

function paramsOf(
  arenas: Arenas,
  arena: "param" | "grad",
  ref: ParamRef,
  b: number,
  ctx: StepContext,
): Float32Array {
  const start = b * ctx.paramsPerFit + ref.offset;
  return arenas[arena].subarray(start, start + ref.size);
}

/**
 * Maps a padded coordinate i ∈ [−p, n + p) to a source index, or −1 for a zero pad.
 * Reflection mirrors without repeating the edge (ReflectionPad2d); replicate clamps.
 */
function padIndex(i: number, n: number, mode: "reflection" | "zero" | "replicate"): number {
  if (i >= 0 && i < n) return i;
  if (mode === "zero") return -1;
  if (mode === "replicate") return i < 0 ? 0 : n - 1;
  const r = i < 0 ? -i : 2 * (n - 1) - i;
  if (r < 0 || r >= n) {
    throw new RangeError(
      `reference: reflection padding needs a size > ${Math.abs(i)} but received ${n}`,
    );
  }
  return r;
}

// ---- activations ------------------------------------------------------------------------

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** act(x). */
export function activate(act: Activation, x: number): number {
  switch (act) {
    case "leaky_relu":
      return x > 0 ? x : LEAKY_SLOPE * x;
    case "relu":
      return x > 0 ? x : 0;
    case "swish":
      return x * sigmoid(x);
    case "elu":
      return x > 0 ? x : Math.exp(x) - 1; // alpha 1 (nn.ELU default)
    case "sigmoid":
      return sigmoid(x);
    case "none":
      return x;
  }
}

/** d act(x) / dx, from the pre-activation x. */
export function activateGrad(act: Activation, x: number): number {
  switch (act) {
    case "leaky_relu":
      return x > 0 ? 1 : LEAKY_SLOPE;
    case "relu":
      return x > 0 ? 1 : 0;
    case "swish": {
      const s = sigmoid(x);
      return s + x * s * (1 - s);
    }
    case "elu":
      return x > 0 ? 1 : Math.exp(x);
    case "sigmoid": {
      const s = sigmoid(x);
      return s * (1 - s);
    }
    case "none":
      return 1;
  }
}

// ---- kernels ----------------------------------------------------------------------------

interface ConvGeometry {
  readonly k: number;
  readonly stride: number;
  readonly pad: "reflection" | "zero" | "replicate";
  readonly padding?: number;
}

/**
 * Calls f(co, oy, ox, ci, ky, kx, sourceIndexInFit) for every tap of a conv with input shape
 * x and output shape y that reads a real (non-zero-pad) input element.
 */
function forEachTap(
  x: View,
  y: View,
  g: ConvGeometry,
  f: (co: number, o: number, ci: number, wi: number, xi: number) => void,
): void {
  const p = g.padding ?? (g.k - 1) / 2;
  for (let co = 0; co < y.c; co++) {
    for (let oy = 0; oy < y.h; oy++) {
      for (let ox = 0; ox < y.w; ox++) {
        const o = (co * y.h + oy) * y.w + ox;
        for (let ci = 0; ci < x.c; ci++) {
          for (let ky = 0; ky < g.k; ky++) {
            const sy = padIndex(oy * g.stride + ky - p, x.h, g.pad);
            if (sy < 0) continue;
            for (let kx = 0; kx < g.k; kx++) {
              const sx = padIndex(ox * g.stride + kx - p, x.w, g.pad);
              if (sx < 0) continue;
              f(co, o, ci, ((co * x.c + ci) * g.k + ky) * g.k + kx, (ci * x.h + sy) * x.w + sx);
            }
          }
        }
      }
    }
  }
}

function conv(arenas: Arenas, s: Extract<Step, { kind: "conv" }>, ctx: StepContext): void {
  for (let b = 0; b < ctx.batch; b++) {
    const x = readFit(arenas, s.x, b);
    const w = paramsOf(arenas, "param", s.weight, b, ctx);
    const bias = s.bias ? paramsOf(arenas, "param", s.bias, b, ctx) : undefined;
    const y = new Float64Array(s.y.c * s.y.h * s.y.w);
    for (let co = 0; co < s.y.c; co++) {
      y.fill(bias ? bias[co]! : 0, co * s.y.h * s.y.w, (co + 1) * s.y.h * s.y.w);
    }
    forEachTap(s.x, s.y, s, (_co, o, _ci, wi, xi) => {
      y[o]! += w[wi]! * x[xi]!;
    });
    writeFit(arenas, s.y, b, y);
  }
}

function convBwdData(
  arenas: Arenas,
  s: Extract<Step, { kind: "conv_bwd_data" }>,
  ctx: StepContext,
): void {
  for (let b = 0; b < ctx.batch; b++) {
    const dy = readFit(arenas, s.dy, b);
    const w = paramsOf(arenas, "param", s.weight, b, ctx);
    const dx = new Float64Array(s.dx.c * s.dx.h * s.dx.w);
    forEachTap(s.dx, s.dy, s, (_co, o, _ci, wi, xi) => {
      dx[xi]! += w[wi]! * dy[o]!;
    });
    writeFit(arenas, s.dx, b, dx, s.accumulate);
  }
}

function convBwdWeight(
  arenas: Arenas,
  s: Extract<Step, { kind: "conv_bwd_weight" }>,
  ctx: StepContext,
): void {
  for (let b = 0; b < ctx.batch; b++) {
    const x = readFit(arenas, s.x, b);
    const dy = readFit(arenas, s.dy, b);
    const dw = new Float64Array(s.weight.size);
    forEachTap(s.x, s.dy, s, (_co, o, _ci, wi, xi) => {
      dw[wi]! += dy[o]! * x[xi]!;
    });
    paramsOf(arenas, "grad", s.weight, b, ctx).set(dw);
    if (s.bias) {
      const db = paramsOf(arenas, "grad", s.bias, b, ctx);
      const plane = s.dy.h * s.dy.w;
      for (let co = 0; co < s.dy.c; co++) {
        let sum = 0;
        for (let i = 0; i < plane; i++) sum += dy[co * plane + i]!;
        db[co] = sum;
      }
    }
  }
}

function bnAct(arenas: Arenas, s: Extract<Step, { kind: "bn_act" }>, ctx: StepContext): void {
  const plane = s.x.h * s.x.w;
  for (let b = 0; b < ctx.batch; b++) {
    const x = readFit(arenas, s.x, b);
    const gamma = paramsOf(arenas, "param", s.gamma, b, ctx);
    const beta = paramsOf(arenas, "param", s.beta, b, ctx);
    const y = new Float64Array(x.length);
    const statsBase = s.stats.offset + b * s.stats.batchStride;
    for (let c = 0; c < s.x.c; c++) {
      let mean = 0;
      for (let i = 0; i < plane; i++) mean += x[c * plane + i]!;
      mean /= plane;
      let variance = 0; // biased, as BatchNorm2d in training mode
      for (let i = 0; i < plane; i++) variance += (x[c * plane + i]! - mean) ** 2;
      variance /= plane;
      const invStd = 1 / Math.sqrt(variance + BN_EPS);
      arenas.stats[statsBase + c] = mean;
      arenas.stats[statsBase + s.stats.channels + c] = invStd;
      for (let i = 0; i < plane; i++) {
        const j = c * plane + i;
        y[j] = activate(s.act, gamma[c]! * (x[j]! - mean) * invStd + beta[c]!);
      }
    }
    writeFit(arenas, s.y, b, y);
  }
}

function bnActBwd(
  arenas: Arenas,
  s: Extract<Step, { kind: "bn_act_bwd" }>,
  ctx: StepContext,
): void {
  const plane = s.x.h * s.x.w;
  for (let b = 0; b < ctx.batch; b++) {
    const x = readFit(arenas, s.x, b);
    const dy = readFit(arenas, s.dy, b);
    const gamma = paramsOf(arenas, "param", s.gamma, b, ctx);
    const beta = paramsOf(arenas, "param", s.beta, b, ctx);
    const dgamma = paramsOf(arenas, "grad", s.gamma, b, ctx);
    const dbeta = paramsOf(arenas, "grad", s.beta, b, ctx);
    const statsBase = s.stats.offset + b * s.stats.batchStride;
    const dx = new Float64Array(x.length);
    for (let c = 0; c < s.x.c; c++) {
      const mean = arenas.stats[statsBase + c]!;
      const invStd = arenas.stats[statsBase + s.stats.channels + c]!;
      const xhat = new Float64Array(plane);
      const dpre = new Float64Array(plane);
      let sumD = 0, sumDX = 0;
      for (let i = 0; i < plane; i++) {
        xhat[i] = (x[c * plane + i]! - mean) * invStd;
        dpre[i] = dy[c * plane + i]! * activateGrad(s.act, gamma[c]! * xhat[i]! + beta[c]!);
        sumD += dpre[i]!;
        sumDX += dpre[i]! * xhat[i]!;
      }
      dgamma[c] = sumDX;
      dbeta[c] = sumD;
      const scale = gamma[c]! * invStd / plane;
      for (let i = 0; i < plane; i++) {
        dx[c * plane + i] = scale * (plane * dpre[i]! - sumD - xhat[i]! * sumDX);
      }
    }
    writeFit(arenas, s.dx, b, dx, s.accumulate);
  }
}

function pool(arenas: Arenas, s: Extract<Step, { kind: "pool" }>, ctx: StepContext): void {
  for (let b = 0; b < ctx.batch; b++) {
    const x = readFit(arenas, s.x, b);
    const y = new Float64Array(s.y.c * s.y.h * s.y.w);
    for (let c = 0; c < s.y.c; c++) {
      for (let oy = 0; oy < s.y.h; oy++) {
        for (let ox = 0; ox < s.y.w; ox++) {
          const v = [0, 1, 2, 3].map((t) =>
            x[(c * s.x.h + 2 * oy + (t >> 1)) * s.x.w + 2 * ox + (t & 1)]!
          );
          y[(c * s.y.h + oy) * s.y.w + ox] = s.mode === "avg"
            ? (v[0]! + v[1]! + v[2]! + v[3]!) / 4
            : Math.max(...v);
        }
      }
    }
    writeFit(arenas, s.y, b, y);
  }
}

function poolBwd(arenas: Arenas, s: Extract<Step, { kind: "pool_bwd" }>, ctx: StepContext): void {
  for (let b = 0; b < ctx.batch; b++) {
    const x = readFit(arenas, s.x, b);
    const dy = readFit(arenas, s.dy, b);
    const dx = new Float64Array(x.length);
    for (let c = 0; c < s.dy.c; c++) {
      for (let oy = 0; oy < s.dy.h; oy++) {
        for (let ox = 0; ox < s.dy.w; ox++) {
          const g = dy[(c * s.dy.h + oy) * s.dy.w + ox]!;
          const idx = [0, 1, 2, 3].map((t) =>
            (c * s.x.h + 2 * oy + (t >> 1)) * s.x.w + 2 * ox + (t & 1)
          );
          if (s.mode === "avg") {
            for (const i of idx) dx[i]! += g / 4;
          } else {
            let best = idx[0]!; // the first maximum in row-major order, as PyTorch
            for (const i of idx) if (x[i]! > x[best]!) best = i;
            dx[best]! += g;
          }
        }
      }
    }
    writeFit(arenas, s.dx, b, dx, s.accumulate);
  }
}

/** Source taps along one axis: for each output index, its [input index, weight] pairs. */
type AxisTaps = readonly (readonly (readonly [number, number])[])[];

/** Taps of ×2 upsampling along an axis from `n` to 2·`n`. */
function upTaps(n: number, mode: "nearest" | "bilinear"): AxisTaps {
  return Array.from({ length: 2 * n }, (_, o): [number, number][] => {
    if (mode === "nearest") return [[o >> 1, 1]];
    // align_corners=False: src = (o + 0.5) / 2 − 0.5, clamped at 0 (PyTorch area_pixel_compute_source_index).
    const src = Math.max(0, (o + 0.5) / 2 - 0.5);
    const i0 = Math.floor(src);
    const i1 = i0 < n - 1 ? i0 + 1 : i0;
    const l1 = src - i0;
    return [[i0, 1 - l1], [i1, l1]];
  });
}

/** Taps of a centre crop from `big` to `small` (reference Concat: offset (big − small) // 2). */
function cropTaps(big: number, small: number): AxisTaps {
  const offset = Math.floor((big - small) / 2);
  return Array.from({ length: small }, (_, o) => [[o + offset, 1] as const]);
}

/** Taps of the strided correlation of `resample_down` along an axis of `n`, replicate padded. */
function resampleTaps(
  n: number,
  out: number,
  s: { readonly factor: number; readonly taps: readonly number[]; readonly pad: number },
): AxisTaps {
  return Array.from(
    { length: out },
    (_, o) =>
      s.taps.map((w, i) => [padIndex(o * s.factor + i - s.pad, n, "replicate"), w] as const),
  );
}

/**
 * A separable linear resampling of every channel: y[c, oy, ox] = Σ rows[oy] × cols[ox] of
 * x[c, sy, sx] · wy · wx — ×2 upsampling, centre cropping and `resample_down` alike.
 */
function separableForward(
  arenas: Arenas,
  x: View,
  y: View,
  rows: AxisTaps,
  cols: AxisTaps,
  ctx: StepContext,
): void {
  for (let b = 0; b < ctx.batch; b++) {
    const xs = readFit(arenas, x, b);
    const ys = new Float64Array(y.c * y.h * y.w);
    for (let c = 0; c < y.c; c++) {
      for (let oy = 0; oy < y.h; oy++) {
        for (let ox = 0; ox < y.w; ox++) {
          let sum = 0;
          for (const [sy, wy] of rows[oy]!) {
            for (const [sx, wx] of cols[ox]!) sum += wy * wx * xs[(c * x.h + sy) * x.w + sx]!;
          }
          ys[(c * y.h + oy) * y.w + ox] = sum;
        }
      }
    }
    writeFit(arenas, y, b, ys);
  }
}

/** The transpose of {@link separableForward}: scatters dy back along the same taps. */
function separableBackward(
  arenas: Arenas,
  dy: View,
  dx: View,
  rows: AxisTaps,
  cols: AxisTaps,
  accumulate: boolean,
  ctx: StepContext,
): void {
  for (let b = 0; b < ctx.batch; b++) {
    const g = readFit(arenas, dy, b);
    const out = new Float64Array(dx.c * dx.h * dx.w);
    for (let c = 0; c < dy.c; c++) {
      for (let oy = 0; oy < dy.h; oy++) {
        for (let ox = 0; ox < dy.w; ox++) {
          const v = g[(c * dy.h + oy) * dy.w + ox]!;
          for (const [sy, wy] of rows[oy]!) {
            for (const [sx, wx] of cols[ox]!) out[(c * dx.h + sy) * dx.w + sx]! += wy * wx * v;
          }
        }
      }
    }
    writeFit(arenas, dx, b, out, accumulate);
  }
}

function mseLoss(arenas: Arenas, s: Extract<Step, { kind: "mse_loss" }>, ctx: StepContext): void {
  const plane = s.pred.h * s.pred.w;
  const n = s.pred.c * plane;
  for (let b = 0; b < ctx.batch; b++) {
    const pred = readFit(arenas, s.pred, b);
    const target = readFit(arenas, s.target, b);
    const mask = s.mask ? readFit(arenas, s.mask, b) : undefined;
    const dpred = new Float64Array(n);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const m = mask ? mask[i % plane]! : 1;
      const d = pred[i]! - target[i]!;
      loss += (m * d) ** 2;
      dpred[i] = 2 * m * m * d / n;
    }
    arenas.scalars[s.lossOffset + b] = loss / n;
    writeFit(arenas, s.dpred, b, dpred);
  }
}

function adam(arenas: Arenas, s: Extract<Step, { kind: "adam" }>, ctx: StepContext): void {
  // PyTorch Adam: bias-corrected step lr/(1 − β1^t), denominator √v/√(1 − β2^t) + ε.
  const t = ctx.step + 1;
  const c1 = 1 - s.beta1 ** t;
  const c2 = 1 - s.beta2 ** t;
  const { param, grad, adamM, adamV } = arenas;
  for (let i = 0; i < s.size; i++) {
    const g = grad[i]!;
    const m = s.beta1 * adamM[i]! + (1 - s.beta1) * g;
    const v = s.beta2 * adamV[i]! + (1 - s.beta2) * g * g;
    adamM[i] = m;
    adamV[i] = v;
    param[i] = param[i]! - (s.lr / c1) * m / (Math.sqrt(v) / Math.sqrt(c2) + s.eps);
  }
}

function ema(arenas: Arenas, s: Extract<Step, { kind: "ema" }>, ctx: StepContext): void {
  for (let b = 0; b < ctx.batch; b++) {
    const x = readFit(arenas, s.x, b);
    if (ctx.step === 0) {
      writeFit(arenas, s.ema, b, x);
      continue;
    }
    const e = readFit(arenas, s.ema, b);
    for (let i = 0; i < e.length; i++) e[i] = s.decay * e[i]! + (1 - s.decay) * x[i]!;
    writeFit(arenas, s.ema, b, e);
  }
}

function psnr(arenas: Arenas, s: Extract<Step, { kind: "psnr" }>, ctx: StepContext): void {
  for (let b = 0; b < ctx.batch; b++) {
    const x = readFit(arenas, s.a, b);
    const y = readFit(arenas, s.b, b);
    let mse = 0;
    for (let i = 0; i < x.length; i++) mse += (x[i]! - y[i]!) ** 2;
    mse /= x.length;
    arenas.scalars[s.offset + b] = 10 * Math.log10(1 / mse); // peak 1 (skimage compare_psnr on [0, 1])
  }
}

function wmv(arenas: Arenas, s: Extract<Step, { kind: "wmv" }>, ctx: StepContext): void {
  const n = s.x.c * s.x.h * s.x.w;
  const slotView = (slot: number): View => ({ ...s.ring, offset: s.ring.offset + slot * n });
  for (let b = 0; b < ctx.batch; b++) {
    const x = readFit(arenas, s.x, b);
    writeFit(arenas, slotView(ctx.step % s.window), b, x);
    if (ctx.step < s.window - 1) continue;
    const slots = Array.from({ length: s.window }, (_, j) => readFit(arenas, slotView(j), b));
    const mean = new Float64Array(n);
    for (const slot of slots) for (let i = 0; i < n; i++) mean[i]! += slot[i]! / s.window;
    let variance = 0;
    for (const slot of slots) for (let i = 0; i < n; i++) variance += (slot[i]! - mean[i]!) ** 2;
    variance /= s.window * n;
    arenas.scalars[s.varOffset + b] = variance;
    if (variance < arenas.scalars[s.minOffset + b]!) {
      arenas.scalars[s.minOffset + b] = variance;
      arenas.scalars[s.argminOffset + b] = ctx.step;
      writeFit(arenas, s.best, b, x);
    }
  }
}

function inputNoiseStep(
  arenas: Arenas,
  s: Extract<Step, { kind: "input_noise" }>,
  ctx: StepContext,
): void {
  for (let b = 0; b < ctx.batch; b++) {
    const z = readFit(arenas, s.z0, b);
    if (s.std !== 0) {
      const seed = ctx.noiseSeeds[b] ?? 0;
      for (let i = 0; i < z.length; i++) z[i]! += s.std * gaussianAt(seed, ctx.step, i);
    }
    writeFit(arenas, s.z, b, z);
  }
}

/** A reference kernel: runs one step on the arenas, for every fit of the batch. */
export type ReferenceKernel<S extends { readonly kind: string } = Step> = (
  step: S,
  arenas: Arenas,
  ctx: StepContext,
) => void;

/** The reference backend's kernel registry: one kernel per step kind of engine/plan.ts. */
export const REFERENCE_KERNELS: { readonly [K in StepKind]: ReferenceKernel<StepOf<K>> } = {
  conv: (step, arenas, ctx) => conv(arenas, step, ctx),
  bn_act: (step, arenas, ctx) => bnAct(arenas, step, ctx),
  act: (step, arenas, ctx) => {
    for (let b = 0; b < ctx.batch; b++) {
      writeFit(
        arenas,
        step.y,
        b,
        readFit(arenas, step.x, b).map((v) => activate(step.act, v)),
      );
    }
  },
  pool: (step, arenas, ctx) => pool(arenas, step, ctx),
  upsample: (step, arenas, ctx) =>
    separableForward(
      arenas,
      step.x,
      step.y,
      upTaps(step.x.h, step.mode),
      upTaps(step.x.w, step.mode),
      ctx,
    ),
  crop_copy: (step, arenas, ctx) =>
    separableForward(
      arenas,
      step.x,
      step.y,
      cropTaps(step.x.h, step.y.h),
      cropTaps(step.x.w, step.y.w),
      ctx,
    ),
  add: (step, arenas, ctx) => {
    for (let b = 0; b < ctx.batch; b++) {
      const a = readFit(arenas, step.a, b);
      const c = readFit(arenas, step.b, b);
      writeFit(arenas, step.y, b, a.map((v, i) => v + c[i]!));
    }
  },
  resample_down: (step, arenas, ctx) =>
    separableForward(
      arenas,
      step.x,
      step.y,
      resampleTaps(step.x.h, step.y.h, step),
      resampleTaps(step.x.w, step.y.w, step),
      ctx,
    ),
  conv_bwd_data: (step, arenas, ctx) => convBwdData(arenas, step, ctx),
  conv_bwd_weight: (step, arenas, ctx) => convBwdWeight(arenas, step, ctx),
  bn_act_bwd: (step, arenas, ctx) => bnActBwd(arenas, step, ctx),
  act_bwd: (step, arenas, ctx) => {
    for (let b = 0; b < ctx.batch; b++) {
      const x = readFit(arenas, step.x, b);
      const dy = readFit(arenas, step.dy, b);
      writeFit(
        arenas,
        step.dx,
        b,
        dy.map((g, i) => g * activateGrad(step.act, x[i]!)),
        step.accumulate,
      );
    }
  },
  pool_bwd: (step, arenas, ctx) => poolBwd(arenas, step, ctx),
  upsample_bwd: (step, arenas, ctx) =>
    separableBackward(
      arenas,
      step.dy,
      step.dx,
      upTaps(step.dx.h, step.mode),
      upTaps(step.dx.w, step.mode),
      step.accumulate,
      ctx,
    ),
  crop_copy_bwd: (step, arenas, ctx) =>
    separableBackward(
      arenas,
      step.dy,
      step.dx,
      cropTaps(step.dx.h, step.dy.h),
      cropTaps(step.dx.w, step.dy.w),
      step.accumulate,
      ctx,
    ),
  copy_grad: (step, arenas, ctx) => {
    for (let b = 0; b < ctx.batch; b++) {
      writeFit(arenas, step.dx, b, readFit(arenas, step.dy, b), step.accumulate);
    }
  },
  resample_down_bwd: (step, arenas, ctx) =>
    separableBackward(
      arenas,
      step.dy,
      step.dx,
      resampleTaps(step.dx.h, step.dy.h, step),
      resampleTaps(step.dx.w, step.dy.w, step),
      step.accumulate,
      ctx,
    ),
  input_noise: (step, arenas, ctx) => inputNoiseStep(arenas, step, ctx),
  mse_loss: (step, arenas, ctx) => mseLoss(arenas, step, ctx),
  adam: (step, arenas, ctx) => adam(arenas, step, ctx),
  ema: (step, arenas, ctx) => ema(arenas, step, ctx),
  psnr: (step, arenas, ctx) => psnr(arenas, step, ctx),
  wmv: (step, arenas, ctx) => wmv(arenas, step, ctx),
};

/** Kernels of step kinds registered at run time (a layer kind's own steps, in tests). */
const extraKernels = new Map<string, ReferenceKernel<{ readonly kind: string }>>();

/**
 * Registers the reference kernel of a step kind that engine/plan.ts does not list (a layer
 * kind registered at run time, engine/layers/registry.ts). A built-in kind cannot be replaced.
 */
export function registerReferenceKernel<S extends { readonly kind: string }>(
  kind: S["kind"],
  kernel: ReferenceKernel<S>,
): void {
  if (hasReferenceKernel(kind)) {
    throw new RangeError(`reference: expected a new step kind but ${kind} has a kernel`);
  }
  extraKernels.set(kind, kernel as ReferenceKernel<{ readonly kind: string }>);
}

/** Whether the reference backend has a kernel for the step kind `kind`. */
export function hasReferenceKernel(kind: string): boolean {
  return Object.hasOwn(REFERENCE_KERNELS, kind) || extraKernels.has(kind);
}

/**
 * Executes one step of a plan on the arenas, for every fit of the batch. Backend tests call
 * it to compute a single step's expected result.
 */
export function runStep(step: Step, arenas: Arenas, ctx: StepContext): void {
  const kernels = REFERENCE_KERNELS as Readonly<Record<string, ReferenceKernel | undefined>>;
  const kernel = Object.hasOwn(kernels, step.kind)
    ? kernels[step.kind]
    : extraKernels.get(step.kind);
  if (kernel === undefined) {
    throw new RangeError(`reference: expected a step kind with a kernel but received ${step.kind}`);
  }
  kernel(step, arenas, ctx);
}

/** Reads fit-major dense data out of a view (batch × c × h × w). */
export function readView(arenas: Arenas, v: View, batch: number): Float32Array {
  const n = v.c * v.h * v.w;
  const out = new Float32Array(batch * n);
  for (let b = 0; b < batch; b++) {
    out.set(
      arenas[v.arena].subarray(v.offset + b * v.batchStride, v.offset + b * v.batchStride + n),
      b * n,
    );
  }
  return out;
}

/** Writes fit-major dense data (batch × c × h × w) into a view. */
export function writeView(arenas: Arenas, v: View, batch: number, data: Float32Array): void {
  const n = v.c * v.h * v.w;
  if (data.length !== batch * n) {
    throw new RangeError(
      `reference: expected ${
        batch * n
      } values (${batch}×${v.c}×${v.h}×${v.w}) but received ${data.length}`,
    );
  }
  for (let b = 0; b < batch; b++) {
    arenas[v.arena].set(data.subarray(b * n, (b + 1) * n), v.offset + b * v.batchStride);
  }
}

/**
 * A {@link Trainer} that runs a plan with {@link runStep} on the CPU's main thread. It is the
 * yardstick for the other engines, and small fits can use it directly (`engine: "reference"`).
 */
export class ReferenceTrainer implements Trainer {
  readonly engine = "reference" as const;
  readonly adapter = "typescript reference (main thread)";
  /** The arenas, exposed for tests that compare intermediate tensors. */
  readonly arenas: Arenas;
  #step = 0;
  #noiseSeeds: number[];
  #snapshot?: { param: Float32Array; adamM: Float32Array; adamV: Float32Array };

  /** Allocates zeroed arenas for `plan`; call {@link reset} before training. */
  constructor(readonly plan: Plan) {
    this.arenas = createArenas(plan);
    this.#noiseSeeds = Array.from({ length: plan.batch }, (_, b) => b);
    this.#resetScalars();
  }

  /** Steps run since the last reset. */
  get step(): number {
    return this.#step;
  }

  #resetScalars(): void {
    this.arenas.scalars.fill(0);
    const wmv = this.plan.scalars.wmv;
    if (wmv) this.arenas.scalars.fill(Infinity, wmv.min, wmv.min + this.plan.batch);
  }

  #ctx(): StepContext {
    return {
      batch: this.plan.batch,
      paramsPerFit: this.plan.paramsPerFit,
      step: this.#step,
      noiseSeeds: this.#noiseSeeds,
    };
  }

  reset(seeds: readonly number[]): Promise<void> {
    this.arenas.param.set(initParams(this.plan, seeds));
    for (const a of ["grad", "adamM", "adamV", "act", "dact", "stats"] as const) {
      this.arenas[a].fill(0);
    }
    this.#step = 0;
    this.#noiseSeeds = [...seeds];
    this.#snapshot = undefined;
    this.#resetScalars();
    return Promise.resolve();
  }

  upload(name: "z0" | "target" | "mask", data: Float32Array): void {
    const v = this.plan.io[name];
    if (!v) {
      throw new RangeError(
        `ReferenceTrainer.upload: the plan has no ${name} (its data term has no mask)`,
      );
    }
    writeView(this.arenas, v, this.plan.batch, data);
  }

  setNoiseSeeds(seeds: readonly number[]): void {
    if (seeds.length !== this.plan.batch) {
      throw new RangeError(
        `ReferenceTrainer.setNoiseSeeds: expected ${this.plan.batch} seeds but received ${seeds.length}`,
      );
    }
    this.#noiseSeeds = [...seeds];
  }

  run(count: number): void {
    for (let i = 0; i < count; i++) {
      const ctx = this.#ctx();
      for (
        const phase of [this.plan.forward, this.plan.loss, this.plan.backward, this.plan.update]
      ) {
        for (const step of phase) runStep(step, this.arenas, ctx);
      }
      this.#step++;
    }
  }

  readScalars(): Promise<StepScalars> {
    const { batch, scalars } = this.plan;
    const s = this.arenas.scalars;
    const slice = (offset: number) => s.slice(offset, offset + batch);
    return Promise.resolve({
      step: this.#step,
      loss: slice(scalars.loss),
      psnrObserved: slice(scalars.psnrObserved),
      ...(scalars.wmv
        ? { wmvMin: slice(scalars.wmv.min), wmvArgmin: slice(scalars.wmv.argmin) }
        : {}),
    });
  }

  read(name: "output" | "ema" | "best"): Promise<Float32Array> {
    const v = this.plan.io[name];
    if (!v) {
      throw new RangeError(
        `ReferenceTrainer.read: the plan has no ${name} (early stopping is off)`,
      );
    }
    return Promise.resolve(readView(this.arenas, v, this.plan.batch));
  }

  snapshot(): void {
    const { param, adamM, adamV } = this.arenas;
    this.#snapshot = { param: param.slice(), adamM: adamM.slice(), adamV: adamV.slice() };
  }

  restore(): void {
    if (!this.#snapshot) {
      throw new Error("ReferenceTrainer.restore: expected a snapshot() first but there is none");
    }
    this.arenas.param.set(this.#snapshot.param);
    this.arenas.adamM.set(this.#snapshot.adamM);
    this.arenas.adamV.set(this.#snapshot.adamV);
  }

  readParams(): Promise<Float32Array> {
    return Promise.resolve(this.arenas.param.slice());
  }

  evaluate(): Promise<Float32Array> {
    const ctx = this.#ctx();
    const { z0, z } = this.plan.io;
    writeView(this.arenas, z, this.plan.batch, readView(this.arenas, z0, this.plan.batch));
    for (const step of this.plan.forward.slice(1)) runStep(step, this.arenas, ctx);
    return this.read("output");
  }

  /** Nothing to free: the arenas are garbage collected. */
  dispose(): void {}
}

/** Creates a {@link ReferenceTrainer} (async to match the other engines' factories). */
export function createReferenceTrainer(plan: Plan): Promise<ReferenceTrainer> {
  return Promise.resolve(new ReferenceTrainer(plan));
}
