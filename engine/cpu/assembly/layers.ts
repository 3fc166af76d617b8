// Per-plane layer kernels (BN + activation, activation, pooling, upsampling, crop, add, copy,
// fixed downsampling) and their gradients. Threads split the batch·channels planes, so every
// output plane has exactly one writer.
import {
  actDerivScalar,
  actDerivVec,
  actIsLinearPiecewise,
  actScalar,
  actVec,
  f4,
  hsum,
  part,
} from "./common";

/** PyTorch BatchNorm2d default eps. */
const BN_EPS: f64 = 1e-5;

/** Sum of n floats at p (f32x4 partial sums, f64 finish). */
function sumPlane(p: usize, n: i32): f64 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    a0 = f32x4.add(a0, v128.load(p + f4(i)));
    a1 = f32x4.add(a1, v128.load(p + f4(i), 16));
  }
  let s = hsum(f32x4.add(a0, a1));
  for (; i < n; i++) s += <f64> load<f32>(p + f4(i));
  return s;
}

/** Σ (x − mean)² over n floats at p. */
function sumSqDev(p: usize, n: i32, mean: f32): f64 {
  const m = f32x4.splat(mean);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const d0 = f32x4.sub(v128.load(p + f4(i)), m);
    const d1 = f32x4.sub(v128.load(p + f4(i), 16), m);
    a0 = f32x4.add(a0, f32x4.mul(d0, d0));
    a1 = f32x4.add(a1, f32x4.mul(d1, d1));
  }
  let s = hsum(f32x4.add(a0, a1));
  for (; i < n; i++) {
    const d = <f64> (load<f32>(p + f4(i)) - mean);
    s += d * d;
  }
  return s;
}

/**
 * BatchNorm (training mode, per fit and channel over H×W, biased variance) with affine
 * gamma/beta, then act. Saves mean at stats + b·sbs + c and 1/sqrt(var+eps) at + invOff.
 */
export function bn_act_fwd(
  x: usize,
  xbs: i32,
  y: usize,
  ybs: i32,
  c: i32,
  hw: i32,
  gamma: usize,
  beta: usize,
  pbs: i32,
  stats: usize,
  sbs: i32,
  invOff: i32,
  act: i32,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  const total = batch * c;
  const i1 = part(total, tid + 1, nth);
  for (let i = part(total, tid, nth); i < i1; i++) {
    const b = i / c;
    const ch = i - b * c;
    const xp = x + f4(b * xbs + ch * hw);
    const yp = y + f4(b * ybs + ch * hw);
    const mean = <f32> (sumPlane(xp, hw) / <f64> hw);
    const variance = sumSqDev(xp, hw, mean) / <f64> hw;
    const inv = <f32> (1.0 / Math.sqrt(variance + BN_EPS));
    store<f32>(stats + f4(b * sbs + ch), mean);
    store<f32>(stats + f4(b * sbs + invOff + ch), inv);
    const g = load<f32>(gamma + f4(b * pbs + ch));
    const sc: f32 = g * inv;
    const sh: f32 = load<f32>(beta + f4(b * pbs + ch)) - mean * sc;
    let j = 0;
    if (actIsLinearPiecewise(act)) {
      const vs = f32x4.splat(sc);
      const vh = f32x4.splat(sh);
      for (; j + 4 <= hw; j += 4) {
        const u = f32x4.add(f32x4.mul(v128.load(xp + f4(j)), vs), vh);
        v128.store(yp + f4(j), actVec(u, act));
      }
    }
    for (; j < hw; j++) store<f32>(yp + f4(j), actScalar(load<f32>(xp + f4(j)) * sc + sh, act));
  }
}

/**
 * Gradient of bn_act_fwd: dx (+)= γ·inv·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·act'(u);
 * dgamma = Σ g·x̂ and dbeta = Σ g overwrite their gradients.
 */
export function bn_act_bwd(
  x: usize,
  xbs: i32,
  dy: usize,
  dybs: i32,
  dx: usize,
  dxbs: i32,
  c: i32,
  hw: i32,
  gamma: usize,
  beta: usize,
  pbs: i32,
  stats: usize,
  sbs: i32,
  invOff: i32,
  act: i32,
  dgamma: usize,
  dbeta: usize,
  accumulate: i32,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  const total = batch * c;
  const i1 = part(total, tid + 1, nth);
  for (let i = part(total, tid, nth); i < i1; i++) {
    const b = i / c;
    const ch = i - b * c;
    const xp = x + f4(b * xbs + ch * hw);
    const dyp = dy + f4(b * dybs + ch * hw);
    const dxp = dx + f4(b * dxbs + ch * hw);
    const mean = load<f32>(stats + f4(b * sbs + ch));
    const inv = load<f32>(stats + f4(b * sbs + invOff + ch));
    const gm = load<f32>(gamma + f4(b * pbs + ch));
    const bt = load<f32>(beta + f4(b * pbs + ch));
    const sc: f32 = gm * inv;
    const sh: f32 = bt - mean * sc;
    const simd = actIsLinearPiecewise(act);
    // Pass 1: Σ g and Σ g·x̂.
    let sg: f64 = 0;
    let sgx: f64 = 0;
    let j = 0;
    if (simd) {
      let ag = f32x4.splat(0), agx = f32x4.splat(0);
      const vm = f32x4.splat(mean), vi = f32x4.splat(inv);
      const vs = f32x4.splat(sc), vh = f32x4.splat(sh);
      for (; j + 4 <= hw; j += 4) {
        const xv = v128.load(xp + f4(j));
        const u = f32x4.add(f32x4.mul(xv, vs), vh);
        const g = actDerivVec(u, v128.load(dyp + f4(j)), act);
        const xh = f32x4.mul(f32x4.sub(xv, vm), vi);
        ag = f32x4.add(ag, g);
        agx = f32x4.add(agx, f32x4.mul(g, xh));
      }
      sg = hsum(ag);
      sgx = hsum(agx);
    }
    for (; j < hw; j++) {
      const xv = load<f32>(xp + f4(j));
      const g = load<f32>(dyp + f4(j)) * actDerivScalar(xv * sc + sh, act);
      sg += <f64> g;
      sgx += <f64> (g * (xv - mean) * inv);
    }
    store<f32>(dgamma + f4(b * pbs + ch), <f32> sgx);
    store<f32>(dbeta + f4(b * pbs + ch), <f32> sg);
    const mg = <f32> (sg / <f64> hw);
    const mgx = <f32> (sgx / <f64> hw);
    // Pass 2: dx.
    j = 0;
    if (simd) {
      const vm = f32x4.splat(mean), vi = f32x4.splat(inv);
      const vs = f32x4.splat(sc), vh = f32x4.splat(sh);
      const vmg = f32x4.splat(mg), vmgx = f32x4.splat(mgx);
      for (; j + 4 <= hw; j += 4) {
        const xv = v128.load(xp + f4(j));
        const u = f32x4.add(f32x4.mul(xv, vs), vh);
        const g = actDerivVec(u, v128.load(dyp + f4(j)), act);
        const xh = f32x4.mul(f32x4.sub(xv, vm), vi);
        let d = f32x4.mul(vs, f32x4.sub(f32x4.sub(g, vmg), f32x4.mul(xh, vmgx)));
        if (accumulate) d = f32x4.add(d, v128.load(dxp + f4(j)));
        v128.store(dxp + f4(j), d);
      }
    }
    for (; j < hw; j++) {
      const xv = load<f32>(xp + f4(j));
      const g = load<f32>(dyp + f4(j)) * actDerivScalar(xv * sc + sh, act);
      let d: f32 = sc * (g - mg - (xv - mean) * inv * mgx);
      if (accumulate) d += load<f32>(dxp + f4(j));
      store<f32>(dxp + f4(j), d);
    }
  }
}

/** y = act(x) on batch·c planes of hw floats. */
export function act_fwd(
  x: usize,
  xbs: i32,
  y: usize,
  ybs: i32,
  c: i32,
  hw: i32,
  act: i32,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  const total = batch * c;
  const i1 = part(total, tid + 1, nth);
  for (let i = part(total, tid, nth); i < i1; i++) {
    const b = i / c;
    const ch = i - b * c;
    const xp = x + f4(b * xbs + ch * hw);
    const yp = y + f4(b * ybs + ch * hw);
    let j = 0;
    if (actIsLinearPiecewise(act)) {
      for (; j + 4 <= hw; j += 4) v128.store(yp + f4(j), actVec(v128.load(xp + f4(j)), act));
    }
    for (; j < hw; j++) store<f32>(yp + f4(j), actScalar(load<f32>(xp + f4(j)), act));
  }
}

/** dx (+)= dy · act'(x); the sigmoid and ELU derivatives use the saved output y. */
export function act_bwd(
  x: usize,
  xbs: i32,
  y: usize,
  ybs: i32,
  dy: usize,
  dybs: i32,
  dx: usize,
  dxbs: i32,
  c: i32,
  hw: i32,
  act: i32,
  accumulate: i32,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  const total = batch * c;
  const i1 = part(total, tid + 1, nth);
  for (let i = part(total, tid, nth); i < i1; i++) {
    const b = i / c;
    const ch = i - b * c;
    const xp = x + f4(b * xbs + ch * hw);
    const yp = y + f4(b * ybs + ch * hw);
    const dyp = dy + f4(b * dybs + ch * hw);
    const dxp = dx + f4(b * dxbs + ch * hw);
    let j = 0;
    if (actIsLinearPiecewise(act)) {
      for (; j + 4 <= hw; j += 4) {
        let d = actDerivVec(v128.load(xp + f4(j)), v128.load(dyp + f4(j)), act);
        if (accumulate) d = f32x4.add(d, v128.load(dxp + f4(j)));
        v128.store(dxp + f4(j), d);
      }
    }
    for (; j < hw; j++) {
      let deriv: f32;
      if (act == 5) {
        const s = load<f32>(yp + f4(j));
        deriv = s * (1 - s);
      } else {
        deriv = actDerivScalar(load<f32>(xp + f4(j)), act);
      }
      let d = load<f32>(dyp + f4(j)) * deriv;
      if (accumulate) d += load<f32>(dxp + f4(j));
      store<f32>(dxp + f4(j), d);
    }
  }
}

/** 2×2 stride-2 pooling (mode 0 avg, 1 max); output oh = floor(h/2), ow = floor(w/2). */
export function pool_fwd(
  x: usize,
  xbs: i32,
  y: usize,
  ybs: i32,
  c: i32,
  h: i32,
  w: i32,
  mode: i32,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  const oh = h >> 1, ow = w >> 1;
  const total = batch * c;
  const i1 = part(total, tid + 1, nth);
  for (let i = part(total, tid, nth); i < i1; i++) {
    const b = i / c;
    const ch = i - b * c;
    const xp = x + f4(b * xbs + ch * h * w);
    const yp = y + f4(b * ybs + ch * oh * ow);
    for (let oy = 0; oy < oh; oy++) {
      const r0 = xp + f4(2 * oy * w);
      const r1 = r0 + f4(w);
      for (let ox = 0; ox < ow; ox++) {
        const a = load<f32>(r0 + f4(2 * ox)), bb = load<f32>(r0 + f4(2 * ox + 1));
        const cc = load<f32>(r1 + f4(2 * ox)), d = load<f32>(r1 + f4(2 * ox + 1));
        const v: f32 = mode == 0 ? (a + bb + cc + d) * 0.25 : max(max(a, bb), max(cc, d));
        store<f32>(yp + f4(oy * ow + ox), v);
      }
    }
  }
}

/** Gradient of pool_fwd: avg spreads dy/4; max routes dy to the first maximum (row-major). */
export function pool_bwd(
  x: usize,
  xbs: i32,
  dy: usize,
  dybs: i32,
  dx: usize,
  dxbs: i32,
  c: i32,
  h: i32,
  w: i32,
  mode: i32,
  accumulate: i32,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  const oh = h >> 1, ow = w >> 1;
  const total = batch * c;
  const i1 = part(total, tid + 1, nth);
  for (let i = part(total, tid, nth); i < i1; i++) {
    const b = i / c;
    const ch = i - b * c;
    const xp = x + f4(b * xbs + ch * h * w);
    const dyp = dy + f4(b * dybs + ch * oh * ow);
    const dxp = dx + f4(b * dxbs + ch * h * w);
    if (!accumulate) memory.fill(dxp, 0, f4(h * w));
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const g = load<f32>(dyp + f4(oy * ow + ox));
        const i00 = 2 * oy * w + 2 * ox;
        if (mode == 0) {
          const q: f32 = g * 0.25;
          const d0 = dxp + f4(i00), d1 = dxp + f4(i00 + w);
          store<f32>(d0, load<f32>(d0) + q);
          store<f32>(d0, load<f32>(d0, 4) + q, 4);
          store<f32>(d1, load<f32>(d1) + q);
          store<f32>(d1, load<f32>(d1, 4) + q, 4);
        } else {
          let best = i00;
          let bv = load<f32>(xp + f4(i00));
          if (load<f32>(xp + f4(i00 + 1)) > bv) {
            best = i00 + 1;
            bv = load<f32>(xp + f4(best));
          }
          if (load<f32>(xp + f4(i00 + w)) > bv) {
            best = i00 + w;
            bv = load<f32>(xp + f4(best));
          }
          if (load<f32>(xp + f4(i00 + w + 1)) > bv) best = i00 + w + 1;
          const d = dxp + f4(best);
          store<f32>(d, load<f32>(d) + g);
        }
      }
    }
  }
}

/** Bilinear (align_corners=False) source of output o at ×2: index i0 and weight of i0 + 1. */
// @ts-ignore: decorator
@inline
function bilinearSrc(o: i32): f32 {
  const src: f32 = (<f32> o + 0.5) * 0.5 - 0.5;
  return src < 0 ? 0 : src;
}

/** Bilinear output column ox between source rows ra (weight 1 - ly) and rb (ly), w wide. */
// @ts-ignore: decorator
@inline
function bilinearAt(ra: usize, rb: usize, ly: f32, ox: i32, w: i32): f32 {
  const sx = bilinearSrc(ox);
  const x0 = <i32> sx;
  const x1 = min(x0 + 1, w - 1);
  const lx: f32 = sx - <f32> x0;
  const top = load<f32>(ra + f4(x0)) * (1 - lx) + load<f32>(ra + f4(x1)) * lx;
  const bot = load<f32>(rb + f4(x0)) * (1 - lx) + load<f32>(rb + f4(x1)) * lx;
  return top * (1 - ly) + bot * ly;
}

/** ×2 upsampling (mode 0 nearest, 1 bilinear align_corners=False), y is oh × ow. */
export function upsample_fwd(
  x: usize,
  xbs: i32,
  y: usize,
  ybs: i32,
  c: i32,
  h: i32,
  w: i32,
  oh: i32,
  ow: i32,
  mode: i32,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  const total = batch * c;
  const i1 = part(total, tid + 1, nth);
  for (let i = part(total, tid, nth); i < i1; i++) {
    const b = i / c;
    const ch = i - b * c;
    const xp = x + f4(b * xbs + ch * h * w);
    const yp = y + f4(b * ybs + ch * oh * ow);
    for (let oy = 0; oy < oh; oy++) {
      if (mode == 0) {
        const row = xp + f4(min(oy >> 1, h - 1) * w);
        for (let ox = 0; ox < ow; ox++) {
          store<f32>(yp + f4(oy * ow + ox), load<f32>(row + f4(min(ox >> 1, w - 1))));
        }
      } else {
        const sy = bilinearSrc(oy);
        const y0 = <i32> sy;
        const y1 = min(y0 + 1, h - 1);
        const ly: f32 = sy - <f32> y0;
        const ra = xp + f4(y0 * w), rb = xp + f4(y1 * w);
        let ox = 0;
        if (ow == 2 * w) {
          // Interior at exactly ×2, four input columns per vector (the scalar code's arithmetic,
          // in its order): y[2i] = a[i-1]·¼ + a[i]·¾, y[2i+1] = a[i]·¾ + a[i+1]·¼.
          const q = f32x4.splat(0.25), tq = f32x4.splat(0.75);
          const wt = f32x4.splat(1 - ly), wb = f32x4.splat(ly);
          const yr = yp + f4(oy * ow);
          store<f32>(yr, bilinearAt(ra, rb, ly, 0, w));
          store<f32>(yr, bilinearAt(ra, rb, ly, 1, w), 4);
          ox = 2;
          let i = 1;
          for (; i + 4 <= w - 1; i += 4) {
            const tc = v128.load(ra + f4(i)), bc = v128.load(rb + f4(i));
            const tl = v128.load(ra + f4(i - 1)), bl = v128.load(rb + f4(i - 1));
            const tr = v128.load(ra + f4(i + 1)), br = v128.load(rb + f4(i + 1));
            const ev = f32x4.add(
              f32x4.mul(f32x4.add(f32x4.mul(tl, q), f32x4.mul(tc, tq)), wt),
              f32x4.mul(f32x4.add(f32x4.mul(bl, q), f32x4.mul(bc, tq)), wb),
            );
            const od = f32x4.add(
              f32x4.mul(f32x4.add(f32x4.mul(tc, tq), f32x4.mul(tr, q)), wt),
              f32x4.mul(f32x4.add(f32x4.mul(bc, tq), f32x4.mul(br, q)), wb),
            );
            v128.store(yr + f4(2 * i), f32x4.shuffle(ev, od, 0, 4, 1, 5));
            v128.store(yr + f4(2 * i), f32x4.shuffle(ev, od, 2, 6, 3, 7), 16);
          }
          ox = 2 * i;
        }
        for (; ox < ow; ox++) store<f32>(yp + f4(oy * ow + ox), bilinearAt(ra, rb, ly, ox, w));
      }
    }
  }
}

/** Gradient of upsample_fwd: dx (+)= the transposed interpolation of dy. */
export function upsample_bwd(
  dy: usize,
  dybs: i32,
  dx: usize,
  dxbs: i32,
  c: i32,
  h: i32,
  w: i32,
  oh: i32,
  ow: i32,
  mode: i32,
  accumulate: i32,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  const total = batch * c;
  const i1 = part(total, tid + 1, nth);
  for (let i = part(total, tid, nth); i < i1; i++) {
    const b = i / c;
    const ch = i - b * c;
    const dxp = dx + f4(b * dxbs + ch * h * w);
    const dyp = dy + f4(b * dybs + ch * oh * ow);
    if (!accumulate) memory.fill(dxp, 0, f4(h * w));
    for (let oy = 0; oy < oh; oy++) {
      if (mode == 0) {
        const row = dxp + f4(min(oy >> 1, h - 1) * w);
        for (let ox = 0; ox < ow; ox++) {
          const d = row + f4(min(ox >> 1, w - 1));
          store<f32>(d, load<f32>(d) + load<f32>(dyp + f4(oy * ow + ox)));
        }
      } else {
        const sy = bilinearSrc(oy);
        const y0 = <i32> sy;
        const y1 = min(y0 + 1, h - 1);
        const ly: f32 = sy - <f32> y0;
        const ra = dxp + f4(y0 * w), rb = dxp + f4(y1 * w);
        const g = dyp + f4(oy * ow);
        if (ow == 2 * w && w >= 2) {
          // Exactly ×2: gather instead of scatter. dx[i] takes ¼·g[2i-1] + ¾·g[2i] + ¾·g[2i+1] +
          // ¼·g[2i+2] inside; column 0 takes g[0] + ¾·g[1] + ¼·g[2], column w-1
          // ¼·g[2w-3] + ¾·g[2w-2] + g[2w-1]. Row y0 gets (1 - ly) of it, row y1 ly.
          const wt: f32 = 1 - ly;
          const h0: f32 = load<f32>(g) + load<f32>(g, 4) * 0.75 + load<f32>(g, 8) * 0.25;
          const gl = g + f4(2 * w - 3);
          const hl: f32 = load<f32>(gl) * 0.25 + load<f32>(gl, 4) * 0.75 + load<f32>(gl, 8);
          store<f32>(ra, load<f32>(ra) + h0 * wt);
          store<f32>(rb, load<f32>(rb) + h0 * ly);
          const rl = f4(w - 1);
          store<f32>(ra + rl, load<f32>(ra + rl) + hl * wt);
          store<f32>(rb + rl, load<f32>(rb + rl) + hl * ly);
          const q = f32x4.splat(0.25), tq = f32x4.splat(0.75);
          const vt = f32x4.splat(wt), vb = f32x4.splat(ly);
          let i = 1;
          for (; i + 4 <= w - 1; i += 4) {
            const v0 = v128.load(g + f4(2 * i)), v1 = v128.load(g + f4(2 * i + 4));
            const u0 = v128.load(g + f4(2 * i - 1)), u1 = v128.load(g + f4(2 * i + 3));
            const ev = f32x4.shuffle(v0, v1, 0, 2, 4, 6);
            const od = f32x4.shuffle(v0, v1, 1, 3, 5, 7);
            const pv = f32x4.shuffle(u0, u1, 0, 2, 4, 6);
            const nx = f32x4.shuffle(ev, v128.load32_splat(g + f4(2 * i + 8)), 1, 2, 3, 4);
            const hv = f32x4.add(f32x4.mul(f32x4.add(ev, od), tq), f32x4.mul(f32x4.add(pv, nx), q));
            const ta = ra + f4(i), tb = rb + f4(i);
            v128.store(ta, f32x4.add(v128.load(ta), f32x4.mul(hv, vt)));
            v128.store(tb, f32x4.add(v128.load(tb), f32x4.mul(hv, vb)));
          }
          for (; i <= w - 2; i++) {
            const gi = g + f4(2 * i);
            const hv: f32 = (load<f32>(gi) + load<f32>(gi, 4)) * 0.75 +
              (load<f32>(gi - 4) + load<f32>(gi, 8)) * 0.25;
            store<f32>(ra + f4(i), load<f32>(ra + f4(i)) + hv * wt);
            store<f32>(rb + f4(i), load<f32>(rb + f4(i)) + hv * ly);
          }
          continue;
        }
        for (let ox = 0; ox < ow; ox++) {
          const sx = bilinearSrc(ox);
          const x0 = <i32> sx;
          const x1 = min(x0 + 1, w - 1);
          const lx: f32 = sx - <f32> x0;
          const g = load<f32>(dyp + f4(oy * ow + ox));
          const gt: f32 = g * (1 - ly), gb: f32 = g * ly;
          store<f32>(ra + f4(x0), load<f32>(ra + f4(x0)) + gt * (1 - lx));
          store<f32>(ra + f4(x1), load<f32>(ra + f4(x1)) + gt * lx);
          store<f32>(rb + f4(x0), load<f32>(rb + f4(x0)) + gb * (1 - lx));
          store<f32>(rb + f4(x1), load<f32>(rb + f4(x1)) + gb * lx);
        }
      }
    }
  }
}

/**
 * Centre crop: y (c × oh × ow) = x (c × h × w) at offsets (⌊(h−oh)/2⌋, ⌊(w−ow)/2⌋). With
 * `backward` set it is the gradient instead: dx (h × w, the `x` arguments) (+)= dy placed at
 * the crop (zero elsewhere), where y/ybs name dy.
 */
export function crop(
  x: usize,
  xbs: i32,
  y: usize,
  ybs: i32,
  c: i32,
  h: i32,
  w: i32,
  oh: i32,
  ow: i32,
  backward: i32,
  accumulate: i32,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  const dy0 = (h - oh) >> 1, dx0 = (w - ow) >> 1;
  const total = batch * c;
  const i1 = part(total, tid + 1, nth);
  for (let i = part(total, tid, nth); i < i1; i++) {
    const b = i / c;
    const ch = i - b * c;
    const xp = x + f4(b * xbs + ch * h * w);
    const yp = y + f4(b * ybs + ch * oh * ow);
    if (backward && !accumulate) memory.fill(xp, 0, f4(h * w));
    for (let oy = 0; oy < oh; oy++) {
      const xr = xp + f4((oy + dy0) * w + dx0);
      const yr = yp + f4(oy * ow);
      if (!backward) {
        memory.copy(yr, xr, f4(ow));
      } else {
        for (let ox = 0; ox < ow; ox++) {
          store<f32>(xr + f4(ox), load<f32>(xr + f4(ox)) + load<f32>(yr + f4(ox)));
        }
      }
    }
  }
}

/** y = a + b (accumulate 0), or y (+)= a when b = 0 (copy_grad), over batch × n floats. */
export function add_fwd(
  a: usize,
  abs: i32,
  bsrc: usize,
  bbs: i32,
  y: usize,
  ybs: i32,
  n: i32,
  accumulate: i32,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  for (let b = 0; b < batch; b++) {
    const ap = a + f4(b * abs);
    const bp = bsrc + f4(b * bbs);
    const yp = y + f4(b * ybs);
    // Split in multiples of 4 floats so every lane has one writer.
    const q = (n + 3) >> 2;
    const j0 = part(q, tid, nth) * 4;
    const j1 = min(n, part(q, tid + 1, nth) * 4);
    let j = j0;
    for (; j + 4 <= j1; j += 4) {
      let v = v128.load(ap + f4(j));
      if (bsrc != 0) v = f32x4.add(v, v128.load(bp + f4(j)));
      if (accumulate) v = f32x4.add(v, v128.load(yp + f4(j)));
      v128.store(yp + f4(j), v);
    }
    for (; j < j1; j++) {
      let v = load<f32>(ap + f4(j));
      if (bsrc != 0) v += load<f32>(bp + f4(j));
      if (accumulate) v += load<f32>(yp + f4(j));
      store<f32>(yp + f4(j), v);
    }
  }
}

/**
 * Fixed separable downsampling: y[oy][ox] = Σ_i Σ_j t_i t_j x[clamp(oy·f+i−pad)][clamp(ox·f+j−pad)]
 * (replicate padding), taps (T floats) at `taps`; y is oh × ow.
 */
export function resample_fwd(
  x: usize,
  xbs: i32,
  y: usize,
  ybs: i32,
  c: i32,
  h: i32,
  w: i32,
  oh: i32,
  ow: i32,
  factor: i32,
  taps: usize,
  nt: i32,
  pad: i32,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  const total = batch * c;
  const i1 = part(total, tid + 1, nth);
  for (let i = part(total, tid, nth); i < i1; i++) {
    const b = i / c;
    const ch = i - b * c;
    const xp = x + f4(b * xbs + ch * h * w);
    const yp = y + f4(b * ybs + ch * oh * ow);
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let acc: f32 = 0;
        for (let ti = 0; ti < nt; ti++) {
          const iy = min(max(oy * factor + ti - pad, 0), h - 1);
          const row = xp + f4(iy * w);
          let r: f32 = 0;
          for (let tj = 0; tj < nt; tj++) {
            const ix = min(max(ox * factor + tj - pad, 0), w - 1);
            r += load<f32>(taps + f4(tj)) * load<f32>(row + f4(ix));
          }
          acc += load<f32>(taps + f4(ti)) * r;
        }
        store<f32>(yp + f4(oy * ow + ox), acc);
      }
    }
  }
}

/** Gradient of resample_fwd: dx (+)= the transposed filter applied to dy. */
export function resample_bwd(
  dy: usize,
  dybs: i32,
  dx: usize,
  dxbs: i32,
  c: i32,
  h: i32,
  w: i32,
  oh: i32,
  ow: i32,
  factor: i32,
  taps: usize,
  nt: i32,
  pad: i32,
  accumulate: i32,
  batch: i32,
  tid: i32,
  nth: i32,
): void {
  const total = batch * c;
  const i1 = part(total, tid + 1, nth);
  for (let i = part(total, tid, nth); i < i1; i++) {
    const b = i / c;
    const ch = i - b * c;
    const dxp = dx + f4(b * dxbs + ch * h * w);
    const dyp = dy + f4(b * dybs + ch * oh * ow);
    if (!accumulate) memory.fill(dxp, 0, f4(h * w));
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const g = load<f32>(dyp + f4(oy * ow + ox));
        for (let ti = 0; ti < nt; ti++) {
          const iy = min(max(oy * factor + ti - pad, 0), h - 1);
          const row = dxp + f4(iy * w);
          const gi: f32 = g * load<f32>(taps + f4(ti));
          for (let tj = 0; tj < nt; tj++) {
            const ix = min(max(ox * factor + tj - pad, 0), w - 1);
            const d = row + f4(ix);
            store<f32>(d, load<f32>(d) + gi * load<f32>(taps + f4(tj)));
          }
        }
      }
    }
  }
}
