// 3×3 stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, "Fast
// Algorithms for Convolutional Neural Networks", CVPR 2016): each 2×2 output tile costs 16
// multiplies per (input, output) channel pair instead of 36, so the GEMMs do 2.25× less work.
//
//   forward:  Y  = Aᵀ [ Σ_ci (G g Gᵀ) ⊙ (Bᵀ d B) ] A          per 4×4 input tile d
//   data:     dX̂ = the same with dY (zero-padded by 2) as input and g rotated by 180°, Cin ↔ Cout
//   weight:   dg = Gᵀ [ Σ_tiles (A dy Aᵀ) ⊙ (Bᵀ d B) ] G     (the adjoint of the forward)
//
// The 16 element-wise products over channels are 16 GEMMs, run by the 4×8 micro-kernel of
// conv.ts. The transforms run four tiles at a time (one f32x4 lane per tile).
//
// Per-thread scratch, from `scratch`: four int tables of L = max(h, w) + 8 entries (input rows,
// input columns, output rows, output columns), then regions A, B, C (64-byte aligned) and a
// 2 KiB tmp. engine/cpu/memory.ts (winogradScratchBytes) sizes it for all three kernels.
import { f4, padIndex, part } from "./common";
import { biasGrad, mkRows6 } from "./conv";

/** Tiles per block of the forward and backward-data kernels (a multiple of 8). */
const WT: i32 = 32;
/** Tiles per block of the backward-weight kernel (its GEMMs' K). */
const WTW: i32 = 64;
/** Rows of the transformed filters per micro-kernel call (mkRows6). */
const MR: i32 = 6;

// @ts-ignore: decorator
@inline
export function align64(a: usize): usize {
  return (a + 63) & ~(<usize> 63);
}

/** Scratch regions: [tables, A, B, C, tmp]; sizes in floats. */
// @ts-ignore: decorator
@inline
export function tableLen(h: i32, w: i32): i32 {
  return max(h, w) + 8;
}

/**
 * U = G g Gᵀ for one 3×3 filter g (rotated by 180° when `flip`), G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1];
 * element e = 4i + j goes to dst + e · estride bytes.
 */
function weightTransform(g: usize, flip: bool, dst: usize, estride: usize): void {
  let g00 = load<f32>(g), g01 = load<f32>(g, 4), g02 = load<f32>(g, 8);
  let g10 = load<f32>(g, 12), g11 = load<f32>(g, 16), g12 = load<f32>(g, 20);
  let g20 = load<f32>(g, 24), g21 = load<f32>(g, 28), g22 = load<f32>(g, 32);
  if (flip) {
    let t = g00;
    g00 = g22;
    g22 = t;
    t = g01;
    g01 = g21;
    g21 = t;
    t = g02;
    g02 = g20;
    g20 = t;
    t = g10;
    g10 = g12;
    g12 = t;
  }
  // Rows: t = G g (4×3).
  const t10: f32 = (g00 + g10 + g20) * 0.5, t11: f32 = (g01 + g11 + g21) * 0.5;
  const t12: f32 = (g02 + g12 + g22) * 0.5;
  const t20: f32 = (g00 - g10 + g20) * 0.5, t21: f32 = (g01 - g11 + g21) * 0.5;
  const t22: f32 = (g02 - g12 + g22) * 0.5;
  rowTransform(g00, g01, g02, dst, estride);
  rowTransform(t10, t11, t12, dst + 4 * estride, estride);
  rowTransform(t20, t21, t22, dst + 8 * estride, estride);
  rowTransform(g20, g21, g22, dst + 12 * estride, estride);
}

// @ts-ignore: decorator
@inline
function rowTransform(a: f32, b: f32, c: f32, dst: usize, estride: usize): void {
  store<f32>(dst, a);
  store<f32>(dst + estride, (a + b + c) * 0.5);
  store<f32>(dst + 2 * estride, (a - b + c) * 0.5);
  store<f32>(dst + 3 * estride, c);
}

/**
 * dg = Gᵀ u G for one tile of 16 accumulated products (element e at src + e · estride bytes),
 * written as a 3×3 filter at dst.
 */
function weightGradTransform(src: usize, estride: usize, dst: usize): void {
  // Columns first: p (4×3) = u G.
  for (let i = 0; i < 4; i++) {
    const s = src + <usize> i * 4 * estride;
    const u0 = load<f32>(s), u1 = load<f32>(s + estride);
    const u2 = load<f32>(s + 2 * estride), u3 = load<f32>(s + 3 * estride);
    const h: f32 = (u1 + u2) * 0.5;
    store<f32>(dst + f4(12 + i * 3), u0 + h);
    store<f32>(dst + f4(12 + i * 3 + 1), (u1 - u2) * 0.5);
    store<f32>(dst + f4(12 + i * 3 + 2), h + u3);
  }
  // Rows: dg (3×3) = Gᵀ p, p kept in dst[12 … 24) (the caller's tmp, not the gradient).
  for (let j = 0; j < 3; j++) {
    const p0 = load<f32>(dst + f4(12 + j)), p1 = load<f32>(dst + f4(15 + j));
    const p2 = load<f32>(dst + f4(18 + j)), p3 = load<f32>(dst + f4(21 + j));
    const h: f32 = (p1 + p2) * 0.5;
    store<f32>(dst + f4(j), p0 + h);
    store<f32>(dst + f4(3 + j), (p1 - p2) * 0.5);
    store<f32>(dst + f4(6 + j), h + p3);
  }
}

/**
 * Loads the 16 values d[r][c] of four tiles (one lane each) of channel plane `plane`:
 * fast path: contiguous source columns from `cs`, rows srcRow[0..4) (-1 = zero);
 * slow path: per-lane source offsets in `offs` (16 ints per lane, -1 = zero).
 * Then V = Bᵀ d B, Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]; element e is stored at
 * dst + e · estride bytes.
 */
function inputTransform(
  plane: usize,
  fast: bool,
  r0: i32,
  r1: i32,
  r2: i32,
  r3: i32,
  iw: i32,
  cs: i32,
  offs: usize,
  dst: usize,
  estride: usize,
): void {
  let d00: v128, d01: v128, d02: v128, d03: v128;
  let d10: v128, d11: v128, d12: v128, d13: v128;
  let d20: v128, d21: v128, d22: v128, d23: v128;
  let d30: v128, d31: v128, d32: v128, d33: v128;
  const zero = f32x4.splat(0);
  if (fast) {
    // Lane l reads columns cs + 2l + c: even / odd lanes of two 8-float windows.
    if (r0 >= 0) {
      const a = plane + f4(r0 * iw + cs);
      const v0 = v128.load(a), v1 = v128.load(a, 16), u0 = v128.load(a, 8), u1 = v128.load(a, 24);
      d00 = f32x4.shuffle(v0, v1, 0, 2, 4, 6);
      d01 = f32x4.shuffle(v0, v1, 1, 3, 5, 7);
      d02 = f32x4.shuffle(u0, u1, 0, 2, 4, 6);
      d03 = f32x4.shuffle(u0, u1, 1, 3, 5, 7);
    } else {
      d00 = zero;
      d01 = zero;
      d02 = zero;
      d03 = zero;
    }
    if (r1 >= 0) {
      const a = plane + f4(r1 * iw + cs);
      const v0 = v128.load(a), v1 = v128.load(a, 16), u0 = v128.load(a, 8), u1 = v128.load(a, 24);
      d10 = f32x4.shuffle(v0, v1, 0, 2, 4, 6);
      d11 = f32x4.shuffle(v0, v1, 1, 3, 5, 7);
      d12 = f32x4.shuffle(u0, u1, 0, 2, 4, 6);
      d13 = f32x4.shuffle(u0, u1, 1, 3, 5, 7);
    } else {
      d10 = zero;
      d11 = zero;
      d12 = zero;
      d13 = zero;
    }
    if (r2 >= 0) {
      const a = plane + f4(r2 * iw + cs);
      const v0 = v128.load(a), v1 = v128.load(a, 16), u0 = v128.load(a, 8), u1 = v128.load(a, 24);
      d20 = f32x4.shuffle(v0, v1, 0, 2, 4, 6);
      d21 = f32x4.shuffle(v0, v1, 1, 3, 5, 7);
      d22 = f32x4.shuffle(u0, u1, 0, 2, 4, 6);
      d23 = f32x4.shuffle(u0, u1, 1, 3, 5, 7);
    } else {
      d20 = zero;
      d21 = zero;
      d22 = zero;
      d23 = zero;
    }
    if (r3 >= 0) {
      const a = plane + f4(r3 * iw + cs);
      const v0 = v128.load(a), v1 = v128.load(a, 16), u0 = v128.load(a, 8), u1 = v128.load(a, 24);
      d30 = f32x4.shuffle(v0, v1, 0, 2, 4, 6);
      d31 = f32x4.shuffle(v0, v1, 1, 3, 5, 7);
      d32 = f32x4.shuffle(u0, u1, 0, 2, 4, 6);
      d33 = f32x4.shuffle(u0, u1, 1, 3, 5, 7);
    } else {
      d30 = zero;
      d31 = zero;
      d32 = zero;
      d33 = zero;
    }
  } else {
    // Gather: tmp[(r·4 + c)·4 + l] (the 64 floats after the 16 × 4 offsets).
    const g = offs + 256;
    for (let l = 0; l < 4; l++) {
      for (let rc = 0; rc < 16; rc++) {
        const o = load<i32>(offs + f4(l * 16 + rc));
        store<f32>(g + f4(rc * 4 + l), o >= 0 ? load<f32>(plane + f4(o)) : 0);
      }
    }
    d00 = v128.load(g);
    d01 = v128.load(g, 16);
    d02 = v128.load(g, 32);
    d03 = v128.load(g, 48);
    d10 = v128.load(g, 64);
    d11 = v128.load(g, 80);
    d12 = v128.load(g, 96);
    d13 = v128.load(g, 112);
    d20 = v128.load(g, 128);
    d21 = v128.load(g, 144);
    d22 = v128.load(g, 160);
    d23 = v128.load(g, 176);
    d30 = v128.load(g, 192);
    d31 = v128.load(g, 208);
    d32 = v128.load(g, 224);
    d33 = v128.load(g, 240);
  }
  // Rows: s = Bᵀ d.
  const s00 = f32x4.sub(d00, d20), s01 = f32x4.sub(d01, d21);
  const s02 = f32x4.sub(d02, d22), s03 = f32x4.sub(d03, d23);
  const s10 = f32x4.add(d10, d20), s11 = f32x4.add(d11, d21);
  const s12 = f32x4.add(d12, d22), s13 = f32x4.add(d13, d23);
  const s20 = f32x4.sub(d20, d10), s21 = f32x4.sub(d21, d11);
  const s22 = f32x4.sub(d22, d12), s23 = f32x4.sub(d23, d13);
  const s30 = f32x4.sub(d10, d30), s31 = f32x4.sub(d11, d31);
  const s32 = f32x4.sub(d12, d32), s33 = f32x4.sub(d13, d33);
  // Columns: V = s B.
  storeRowB(s00, s01, s02, s03, dst, estride);
  storeRowB(s10, s11, s12, s13, dst + 4 * estride, estride);
  storeRowB(s20, s21, s22, s23, dst + 8 * estride, estride);
  storeRowB(s30, s31, s32, s33, dst + 12 * estride, estride);
}

// @ts-ignore: decorator
@inline
function storeRowB(a: v128, b: v128, c: v128, d: v128, dst: usize, estride: usize): void {
  v128.store(dst, f32x4.sub(a, c));
  v128.store(dst + estride, f32x4.add(b, c));
  v128.store(dst + 2 * estride, f32x4.sub(c, b));
  v128.store(dst + 3 * estride, f32x4.sub(b, d));
}

/**
 * Prepares four consecutive tiles (raster order, `tilesX` per row) starting at tile `t` (< tEnd
 * are real) for inputTransform: returns 1 (fast: same tile row, contiguous valid source
 * columns, from `tmp` ints: cs, r0…r3) or 0 (per-lane offsets in tmp + 64 … of 64 ints).
 */
function prepareGroup(
  t: i32,
  tEnd: i32,
  tilesX: i32,
  rowSrc: usize,
  colSrc: usize,
  iw: i32,
  info: usize,
): bool {
  const ty = t / tilesX;
  const tx = t - ty * tilesX;
  const y0 = 2 * ty;
  store<i32>(info, load<i32>(rowSrc + f4(y0)), 4);
  store<i32>(info, load<i32>(rowSrc + f4(y0 + 1)), 8);
  store<i32>(info, load<i32>(rowSrc + f4(y0 + 2)), 12);
  store<i32>(info, load<i32>(rowSrc + f4(y0 + 3)), 16);
  if (t + 4 <= tEnd && tx + 4 <= tilesX) {
    const cs = load<i32>(colSrc + f4(2 * tx));
    if (cs >= 0 && load<i32>(colSrc + f4(2 * tx + 9)) == cs + 9) {
      store<i32>(info, cs);
      return true;
    }
  }
  const offs = info + 64;
  for (let l = 0; l < 4; l++) {
    const tl = t + l;
    const tyl = tl / tilesX;
    const txl = tl - tyl * tilesX;
    for (let r = 0; r < 4; r++) {
      const sr = tl < tEnd ? load<i32>(rowSrc + f4(2 * tyl + r)) : -1;
      for (let c = 0; c < 4; c++) {
        const sc = load<i32>(colSrc + f4(2 * txl + c));
        store<i32>(offs + f4(l * 16 + r * 4 + c), sr >= 0 && sc >= 0 ? sr * iw + sc : -1);
      }
    }
  }
  return false;
}

/**
 * Writes (or adds) a 2×2 output tile of four tiles: y_ij vectors (lane = tile) of output
 * plane `dst` through the output tables (-1 = dropped, e.g. a zero-padded border).
 */
function writeOutput(
  y00: v128,
  y01: v128,
  y10: v128,
  y11: v128,
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
  const ty = t / tilesX;
  const tx = t - ty * tilesX;
  if (t + 4 <= tEnd && tx + 4 <= tilesX) {
    const cd = load<i32>(colDst + f4(2 * tx));
    if (cd >= 0 && load<i32>(colDst + f4(2 * tx + 7)) == cd + 7) {
      const ra = load<i32>(rowDst + f4(2 * ty));
      const rb = load<i32>(rowDst + f4(2 * ty + 1));
      if (ra >= 0) {
        const a = dst + f4(ra * dw + cd);
        const lo = f32x4.shuffle(y00, y01, 0, 4, 1, 5);
        const hi = f32x4.shuffle(y00, y01, 2, 6, 3, 7);
        if (add) {
          v128.store(a, f32x4.add(v128.load(a), lo));
          v128.store(a, f32x4.add(v128.load(a, 16), hi), 16);
        } else {
          v128.store(a, lo);
          v128.store(a, hi, 16);
        }
      }
      if (rb >= 0) {
        const a = dst + f4(rb * dw + cd);
        const lo = f32x4.shuffle(y10, y11, 0, 4, 1, 5);
        const hi = f32x4.shuffle(y10, y11, 2, 6, 3, 7);
        if (add) {
          v128.store(a, f32x4.add(v128.load(a), lo));
          v128.store(a, f32x4.add(v128.load(a, 16), hi), 16);
        } else {
          v128.store(a, lo);
          v128.store(a, hi, 16);
        }
      }
      return;
    }
  }
  v128.store(tmp, y00);
  v128.store(tmp, y01, 16);
  v128.store(tmp, y10, 32);
  v128.store(tmp, y11, 48);
  for (let l = 0; l < 4 && t + l < tEnd; l++) {
    const tl = t + l;
    const tyl = tl / tilesX;
    const txl = tl - tyl * tilesX;
    for (let i = 0; i < 2; i++) {
      const r = load<i32>(rowDst + f4(2 * tyl + i));
      if (r < 0) continue;
      for (let j = 0; j < 2; j++) {
        const c = load<i32>(colDst + f4(2 * txl + j));
        if (c < 0) continue;
        const a = dst + f4(r * dw + c);
        const v = load<f32>(tmp + f4((i * 2 + j) * 4 + l));
        store<f32>(a, add ? load<f32>(a) + v : v);
      }
    }
  }
}

/**
 * The forward / backward-data core: for tiles [tile0, tile1) of an input with `kc` channel
 * planes (`plane` floats apart), output rows [0, mrows) of the transformed filters `u`
 * ([16][mrows][kc]) into output planes at dst (`dplane` floats apart, `dw` wide), stored
 * (+ bias[m] when bias ≠ 0) or added.
 */
function winoRun(
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
  const panel = <usize> kc * 32; // bytes of one [kc][8] panel
  const estride = <usize> SB * panel;
  const mtile = tmp + 1024; // 4 × 16 floats for writeOutput's slow path
  for (let t0 = tile0; t0 < tile1; t0 += WT) {
    const n = min(WT, tile1 - t0);
    // Input transform of the block: V[e][sb][k][8].
    for (let g = 0; g < n; g += 4) {
      const fast = prepareGroup(t0 + g, tile1, tilesX, rowSrc, colSrc, iw, tmp);
      const cs = load<i32>(tmp);
      const r0 = load<i32>(tmp, 4), r1 = load<i32>(tmp, 8);
      const r2 = load<i32>(tmp, 12), r3 = load<i32>(tmp, 16);
      const d0 = vbuf + <usize> (g >> 3) * panel + f4(g & 7);
      for (let k = 0; k < kc; k++) {
        inputTransform(
          src + f4(k * plane),
          fast,
          r0,
          r1,
          r2,
          r3,
          iw,
          cs,
          tmp + 64,
          d0 + <usize> k * 32,
          estride,
        );
      }
    }
    const subs = (n + 7) >> 3;
    for (let m0 = 0; m0 < mrows; m0 += MR) {
      for (let e = 0; e < 16; e++) {
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
      // Output transform Y = Aᵀ m A, Aᵀ = [1 1 1 0; 0 1 -1 -1], four tiles at a time.
      const rows = min(MR, mrows - m0);
      for (let r = 0; r < rows; r++) {
        const bv = f32x4.splat(bias != 0 ? load<f32>(bias + f4(m0 + r)) : 0);
        const out = dst + f4((m0 + r) * dplane);
        for (let g = 0; g < n; g += 4) {
          const mb = mbuf + f4(r * WT + g);
          const es = <usize> 4 * MR * WT; // bytes between elements (MR rows × WT floats)
          const m00 = v128.load(mb), m01 = v128.load(mb + es), m02 = v128.load(mb + 2 * es);
          const m03 = v128.load(mb + 3 * es);
          const m10 = v128.load(mb + 4 * es), m11 = v128.load(mb + 5 * es);
          const m12 = v128.load(mb + 6 * es), m13 = v128.load(mb + 7 * es);
          const m20 = v128.load(mb + 8 * es), m21 = v128.load(mb + 9 * es);
          const m22 = v128.load(mb + 10 * es), m23 = v128.load(mb + 11 * es);
          const m30 = v128.load(mb + 12 * es), m31 = v128.load(mb + 13 * es);
          const m32 = v128.load(mb + 14 * es), m33 = v128.load(mb + 15 * es);
          // Rows: q = Aᵀ m (2×4).
          const q00 = f32x4.add(f32x4.add(m00, m10), m20);
          const q01 = f32x4.add(f32x4.add(m01, m11), m21);
          const q02 = f32x4.add(f32x4.add(m02, m12), m22);
          const q03 = f32x4.add(f32x4.add(m03, m13), m23);
          const q10 = f32x4.sub(f32x4.sub(m10, m20), m30);
          const q11 = f32x4.sub(f32x4.sub(m11, m21), m31);
          const q12 = f32x4.sub(f32x4.sub(m12, m22), m32);
          const q13 = f32x4.sub(f32x4.sub(m13, m23), m33);
          const y00 = f32x4.add(f32x4.add(f32x4.add(q00, q01), q02), bv);
          const y01 = f32x4.add(f32x4.sub(f32x4.sub(q01, q02), q03), bv);
          const y10 = f32x4.add(f32x4.add(f32x4.add(q10, q11), q12), bv);
          const y11 = f32x4.add(f32x4.sub(f32x4.sub(q11, q12), q13), bv);
          writeOutput(y00, y01, y10, y11, t0 + g, tile1, tilesX, rowDst, colDst, out, dw, add,
            mtile);
        }
      }
    }
  }
}

/** Fills a table: tab[i] for i < n = padIndex(i - off, size, mode) (zero mode: -1 outside). */
export function fillTable(tab: usize, n: i32, off: i32, size: i32, mode: i32): void {
  for (let i = 0; i < n; i++) store<i32>(tab + f4(i), padIndex(i - off, size, mode));
}

/** Fills a table with the identity below `size` and -1 from there on. */
export function fillClip(tab: usize, n: i32, off: i32, size: i32): void {
  for (let i = 0; i < n; i++) {
    const j = i - off;
    store<i32>(tab + f4(i), j >= 0 && j < size ? j : -1);
  }
}

/**
 * Forward 3×3 conv, stride 1, padding 1 (any mode), h × w → h × w, by F(2×2, 3×3): the same
 * contract as conv_fwd. Threads split (fit, block of 32 tiles) tasks; each thread transforms
 * the filters of the fits it touches into its own scratch.
 */
export function wino_fwd(
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
  const vbuf = align64(u + f4(16 * cout * cin));
  const mbuf = align64(vbuf + f4(16 * cin * WT));
  const tmp = align64(mbuf + f4(16 * MR * WT));
  const tilesY = (h + 1) >> 1, tilesX = (w + 1) >> 1;
  fillTable(rowSrc, 2 * tilesY + 2, 1, h, padding);
  fillTable(colSrc, 2 * tilesX + 2, 1, w, padding);
  fillClip(rowDst, 2 * tilesY, 0, h);
  fillClip(colDst, 2 * tilesX, 0, w);
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
          weightTransform(wb + f4((co * cin + ci) * 9), false, u + f4(co * cin + ci), es);
        }
      }
    }
    winoRun(x + f4(b * xbs), cin, h * w, w, rowSrc, colSrc, tilesX, blk * WT,
      min(tiles, (blk + 1) * WT), u, cout, y + f4(b * ybs), h * w, w, rowDst, colDst,
      bias != 0 ? bias + f4(b * pbs) : 0, false, vbuf, mbuf, tmp);
  }
}

/**
 * Backward data of the 3×3 stride-1 padding-1 conv by F(2×2, 3×3): the padded gradient
 * (h + 2) × (w + 2) is a 3×3 conv of dY zero-padded by 2 with the filters rotated and Cin ↔ Cout,
 * folded onto dx as conv_bwd_data does (reflection mirrors, replicate clamps, zero drops).
 * Threads split input channels in groups of six, so each dx plane has one writer.
 */
export function wino_bwd_data(
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
  // Groups of MR channels: every micro-kernel call of a thread fills its six rows.
  const groups = (cin + MR - 1) / MR;
  const c0 = part(groups, tid, nth) * MR;
  const c1 = min(cin, part(groups, tid + 1, nth) * MR);
  if (c0 >= c1) return;
  const mt = c1 - c0;
  const L = tableLen(h, w);
  const rowSrc = scratch, colSrc = rowSrc + f4(L), rowDst = colSrc + f4(L);
  const colDst = rowDst + f4(L);
  const u = align64(colDst + f4(L));
  const vbuf = align64(u + f4(16 * cin * cout));
  const mbuf = align64(vbuf + f4(16 * cout * WT));
  const tmp = align64(mbuf + f4(16 * MR * WT));
  const tilesY = (h + 3) >> 1, tilesX = (w + 3) >> 1;
  fillClip(rowSrc, 2 * tilesY + 2, 2, h);
  fillClip(colSrc, 2 * tilesX + 2, 2, w);
  fillTable(rowDst, 2 * tilesY, 1, h, padding);
  fillTable(colDst, 2 * tilesX, 1, w, padding);
  // Padded rows past h + 2 (an odd h) hold no gradient.
  for (let i = h + 2; i < 2 * tilesY; i++) store<i32>(rowDst + f4(i), -1);
  for (let i = w + 2; i < 2 * tilesX; i++) store<i32>(colDst + f4(i), -1);
  const hw = h * w;
  const es = f4(mt * cout);
  for (let b = 0; b < batch; b++) {
    const wb = wt + f4(b * pbs);
    const dxb = dx + f4(b * dxbs);
    if (!accumulate) memory.fill(dxb + f4(c0 * hw), 0, f4(mt * hw));
    for (let ci = c0; ci < c1; ci++) {
      for (let co = 0; co < cout; co++) {
        weightTransform(wb + f4((co * cin + ci) * 9), true, u + f4((ci - c0) * cout + co), es);
      }
    }
    winoRun(dy + f4(b * dybs), cout, hw, w, rowSrc, colSrc, tilesX, 0, tilesY * tilesX, u, mt,
      dxb + f4(c0 * hw), hw, w, rowDst, colDst, 0, true, vbuf, mbuf, tmp);
  }
}

/**
 * Backward weight of the 3×3 stride-1 padding-1 conv by F(2×2, 3×3): for each block of 64 tiles,
 * dYt = A dy Aᵀ (all output channels) and V = Bᵀ d B (this thread's input channels), then
 * 16 GEMMs dU[e][co][ci] += Σ_t dYt[e][co][t] · V[e][t][ci]; finally dW = Gᵀ dU G. Threads
 * split input channels in groups of 8 (and output channels for the bias).
 */
export function wino_bwd_weight(
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
  const ncp = (g1 - g0) * 8; // this thread's input channels, rounded up to 8
  const cin8 = (cin + 7) & ~7;
  const L = tableLen(h, w);
  const rowSrc = scratch, colSrc = rowSrc + f4(L), rowDst = colSrc + f4(L);
  const colDst = rowDst + f4(L);
  const du = align64(colDst + f4(L));
  const vbuf = align64(du + f4(16 * cout * cin8));
  const dyt = align64(vbuf + f4(16 * cin8 * WTW));
  const tmp = align64(dyt + f4(16 * cout * WTW));
  const tilesY = (h + 1) >> 1, tilesX = (w + 1) >> 1;
  fillTable(rowSrc, 2 * tilesY + 2, 1, h, padding);
  fillTable(colSrc, 2 * tilesX + 2, 1, w, padding);
  fillClip(rowDst, 2 * tilesY, 0, h);
  fillClip(colDst, 2 * tilesX, 0, w);
  const tiles = tilesY * tilesX;
  const hw = h * w;
  const duE = <usize> f4(cout * ncp); // bytes between dU elements
  const vE = <usize> f4(ncp * WTW); // bytes between V elements ([cg][WTW][8])
  const dytE = <usize> f4(cout * WTW);
  for (let b = 0; b < batch; b++) {
    const xb = x + f4(b * xbs);
    const dyb = dy + f4(b * dybs);
    if (c0 < c1) {
      memory.fill(du, 0, <usize> 16 * duE);
      for (let t0 = 0; t0 < tiles; t0 += WTW) {
        const n = min(WTW, tiles - t0);
        const n4 = (n + 3) & ~3;
        // dYt = A dy Aᵀ, A = [1 0; 1 1; 1 -1; 0 -1]: four tiles per vector, all output channels.
        for (let g = 0; g < n4; g += 4) {
          const t = t0 + g;
          const ty = t / tilesX;
          const tx = t - ty * tilesX;
          const full = t + 4 <= tiles && tx + 4 <= tilesX && 2 * tx + 8 <= w && 2 * ty + 2 <= h;
          for (let co = 0; co < cout; co++) {
            const p = dyb + f4(co * hw);
            let a0: v128, a1: v128, b0: v128, b1: v128; // dy[0][0], dy[0][1], dy[1][0], dy[1][1]
            if (full) {
              const ra = p + f4(2 * ty * w + 2 * tx);
              const v0 = v128.load(ra), v1 = v128.load(ra, 16);
              const u0 = v128.load(ra + f4(w)), u1 = v128.load(ra + f4(w), 16);
              a0 = f32x4.shuffle(v0, v1, 0, 2, 4, 6);
              a1 = f32x4.shuffle(v0, v1, 1, 3, 5, 7);
              b0 = f32x4.shuffle(u0, u1, 0, 2, 4, 6);
              b1 = f32x4.shuffle(u0, u1, 1, 3, 5, 7);
            } else {
              for (let l = 0; l < 4; l++) {
                const tl = t + l;
                const tyl = tl / tilesX;
                const txl = tl - tyl * tilesX;
                for (let i = 0; i < 2; i++) {
                  for (let j = 0; j < 2; j++) {
                    const oy = 2 * tyl + i, ox = 2 * txl + j;
                    const ok = tl < tiles && oy < h && ox < w;
                    store<f32>(tmp + f4((i * 2 + j) * 4 + l), ok ? load<f32>(p + f4(oy * w + ox)) : 0);
                  }
                }
              }
              a0 = v128.load(tmp);
              a1 = v128.load(tmp, 16);
              b0 = v128.load(tmp, 32);
              b1 = v128.load(tmp, 48);
            }
            // Rows: q (4×2) = A dy.
            const q10 = f32x4.add(a0, b0), q11 = f32x4.add(a1, b1);
            const q20 = f32x4.sub(a0, b0), q21 = f32x4.sub(a1, b1);
            const q30 = f32x4.neg(b0), q31 = f32x4.neg(b1);
            const d = dyt + f4(co * WTW + g);
            storeRowA(a0, a1, d, dytE);
            storeRowA(q10, q11, d + 4 * dytE, dytE);
            storeRowA(q20, q21, d + 8 * dytE, dytE);
            storeRowA(q30, q31, d + 12 * dytE, dytE);
          }
        }
        // V = Bᵀ d B for this thread's channels, transposed to [cg][t][8 channels].
        const vt = tmp + 256; // [16 e][4 channels][4 tiles]
        const info = tmp + 1280;
        for (let g = 0; g < n4; g += 4) {
          const fast = prepareGroup(t0 + g, tiles, tilesX, rowSrc, colSrc, w, info);
          const cs = load<i32>(info);
          const r0 = load<i32>(info, 4), r1 = load<i32>(info, 8);
          const r2 = load<i32>(info, 12), r3 = load<i32>(info, 16);
          for (let cq = 0; cq < ncp; cq += 4) {
            for (let l = 0; l < 4; l++) {
              const ci = c0 + cq + l;
              if (ci < c1) {
                inputTransform(xb + f4(ci * hw), fast, r0, r1, r2, r3, w, cs, info + 64,
                  vt + f4(l * 4), 64);
              } else {
                for (let e = 0; e < 16; e++) v128.store(vt + f4(e * 16 + l * 4), f32x4.splat(0));
              }
            }
            // 4 channels × 4 tiles → 4 tiles × 4 channels, per element.
            const d = vbuf + f4((cq >> 3) * WTW * 8 + g * 8 + (cq & 7));
            for (let e = 0; e < 16; e++) {
              const s = vt + f4(e * 16);
              const v0 = v128.load(s), v1 = v128.load(s, 16);
              const v2 = v128.load(s, 32), v3 = v128.load(s, 48);
              const lo01 = f32x4.shuffle(v0, v1, 0, 4, 1, 5);
              const hi01 = f32x4.shuffle(v0, v1, 2, 6, 3, 7);
              const lo23 = f32x4.shuffle(v2, v3, 0, 4, 1, 5);
              const hi23 = f32x4.shuffle(v2, v3, 2, 6, 3, 7);
              const de = d + <usize> e * vE;
              v128.store(de, f32x4.shuffle(lo01, lo23, 0, 1, 4, 5));
              v128.store(de, f32x4.shuffle(lo01, lo23, 2, 3, 6, 7), 32);
              v128.store(de, f32x4.shuffle(hi01, hi23, 0, 1, 4, 5), 64);
              v128.store(de, f32x4.shuffle(hi01, hi23, 2, 3, 6, 7), 96);
            }
          }
        }
        // dU[e][co][ci] += Σ_t dYt[e][co][t] · V[e][t][ci].
        const tile = tmp;
        for (let e = 0; e < 16; e++) {
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
                const s = tile + <usize> r * 32;
                v128.store(acc, f32x4.add(v128.load(acc), v128.load(s)));
                v128.store(acc, f32x4.add(v128.load(acc, 16), v128.load(s, 16)), 16);
              }
            }
          }
        }
      }
      // dW = Gᵀ dU G.
      const gwb = gw + f4(b * pbs);
      const out = tmp + 256;
      for (let co = 0; co < cout; co++) {
        for (let ci = c0; ci < c1; ci++) {
          weightGradTransform(du + f4(co * ncp + ci - c0), duE, out);
          memory.copy(gwb + f4((co * cin + ci) * 9), out, 36);
        }
      }
    }
    if (gbias != 0) biasGrad(dyb, hw, cout, gbias + f4(b * pbs), tid, nth);
  }
}

// @ts-ignore: decorator
@inline
function storeRowA(a: v128, b: v128, dst: usize, estride: usize): void {
  // Columns: (a, b) Aᵀ = (a, a + b, a - b, -b).
  v128.store(dst, a);
  v128.store(dst + estride, f32x4.add(a, b));
  v128.store(dst + 2 * estride, f32x4.sub(a, b));
  v128.store(dst + 3 * estride, f32x4.neg(b));
}
