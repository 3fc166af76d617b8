// Step-level kernels: the shared RNG and input noise, masked MSE, Adam, EMA, PSNR, ES-WMV.
import { f4, hsum, part } from "./common";

/** PCG hash, as engine/plan.ts pcgHash (u32 arithmetic wraps like Math.imul). */
// @ts-ignore: decorator
@inline
function pcgHash(x: u32): u32 {
  const state: u32 = x * 747796405 + 2891336453;
  const word: u32 = ((state >>> ((state >>> 28) + 4)) ^ state) * 277803737;
  return (word >>> 22) ^ word;
}

/** Uniform in (0, 1] in f32, as engine/plan.ts unitFromU32. */
// @ts-ignore: decorator
@inline
function unitFromU32(u: u32): f32 {
  return (<f32> (u >>> 8) + 1) * <f32> (1.0 / 16777216.0);
}

/** engine/plan.ts gaussianAt: Box–Muller in f64 on two hashed f32 uniforms, rounded to f32. */
export function gaussian_at(seed: u32, step: u32, index: u32): f32 {
  const key = pcgHash(seed ^ pcgHash(step ^ pcgHash(index)));
  const u1 = <f64> unitFromU32(key);
  const u2 = <f64> unitFromU32(pcgHash(key));
  return <f32> (Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
}

/**
 * z = z0 + std · N(0,1) with N from gaussian_at(seed_b, step, i), i the index inside fit b's
 * n floats; seeds are u32 at `seeds` + 4b. Threads split each fit's range.
 */
export function input_noise(
  z0: usize,
  z0bs: i32,
  z: usize,
  zbs: i32,
  n: i32,
  std: f32,
  seeds: usize,
  step: u32,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  const j0 = part(n, tid, nth);
  const j1 = part(n, tid + 1, nth);
  for (let b = 0; b < batch; b++) {
    const src = z0 + f4(b * z0bs);
    const dst = z + f4(b * zbs);
    if (std == 0) {
      memory.copy(dst + f4(j0), src + f4(j0), f4(j1 - j0));
      continue;
    }
    const seed = load<u32>(seeds + f4(b));
    for (let j = j0; j < j1; j++) {
      store<f32>(dst + f4(j), load<f32>(src + f4(j)) + std * gaussian_at(seed, step, <u32> j));
    }
  }
}

/**
 * Masked MSE per fit: loss_b = mean((m·(p − t))²) over c·hw, dpred = 2·m²·(p − t)/(c·hw); the
 * mask (0 = none) is one plane broadcast over c. loss_b at `loss` + 4b. Threads split fits.
 */
export function mse_loss(
  pred: usize,
  pbs: i32,
  target: usize,
  tbs: i32,
  mask: usize,
  mbs: i32,
  dpred: usize,
  dbs: i32,
  c: i32,
  hw: i32,
  loss: usize,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  const n = c * hw;
  const scale: f32 = <f32> (2.0 / <f64> n);
  const b1 = part(batch, tid + 1, nth);
  for (let b = part(batch, tid, nth); b < b1; b++) {
    const pp = pred + f4(b * pbs);
    const tp = target + f4(b * tbs);
    const dp = dpred + f4(b * dbs);
    const mp = mask + f4(b * mbs);
    let sum: f64 = 0;
    for (let ch = 0; ch < c; ch++) {
      for (let j = 0; j < hw; j++) {
        const i = ch * hw + j;
        const m: f32 = mask != 0 ? load<f32>(mp + f4(j)) : 1;
        const d: f32 = load<f32>(pp + f4(i)) - load<f32>(tp + f4(i));
        const md = <f64> (m * d);
        sum += md * md;
        store<f32>(dp + f4(i), scale * m * m * d);
      }
    }
    store<f32>(loss + f4(b), <f32> (sum / <f64> n));
  }
}

/**
 * PyTorch Adam (weight decay 0) over n floats: m, v updates; p −= stepSize · m / (sqrt(v) ·
 * invSqrtBc2 + eps) with stepSize = lr / (1 − β1^t), invSqrtBc2 = 1 / sqrt(1 − β2^t).
 */
export function adam(
  param: usize,
  grad: usize,
  m: usize,
  v: usize,
  n: i32,
  stepSize: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  invSqrtBc2: f32,
  tid: i32,
  nth: i32,
): void {
  const q = (n + 3) >> 2;
  const j0 = part(q, tid, nth) * 4;
  const j1 = min(n, part(q, tid + 1, nth) * 4);
  const vb1 = f32x4.splat(beta1), vc1 = f32x4.splat(1 - beta1);
  const vb2 = f32x4.splat(beta2), vc2 = f32x4.splat(1 - beta2);
  const vss = f32x4.splat(stepSize), vinv = f32x4.splat(invSqrtBc2), veps = f32x4.splat(eps);
  let j = j0;
  for (; j + 4 <= j1; j += 4) {
    const o = f4(j);
    const g = v128.load(grad + o);
    const mi = f32x4.add(f32x4.mul(vb1, v128.load(m + o)), f32x4.mul(vc1, g));
    const vi = f32x4.add(f32x4.mul(vb2, v128.load(v + o)), f32x4.mul(vc2, f32x4.mul(g, g)));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    const denom = f32x4.add(f32x4.mul(f32x4.sqrt(vi), vinv), veps);
    v128.store(param + o, f32x4.sub(v128.load(param + o), f32x4.div(f32x4.mul(vss, mi), denom)));
  }
  for (; j < j1; j++) {
    const o = f4(j);
    const g = load<f32>(grad + o);
    const mi = beta1 * load<f32>(m + o) + (1 - beta1) * g;
    const vi = beta2 * load<f32>(v + o) + (1 - beta2) * g * g;
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    store<f32>(
      param + o,
      load<f32>(param + o) - stepSize * mi / (Mathf.sqrt(vi) * invSqrtBc2 + eps),
    );
  }
}

/** ema = decay · ema + (1 − decay) · x over batch × n floats; with `first` set, ema = x. */
export function ema(
  x: usize,
  xbs: i32,
  e: usize,
  ebs: i32,
  n: i32,
  decay: f32,
  first: i32,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  const j0 = part(n, tid, nth);
  const j1 = part(n, tid + 1, nth);
  const a = first ? <f32> 0 : decay;
  const c: f32 = 1 - a;
  for (let b = 0; b < batch; b++) {
    const xp = x + f4(b * xbs);
    const ep = e + f4(b * ebs);
    for (let j = j0; j < j1; j++) {
      store<f32>(ep + f4(j), a * load<f32>(ep + f4(j)) + c * load<f32>(xp + f4(j)));
    }
  }
}

/** out[b] = PSNR with peak 1 = −10·log10(mean((a − b)²)) over n floats. Threads split fits. */
export function psnr(
  a: usize,
  abs: i32,
  bsrc: usize,
  bbs: i32,
  n: i32,
  out: usize,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  const b1 = part(batch, tid + 1, nth);
  for (let b = part(batch, tid, nth); b < b1; b++) {
    const ap = a + f4(b * abs);
    const bp = bsrc + f4(b * bbs);
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const d = f32x4.sub(v128.load(ap + f4(j)), v128.load(bp + f4(j)));
      acc = f32x4.add(acc, f32x4.mul(d, d));
    }
    let sum = hsum(acc);
    for (; j < n; j++) {
      const d = <f64> (load<f32>(ap + f4(j)) - load<f32>(bp + f4(j)));
      sum += d * d;
    }
    const mse = sum / <f64> n;
    store<f32>(out + f4(b), <f32> (-10 * Math.log10(mse)));
  }
}

/**
 * ES-WMV: copies x into ring slot (step mod window); once step ≥ window − 1, var_b = mean over
 * the window of ‖x_j − mean‖² / n, and a new minimum updates min, argmin (= step) and `best`.
 * Slot j of fit b starts at ring + (j·slotStride + b·ringBs) floats. Threads split fits.
 */
export function wmv(
  x: usize,
  xbs: i32,
  ring: usize,
  slotStride: i32,
  ringBs: i32,
  window: i32,
  best: usize,
  bestBs: i32,
  n: i32,
  step: i32,
  varOut: usize,
  minOut: usize,
  argminOut: usize,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  const b1 = part(batch, tid + 1, nth);
  const slot = step % window;
  for (let b = part(batch, tid, nth); b < b1; b++) {
    const xp = x + f4(b * xbs);
    const rb = ring + f4(b * ringBs);
    memory.copy(rb + f4(slot * slotStride), xp, f4(n));
    if (step < window - 1) continue;
    const inv: f32 = <f32> (1.0 / <f64> window);
    let total: f64 = 0;
    for (let i = 0; i < n; i++) {
      let mean: f32 = 0;
      for (let j = 0; j < window; j++) mean += load<f32>(rb + f4(j * slotStride + i));
      mean *= inv;
      let s: f32 = 0;
      for (let j = 0; j < window; j++) {
        const d = load<f32>(rb + f4(j * slotStride + i)) - mean;
        s += d * d;
      }
      total += <f64> s;
    }
    const variance = <f32> (total / <f64> window / <f64> n);
    store<f32>(varOut + f4(b), variance);
    if (variance < load<f32>(minOut + f4(b))) {
      store<f32>(minOut + f4(b), variance);
      store<f32>(argminOut + f4(b), <f32> step);
      memory.copy(best + f4(b * bestBs), xp, f4(n));
    }
  }
}
