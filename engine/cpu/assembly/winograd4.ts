// 3×3 stride-1 convolutions by Winograd's F(4×4, 3×3) (Lavin & Gray, CVPR 2016, the matrices
// of their F(4, 3) with interpolation points 0, ±1, ±2, ∞): a 4×4 output tile costs 36
// multiplies per channel pair instead of 144 (F(2×2, 3×3): 64), at a larger float32 rounding
// error (relative ~3e-6 over 132 channels against ~5e-7). Same structure and contracts as
// winograd.ts: 36 GEMMs on the 6×8 micro-kernel, transforms four tiles per f32x4 (one lane per
// tile), staged through a small per-thread tmp.
//
//   Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   G  = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
import { f4, part } from "./common";
import { biasGrad, mkRows6 } from "./conv";
import { align64, fillClip, fillTable, tableLen } from "./winograd";

/** Tiles per block of the forward and backward-data kernels (a multiple of 8). */
const WT: i32 = 32;
/** Tiles per block of the backward-weight kernel (its GEMMs' K). */
const WTW: i32 = 64;
/** Rows of the transformed filters per micro-kernel call (mkRows6). */
const MR: i32 = 6;
/** Elements of a transformed tile. */
const E: i32 = 36;

// Byte offsets inside the per-thread tmp (TMP4_BYTES in engine/cpu/memory.ts).
const T_D: usize = 0; // 36 vectors: the gathered tile d (or dy, or the output y)
const T_S: usize = 576; // 36 vectors: after the first 1-D pass
const T_OFFS: usize = 1152; // 4 lanes × 36 source offsets (slow gather)
const T_INFO: usize = 1728; // cs, then source rows r0 … r5 (fast gather)
const T_TILE: usize = 1792; // 6 × 8 floats of one micro-kernel call
const T_VT: usize = 2048; // [36][4 channels][4 tiles] (backward weight)

/** o = Bᵀ d on six vectors (p, ps bytes apart) into q (qs apart). */
// @ts-ignore: decorator
@inline
function bt6(p: usize, ps: usize, q: usize, qs: usize): void {
  const d0 = v128.load(p), d1 = v128.load(p + ps), d2 = v128.load(p + 2 * ps);
  const d3 = v128.load(p + 3 * ps), d4 = v128.load(p + 4 * ps), d5 = v128.load(p + 5 * ps);
  const four = f32x4.splat(4), five = f32x4.splat(5), two = f32x4.splat(2);
  v128.store(q, f32x4.add(f32x4.sub(f32x4.mul(four, d0), f32x4.mul(five, d2)), d4));
  const a = f32x4.mul(four, f32x4.add(d1, d2)), b = f32x4.add(d3, d4);
  const c = f32x4.mul(four, f32x4.sub(d1, d2)), d = f32x4.sub(d4, d3);
  v128.store(q + qs, f32x4.sub(b, a));
  v128.store(q + 2 * qs, f32x4.add(c, d));
  const e = f32x4.mul(two, f32x4.sub(d3, d1)), f = f32x4.sub(d4, d2);
  v128.store(q + 3 * qs, f32x4.add(e, f));
  v128.store(q + 4 * qs, f32x4.sub(f, e));
  v128.store(q + 5 * qs, f32x4.add(f32x4.sub(f32x4.mul(four, d1), f32x4.mul(five, d3)), d5));
}

/** o = Aᵀ m: six vectors in, four out. */
// @ts-ignore: decorator
@inline
function at6(p: usize, ps: usize, q: usize, qs: usize): void {
  const m0 = v128.load(p), m1 = v128.load(p + ps), m2 = v128.load(p + 2 * ps);
  const m3 = v128.load(p + 3 * ps), m4 = v128.load(p + 4 * ps), m5 = v128.load(p + 5 * ps);
  const s12 = f32x4.add(m1, m2), d12 = f32x4.sub(m1, m2);
  const s34 = f32x4.add(m3, m4), d34 = f32x4.sub(m3, m4);
  v128.store(q, f32x4.add(f32x4.add(m0, s12), s34));
  v128.store(q + qs, f32x4.add(d12, f32x4.mul(f32x4.splat(2), d34)));
  v128.store(q + 2 * qs, f32x4.add(s12, f32x4.mul(f32x4.splat(4), s34)));
  v128.store(q + 3 * qs, f32x4.add(f32x4.add(d12, f32x4.mul(f32x4.splat(8), d34)), m5));
}

/** o = A y (the adjoint of Aᵀ): four vectors in, six out. */
// @ts-ignore: decorator
@inline
function a6(p: usize, ps: usize, q: usize, qs: usize): void {
  const y0 = v128.load(p), y1 = v128.load(p + ps), y2 = v128.load(p + 2 * ps);
  const y3 = v128.load(p + 3 * ps);
  const s02 = f32x4.add(y0, y2), s13 = f32x4.add(y1, y3);
  const t02 = f32x4.add(y0, f32x4.mul(f32x4.splat(4), y2));
  const t13 = f32x4.add(f32x4.mul(f32x4.splat(2), y1), f32x4.mul(f32x4.splat(8), y3));
  v128.store(q, y0);
  v128.store(q + qs, f32x4.add(s02, s13));
  v128.store(q + 2 * qs, f32x4.sub(s02, s13));
  v128.store(q + 3 * qs, f32x4.add(t02, t13));
  v128.store(q + 4 * qs, f32x4.sub(t02, t13));
  v128.store(q + 5 * qs, y3);
}

/** o = G g on three scalars (p, ps bytes apart) into six (q, qs apart). */
// @ts-ignore: decorator
@inline
function g6(a: f32, b: f32, c: f32, q: usize, qs: usize): void {
  const s: f32 = a + c;
  store<f32>(q, a * 0.25);
  store<f32>(q + qs, -(s + b) / 6);
  store<f32>(q + 2 * qs, -(s - b) / 6);
  const u: f32 = a / 24 + c / 6, v: f32 = b / 12;
  store<f32>(q + 3 * qs, u + v);
  store<f32>(q + 4 * qs, u - v);
  store<f32>(q + 5 * qs, c);
}

/** o = Gᵀ u on six scalars into three. */
// @ts-ignore: decorator
@inline
function gt6(p: usize, ps: usize, q: usize, qs: usize): void {
  const u0 = load<f32>(p), u1 = load<f32>(p + ps), u2 = load<f32>(p + 2 * ps);
  const u3 = load<f32>(p + 3 * ps), u4 = load<f32>(p + 4 * ps), u5 = load<f32>(p + 5 * ps);
  store<f32>(q, u0 * 0.25 - (u1 + u2) / 6 + (u3 + u4) / 24);
  store<f32>(q + qs, (u2 - u1) / 6 + (u3 - u4) / 12);
  store<f32>(q + 2 * qs, (u3 + u4 - u1 - u2) / 6 + u5);
}

/** U = G g Gᵀ of one 3×3 filter (rotated by 180° when `flip`): element e at dst + e · estride. */
function weightTransform4(g: usize, flip: bool, dst: usize, estride: usize, tmp: usize): void {
  // t (6×3) = G g, column by column, in tmp[k·3 + j].
  for (let j = 0; j < 3; j++) {
    const c0 = flip ? 8 - j : j, c1 = flip ? 5 - j : 3 + j, c2 = flip ? 2 - j : 6 + j;
    g6(load<f32>(g + f4(c0)), load<f32>(g + f4(c1)), load<f32>(g + f4(c2)), tmp + f4(j), 12);
  }
  for (let k = 0; k < 6; k++) {
    const r = tmp + f4(k * 3);
    g6(load<f32>(r), load<f32>(r, 4), load<f32>(r, 8), dst + <usize> (6 * k) * estride, estride);
  }
}

/** dg = Gᵀ u G of 36 accumulated products (element e at src + e · estride) into 9 floats. */
function weightGradTransform4(src: usize, estride: usize, dst: usize, tmp: usize): void {
  // p (6×3) = u G, row by row, in tmp[k·3 + b].
  for (let k = 0; k < 6; k++) gt6(src + <usize> (6 * k) * estride, estride, tmp + f4(k * 3), 4);
  for (let b = 0; b < 3; b++) gt6(tmp + f4(b), 12, dst + f4(b), 12);
}

/**
 * Prepares four consecutive tiles from tile t (tiles < tEnd are real) for inputTransform4:
 * fast (true) when they share a tile row and read 18 contiguous valid source columns (cs and
 * the six source rows go to T_INFO), else per-lane offsets in T_OFFS (-1 = zero).
 */
function prepare4(
  t: i32,
  tEnd: i32,
  tilesX: i32,
  rowSrc: usize,
  colSrc: usize,
  iw: i32,
  tmp: usize,
): bool {
  const ty = t / tilesX;
  const tx = t - ty * tilesX;
  const info = tmp + T_INFO;
  for (let r = 0; r < 6; r++) store<i32>(info + f4(1 + r), load<i32>(rowSrc + f4(4 * ty + r)));
  if (t + 4 <= tEnd && tx + 4 <= tilesX) {
    const cs = load<i32>(colSrc + f4(4 * tx));
    if (cs >= 0 && load<i32>(colSrc + f4(4 * tx + 17)) == cs + 17) {
      store<i32>(info, cs);
      return true;
    }
  }
  const offs = tmp + T_OFFS;
  for (let l = 0; l < 4; l++) {
    const tl = t + l;
    const tyl = tl / tilesX;
    const txl = tl - tyl * tilesX;
    for (let r = 0; r < 6; r++) {
      const sr = tl < tEnd ? load<i32>(rowSrc + f4(4 * tyl + r)) : -1;
      for (let c = 0; c < 6; c++) {
        const sc = load<i32>(colSrc + f4(4 * txl + c));
        store<i32>(offs + f4(l * 36 + r * 6 + c), sr >= 0 && sc >= 0 ? sr * iw + sc : -1);
      }
    }
  }
  return false;
}

/** V = Bᵀ d B of four tiles of one channel plane (prepared by prepare4) to dst + e · estride. */
function inputTransform4(plane: usize, fast: bool, iw: i32, tmp: usize, dst: usize, estride: usize): void {
  const d = tmp + T_D;
  if (fast) {
    const info = tmp + T_INFO;
    const cs = load<i32>(info);
    for (let r = 0; r < 6; r++) {
      const sr = load<i32>(info + f4(1 + r));
      const q = d + <usize> r * 96;
      if (sr < 0) {
        for (let c = 0; c < 6; c++) v128.store(q + <usize> c * 16, f32x4.splat(0));
        continue;
      }
      // Lane l reads columns cs + 4l … cs + 4l + 5: a 4×4 transpose, then two shifted copies.
      const a = plane + f4(sr * iw + cs);
      const v0 = v128.load(a), v1 = v128.load(a, 16), v2 = v128.load(a, 32);
      const v3 = v128.load(a, 48), v4 = v128.load(a, 64);
      const lo01 = f32x4.shuffle(v0, v1, 0, 4, 1, 5), hi01 = f32x4.shuffle(v0, v1, 2, 6, 3, 7);
      const lo23 = f32x4.shuffle(v2, v3, 0, 4, 1, 5), hi23 = f32x4.shuffle(v2, v3, 2, 6, 3, 7);
      const t0 = f32x4.shuffle(lo01, lo23, 0, 1, 4, 5);
      const t1 = f32x4.shuffle(lo01, lo23, 2, 3, 6, 7);
      v128.store(q, t0);
      v128.store(q, t1, 16);
      v128.store(q, f32x4.shuffle(hi01, hi23, 0, 1, 4, 5), 32);
      v128.store(q, f32x4.shuffle(hi01, hi23, 2, 3, 6, 7), 48);
      v128.store(q, f32x4.shuffle(t0, v4, 1, 2, 3, 4), 64);
      v128.store(q, f32x4.shuffle(t1, v4, 1, 2, 3, 5), 80);
    }
  } else {
    const offs = tmp + T_OFFS;
    for (let l = 0; l < 4; l++) {
      for (let rc = 0; rc < 36; rc++) {
        const o = load<i32>(offs + f4(l * 36 + rc));
        store<f32>(d + f4(rc * 4 + l), o >= 0 ? load<f32>(plane + f4(o)) : 0);
      }
    }
  }
  const s = tmp + T_S;
  for (let c = 0; c < 6; c++) bt6(d + <usize> c * 16, 96, s + <usize> c * 16, 96);
  for (let i = 0; i < 6; i++) bt6(s + <usize> i * 96, 16, dst + <usize> (6 * i) * estride, estride);
}

/**
 * Y = Aᵀ m A of four tiles (element e of lane l at mb + e · es), plus `bias`, written (or added)
 * through the output tables.
 */
function outputTransform4(
  mb: usize,
  es: usize,
  bias: f32,
  t: i32,
  tEnd: i32,
  tilesX: i32,
  rowDst: usize,
  colDst: usize,
  dst: usize,
  dw: i32,
  add: bool,
  tmp: usize,
): void {
  const s = tmp + T_S, y = tmp + T_D;
  for (let c = 0; c < 6; c++) at6(mb + <usize> c * es, 6 * es, s + <usize> c * 16, 96);
  for (let i = 0; i < 4; i++) at6(s + <usize> i * 96, 16, y + <usize> i * 64, 16);
  const bv = f32x4.splat(bias);
  const ty = t / tilesX;
  const tx = t - ty * tilesX;
  if (t + 4 <= tEnd && tx + 4 <= tilesX) {
    const cd = load<i32>(colDst + f4(4 * tx));
    if (cd >= 0 && load<i32>(colDst + f4(4 * tx + 15)) == cd + 15) {
      for (let i = 0; i < 4; i++) {
        const row = load<i32>(rowDst + f4(4 * ty + i));
        if (row < 0) continue;
        const yi = y + <usize> i * 64;
        const v0 = f32x4.add(v128.load(yi), bv), v1 = f32x4.add(v128.load(yi, 16), bv);
        const v2 = f32x4.add(v128.load(yi, 32), bv), v3 = f32x4.add(v128.load(yi, 48), bv);
        // Lanes are tiles: transpose so each vector holds one tile's four columns.
        const lo01 = f32x4.shuffle(v0, v1, 0, 4, 1, 5), hi01 = f32x4.shuffle(v0, v1, 2, 6, 3, 7);
        const lo23 = f32x4.shuffle(v2, v3, 0, 4, 1, 5), hi23 = f32x4.shuffle(v2, v3, 2, 6, 3, 7);
        const w0 = f32x4.shuffle(lo01, lo23, 0, 1, 4, 5);
        const w1 = f32x4.shuffle(lo01, lo23, 2, 3, 6, 7);
        const w2 = f32x4.shuffle(hi01, hi23, 0, 1, 4, 5);
        const w3 = f32x4.shuffle(hi01, hi23, 2, 3, 6, 7);
        const a = dst + f4(row * dw + cd);
        if (add) {
          v128.store(a, f32x4.add(v128.load(a), w0));
          v128.store(a, f32x4.add(v128.load(a, 16), w1), 16);
          v128.store(a, f32x4.add(v128.load(a, 32), w2), 32);
          v128.store(a, f32x4.add(v128.load(a, 48), w3), 48);
        } else {
          v128.store(a, w0);
          v128.store(a, w1, 16);
          v128.store(a, w2, 32);
          v128.store(a, w3, 48);
        }
      }
      return;
    }
  }
  for (let l = 0; l < 4 && t + l < tEnd; l++) {
    const tl = t + l;
    const tyl = tl / tilesX;
    const txl = tl - tyl * tilesX;
    for (let i = 0; i < 4; i++) {
      const r = load<i32>(rowDst + f4(4 * tyl + i));
      if (r < 0) continue;
      for (let j = 0; j < 4; j++) {
        const c = load<i32>(colDst + f4(4 * txl + j));
        if (c < 0) continue;
        const a = dst + f4(r * dw + c);
        const v = load<f32>(y + f4((i * 4 + j) * 4 + l)) + bias;
        store<f32>(a, add ? load<f32>(a) + v : v);
      }
    }
  }
}

/** The forward / backward-data core (see winoRun in winograd.ts), with 4×4 output tiles. */
function run4(
  src: usize,
  kc: i32,
  plane: i32,
  iw: i32,
  rowSrc: usize,
  colSrc: usize,
  tilesX: i32,
  tile0: i32,
  tile1: i32,
  u: usize,
  mrows: i32,
  dst: usize,
  dplane: i32,
  dw: i32,
  rowDst: usize,
  colDst: usize,
  bias: usize,
  add: bool,
  vbuf: usize,
  mbuf: usize,
  tmp: usize,
): void {
  const SB = WT / 8;
  const panel = <usize> kc * 32;
  const estride = <usize> SB * panel;
  for (let t0 = tile0; t0 < tile1; t0 += WT) {
    const n = min(WT, tile1 - t0);
    for (let g = 0; g < n; g += 4) {
      const fast = prepare4(t0 + g, tile1, tilesX, rowSrc, colSrc, iw, tmp);
      const d0 = vbuf + <usize> (g >> 3) * panel + f4(g & 7);
      for (let k = 0; k < kc; k++) {
        inputTransform4(src + f4(k * plane), fast, iw, tmp, d0 + <usize> k * 32, estride);
      }
    }
    const subs = (n + 7) >> 3;
    for (let m0 = 0; m0 < mrows; m0 += MR) {
      for (let e = 0; e < E; e++) {
        const ue = u + f4(e * mrows * kc);
        const a0 = ue + f4(m0 * kc);
        const a1 = ue + f4(min(m0 + 1, mrows - 1) * kc);
        const a2 = ue + f4(min(m0 + 2, mrows - 1) * kc);
        const a3 = ue + f4(min(m0 + 3, mrows - 1) * kc);
        const a4 = ue + f4(min(m0 + 4, mrows - 1) * kc);
        const a5 = ue + f4(min(m0 + 5, mrows - 1) * kc);
        const ve = vbuf + <usize> e * estride;
        for (let sb = 0; sb < subs; sb++) {
          mkRows6(a0, a1, a2, a3, a4, a5, ve + <usize> sb * panel, 32, kc,
            mbuf + f4(e * MR * WT + sb * 8), f4(WT));
        }
      }
      const rows = min(MR, mrows - m0);
      for (let r = 0; r < rows; r++) {
        const bv: f32 = bias != 0 ? load<f32>(bias + f4(m0 + r)) : 0;
        const out = dst + f4((m0 + r) * dplane);
        for (let g = 0; g < n; g += 4) {
          outputTransform4(mbuf + f4(r * WT + g), <usize> 4 * MR * WT, bv, t0 + g, tile1, tilesX,
            rowDst, colDst, out, dw, add, tmp);
        }
      }
    }
  }
}

/** Forward 3×3 stride-1 padding-1 conv by F(4×4, 3×3): the contract of wino_fwd. */
export function wino4_fwd(
  x: usize,
  xbs: i32,
  cin: i32,
  h: i32,
  w: i32,
  y: usize,
  ybs: i32,
  cout: i32,
  wt: usize,
  bias: usize,
  pbs: i32,
  padding: i32,
  batch: i32,
  scratch: usize,
  tid: i32,
  nth: i32,
): void {
  const L = tableLen(h, w);
  const rowSrc = scratch, colSrc = rowSrc + f4(L), rowDst = colSrc + f4(L);
  const colDst = rowDst + f4(L);
  const u = align64(colDst + f4(L));
  const vbuf = align64(u + f4(E * cout * cin));
  const mbuf = align64(vbuf + f4(E * cin * WT));
  const tmp = align64(mbuf + f4(E * MR * WT));
  const tilesY = (h + 3) >> 2, tilesX = (w + 3) >> 2;
  fillTable(rowSrc, 4 * tilesY + 2, 1, h, padding);
  fillTable(colSrc, 4 * tilesX + 2, 1, w, padding);
  fillClip(rowDst, 4 * tilesY, 0, h);
  fillClip(colDst, 4 * tilesX, 0, w);
  const tiles = tilesY * tilesX;
  const blocks = (tiles + WT - 1) / WT;
  const tasks = batch * blocks;
  const t0 = part(tasks, tid, nth);
  const t1 = part(tasks, tid + 1, nth);
  let fit = -1;
  for (let t = t0; t < t1; t++) {
    const b = t / blocks;
    const blk = t - b * blocks;
    if (b != fit) {
      fit = b;
      const wb = wt + f4(b * pbs);
      const es = f4(cout * cin);
      for (let co = 0; co < cout; co++) {
        for (let ci = 0; ci < cin; ci++) {
          weightTransform4(wb + f4((co * cin + ci) * 9), false, u + f4(co * cin + ci), es,
            tmp + T_VT);
        }
      }
    }
    run4(x + f4(b * xbs), cin, h * w, w, rowSrc, colSrc, tilesX, blk * WT,
      min(tiles, (blk + 1) * WT), u, cout, y + f4(b * ybs), h * w, w, rowDst, colDst,
      bias != 0 ? bias + f4(b * pbs) : 0, false, vbuf, mbuf, tmp);
  }
}

/** Backward data by F(4×4, 3×3): the contract of wino_bwd_data. */
export function wino4_bwd_data(
  dy: usize,
  dybs: i32,
  cout: i32,
  h: i32,
  w: i32,
  dx: usize,
  dxbs: i32,
  cin: i32,
  wt: usize,
  pbs: i32,
  padding: i32,
  accumulate: i32,
  batch: i32,
  scratch: usize,
  tid: i32,
  nth: i32,
): void {
  const groups = (cin + MR - 1) / MR;
  const c0 = part(groups, tid, nth) * MR;
  const c1 = min(cin, part(groups, tid + 1, nth) * MR);
  if (c0 >= c1) return;
  const mt = c1 - c0;
  const L = tableLen(h, w);
  const rowSrc = scratch, colSrc = rowSrc + f4(L), rowDst = colSrc + f4(L);
  const colDst = rowDst + f4(L);
  const u = align64(colDst + f4(L));
  const vbuf = align64(u + f4(E * cin * cout));
  const mbuf = align64(vbuf + f4(E * cout * WT));
  const tmp = align64(mbuf + f4(E * MR * WT));
  const tilesY = (h + 5) >> 2, tilesX = (w + 5) >> 2;
  fillClip(rowSrc, 4 * tilesY + 2, 2, h);
  fillClip(colSrc, 4 * tilesX + 2, 2, w);
  fillTable(rowDst, 4 * tilesY, 1, h, padding);
  fillTable(colDst, 4 * tilesX, 1, w, padding);
  for (let i = h + 2; i < 4 * tilesY; i++) store<i32>(rowDst + f4(i), -1);
  for (let i = w + 2; i < 4 * tilesX; i++) store<i32>(colDst + f4(i), -1);
  const hw = h * w;
  const es = f4(mt * cout);
  for (let b = 0; b < batch; b++) {
    const wb = wt + f4(b * pbs);
    const dxb = dx + f4(b * dxbs);
    if (!accumulate) memory.fill(dxb + f4(c0 * hw), 0, f4(mt * hw));
    for (let ci = c0; ci < c1; ci++) {
      for (let co = 0; co < cout; co++) {
        weightTransform4(wb + f4((co * cin + ci) * 9), true, u + f4((ci - c0) * cout + co), es,
          tmp + T_VT);
      }
    }
    run4(dy + f4(b * dybs), cout, hw, w, rowSrc, colSrc, tilesX, 0, tilesY * tilesX, u, mt,
      dxb + f4(c0 * hw), hw, w, rowDst, colDst, 0, true, vbuf, mbuf, tmp);
  }
}

/** Backward weight by F(4×4, 3×3): the contract of wino_bwd_weight. */
export function wino4_bwd_weight(
  x: usize,
  xbs: i32,
  cin: i32,
  h: i32,
  w: i32,
  dy: usize,
  dybs: i32,
  cout: i32,
  gw: usize,
  gbias: usize,
  pbs: i32,
  padding: i32,
  batch: i32,
  scratch: usize,
  tid: i32,
  nth: i32,
): void {
  const groups = (cin + 7) >> 3;
  const g0 = part(groups, tid, nth);
  const g1 = part(groups, tid + 1, nth);
  const c0 = g0 * 8;
  const c1 = min(cin, g1 * 8);
  const ncp = (g1 - g0) * 8;
  const cin8 = (cin + 7) & ~7;
  const L = tableLen(h, w);
  const rowSrc = scratch, colSrc = rowSrc + f4(L), rowDst = colSrc + f4(L);
  const colDst = rowDst + f4(L);
  const du = align64(colDst + f4(L));
  const vbuf = align64(du + f4(E * cout * cin8));
  const dyt = align64(vbuf + f4(E * cin8 * WTW));
  const tmp = align64(dyt + f4(E * cout * WTW));
  const tilesY = (h + 3) >> 2, tilesX = (w + 3) >> 2;
  fillTable(rowSrc, 4 * tilesY + 2, 1, h, padding);
  fillTable(colSrc, 4 * tilesX + 2, 1, w, padding);
  fillClip(rowDst, 4 * tilesY, 0, h);
  fillClip(colDst, 4 * tilesX, 0, w);
  const tiles = tilesY * tilesX;
  const hw = h * w;
  const duE = <usize> f4(cout * ncp);
  const vE = <usize> f4(ncp * WTW);
  const dytE = <usize> f4(cout * WTW);
  const d = tmp + T_D, s = tmp + T_S;
  for (let b = 0; b < batch; b++) {
    const xb = x + f4(b * xbs);
    const dyb = dy + f4(b * dybs);
    if (c0 < c1) {
      memory.fill(du, 0, <usize> E * duE);
      for (let t0 = 0; t0 < tiles; t0 += WTW) {
        const n = min(WTW, tiles - t0);
        const n4 = (n + 3) & ~3;
        // dYt = A dy Aᵀ for all output channels, four tiles per vector.
        for (let g = 0; g < n4; g += 4) {
          const t = t0 + g;
          const ty = t / tilesX;
          const tx = t - ty * tilesX;
          const full = t + 4 <= tiles && tx + 4 <= tilesX && 4 * tx + 16 <= w && 4 * ty + 4 <= h;
          for (let co = 0; co < cout; co++) {
            const p = dyb + f4(co * hw);
            if (full) {
              for (let i = 0; i < 4; i++) {
                const a = p + f4((4 * ty + i) * w + 4 * tx);
                const v0 = v128.load(a), v1 = v128.load(a, 16), v2 = v128.load(a, 32);
                const v3 = v128.load(a, 48);
                const lo01 = f32x4.shuffle(v0, v1, 0, 4, 1, 5);
                const hi01 = f32x4.shuffle(v0, v1, 2, 6, 3, 7);
                const lo23 = f32x4.shuffle(v2, v3, 0, 4, 1, 5);
                const hi23 = f32x4.shuffle(v2, v3, 2, 6, 3, 7);
                const q = d + <usize> i * 64;
                v128.store(q, f32x4.shuffle(lo01, lo23, 0, 1, 4, 5));
                v128.store(q, f32x4.shuffle(lo01, lo23, 2, 3, 6, 7), 16);
                v128.store(q, f32x4.shuffle(hi01, hi23, 0, 1, 4, 5), 32);
                v128.store(q, f32x4.shuffle(hi01, hi23, 2, 3, 6, 7), 48);
              }
            } else {
              for (let l = 0; l < 4; l++) {
                const tl = t + l;
                const tyl = tl / tilesX;
                const txl = tl - tyl * tilesX;
                for (let i = 0; i < 4; i++) {
                  for (let j = 0; j < 4; j++) {
                    const oy = 4 * tyl + i, ox = 4 * txl + j;
                    const ok = tl < tiles && oy < h && ox < w;
                    store<f32>(d + f4((i * 4 + j) * 4 + l), ok ? load<f32>(p + f4(oy * w + ox)) : 0);
                  }
                }
              }
            }
            for (let j = 0; j < 4; j++) a6(d + <usize> j * 16, 64, s + <usize> j * 16, 64);
            const q = dyt + f4(co * WTW + g);
            for (let k = 0; k < 6; k++) {
              a6(s + <usize> k * 64, 16, q + <usize> (6 * k) * dytE, dytE);
            }
          }
        }
        // V = Bᵀ d B for this thread's channels, transposed to [cg][t][8 channels].
        const vt = tmp + T_VT;
        for (let g = 0; g < n4; g += 4) {
          const fast = prepare4(t0 + g, tiles, tilesX, rowSrc, colSrc, w, tmp);
          for (let cq = 0; cq < ncp; cq += 4) {
            for (let l = 0; l < 4; l++) {
              const ci = c0 + cq + l;
              if (ci < c1) {
                inputTransform4(xb + f4(ci * hw), fast, w, tmp, vt + f4(l * 4), 64);
              } else {
                for (let e = 0; e < E; e++) v128.store(vt + f4(e * 16 + l * 4), f32x4.splat(0));
              }
            }
            const dv = vbuf + f4((cq >> 3) * WTW * 8 + g * 8 + (cq & 7));
            for (let e = 0; e < E; e++) {
              const src = vt + f4(e * 16);
              const v0 = v128.load(src), v1 = v128.load(src, 16);
              const v2 = v128.load(src, 32), v3 = v128.load(src, 48);
              const lo01 = f32x4.shuffle(v0, v1, 0, 4, 1, 5);
              const hi01 = f32x4.shuffle(v0, v1, 2, 6, 3, 7);
              const lo23 = f32x4.shuffle(v2, v3, 0, 4, 1, 5);
              const hi23 = f32x4.shuffle(v2, v3, 2, 6, 3, 7);
              const de = dv + <usize> e * vE;
              v128.store(de, f32x4.shuffle(lo01, lo23, 0, 1, 4, 5));
              v128.store(de, f32x4.shuffle(lo01, lo23, 2, 3, 6, 7), 32);
              v128.store(de, f32x4.shuffle(hi01, hi23, 0, 1, 4, 5), 64);
              v128.store(de, f32x4.shuffle(hi01, hi23, 2, 3, 6, 7), 96);
            }
          }
        }
        // dU[e][co][ci] += Σ_t dYt[e][co][t] · V[e][t][ci].
        const tile = tmp + T_TILE;
        for (let e = 0; e < E; e++) {
          const ae = dyt + <usize> e * dytE;
          const ve = vbuf + <usize> e * vE;
          const ue = du + <usize> e * duE;
          for (let co0 = 0; co0 < cout; co0 += MR) {
            const a0 = ae + f4(co0 * WTW);
            const a1 = ae + f4(min(co0 + 1, cout - 1) * WTW);
            const a2 = ae + f4(min(co0 + 2, cout - 1) * WTW);
            const a3 = ae + f4(min(co0 + 3, cout - 1) * WTW);
            const a4 = ae + f4(min(co0 + 4, cout - 1) * WTW);
            const a5 = ae + f4(min(co0 + 5, cout - 1) * WTW);
            const rows = min(MR, cout - co0);
            for (let cg = 0; cg < ncp; cg += 8) {
              mkRows6(a0, a1, a2, a3, a4, a5, ve + f4(cg * WTW), 32, n4, tile, 32);
              for (let r = 0; r < rows; r++) {
                const acc = ue + f4((co0 + r) * ncp + cg);
                const src = tile + <usize> r * 32;
                v128.store(acc, f32x4.add(v128.load(acc), v128.load(src)));
                v128.store(acc, f32x4.add(v128.load(acc, 16), v128.load(src, 16)), 16);
              }
            }
          }
        }
      }
      // dW = Gᵀ dU G.
      const gwb = gw + f4(b * pbs);
      for (let co = 0; co < cout; co++) {
        for (let ci = c0; ci < c1; ci++) {
          weightGradTransform4(du + f4(co * ncp + ci - c0), duE, gwb + f4((co * cin + ci) * 9),
            tmp + T_VT);
        }
      }
    }
    if (gbias != 0) biasGrad(dyb, hw, cout, gbias + f4(b * pbs), tid, nth);
  }
}
