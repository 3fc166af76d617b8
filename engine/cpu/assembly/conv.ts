// Convolutions as blocked GEMMs with a 4×8 register-tiled f32x4 micro-kernel.
//
// Forward:        Y[co][p]  = Σ_kk W[co][kk] · X̂[kk][p]      (M = cout, N = pixels, K = cin·k·k)
// Backward data:  dX̂[kk][p] = Σ_co W[co][kk] · dY[co][p]     then col2im into dx
// Backward weight dW[co][kk] = Σ_p dY[co][p] · X̂[kk][p]      (vector over kk, reduce over p)
//
// X̂ is the im2col of the padded input; padding (reflection / zero / replicate) is applied by
// index tables while packing. Work splits over threads by pixel blocks (forward), input-channel
// ranges (backward data, so col2im never races) and kk groups (backward weight).
import { f4, padIndex, part } from "./common";

/** Pixels per forward / backward-data block (a multiple of 8). */
const NB: i32 = 64;
/** Pixels per backward-weight reduction chunk. */
const PC: i32 = 1024;

// @ts-ignore: decorator
@inline
function fma(a: v128, b: v128, c: v128): v128 {
  return f32x4.relaxed_madd(a, b, c);
}

/**
 * C[4][8] = Σ_k A[r][k] · B[k][0..8]: A rows at a0..a3 (unit stride), B rows `bs` bytes apart.
 * Writes the tile's rows `ldc` bytes apart from `tile`.
 */
export function mkRows(
  a0: usize,
  a1: usize,
  a2: usize,
  a3: usize,
  b: usize,
  bs: usize,
  kn: i32,
  tile: usize,
  ldc: usize,
): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let k = 0;
  // Unrolled by two: half the pointer bumps and loop branches per FMA.
  for (; k + 2 <= kn; k += 2) {
    let b0 = v128.load(b);
    let b1 = v128.load(b, 16);
    let w0 = v128.load32_splat(a0);
    let w1 = v128.load32_splat(a1);
    c00 = fma(w0, b0, c00);
    c01 = fma(w0, b1, c01);
    c10 = fma(w1, b0, c10);
    c11 = fma(w1, b1, c11);
    let w2 = v128.load32_splat(a2);
    let w3 = v128.load32_splat(a3);
    c20 = fma(w2, b0, c20);
    c21 = fma(w2, b1, c21);
    c30 = fma(w3, b0, c30);
    c31 = fma(w3, b1, c31);
    b += bs;
    b0 = v128.load(b);
    b1 = v128.load(b, 16);
    w0 = v128.load32_splat(a0, 4);
    w1 = v128.load32_splat(a1, 4);
    c00 = fma(w0, b0, c00);
    c01 = fma(w0, b1, c01);
    c10 = fma(w1, b0, c10);
    c11 = fma(w1, b1, c11);
    w2 = v128.load32_splat(a2, 4);
    w3 = v128.load32_splat(a3, 4);
    c20 = fma(w2, b0, c20);
    c21 = fma(w2, b1, c21);
    c30 = fma(w3, b0, c30);
    c31 = fma(w3, b1, c31);
    a0 += 8;
    a1 += 8;
    a2 += 8;
    a3 += 8;
    b += bs;
  }
  for (; k < kn; k++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    const w0 = v128.load32_splat(a0);
    const w1 = v128.load32_splat(a1);
    c00 = fma(w0, b0, c00);
    c01 = fma(w0, b1, c01);
    c10 = fma(w1, b0, c10);
    c11 = fma(w1, b1, c11);
    const w2 = v128.load32_splat(a2);
    const w3 = v128.load32_splat(a3);
    c20 = fma(w2, b0, c20);
    c21 = fma(w2, b1, c21);
    c30 = fma(w3, b0, c30);
    c31 = fma(w3, b1, c31);
    a0 += 4;
    a1 += 4;
    a2 += 4;
    a3 += 4;
    b += bs;
  }
  v128.store(tile, c00);
  v128.store(tile, c01, 16);
  v128.store(tile + ldc, c10);
  v128.store(tile + ldc, c11, 16);
  v128.store(tile + 2 * ldc, c20);
  v128.store(tile + 2 * ldc, c21, 16);
  v128.store(tile + 3 * ldc, c30);
  v128.store(tile + 3 * ldc, c31, 16);
}

/**
 * C[6][8] = Σ_k A[r][k] · B[k][0..8]: as mkRows with six A rows (twelve accumulators: more
 * independent FMA chains in flight than the 4×8 tile's eight).
 */
export function mkRows6(
  a0: usize,
  a1: usize,
  a2: usize,
  a3: usize,
  a4: usize,
  a5: usize,
  b: usize,
  bs: usize,
  kn: i32,
  tile: usize,
  ldc: usize,
): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0);
  let c50 = f32x4.splat(0), c51 = f32x4.splat(0);
  let k = 0;
  for (; k + 2 <= kn; k += 2) {
    let b0 = v128.load(b);
    let b1 = v128.load(b, 16);
    let w = v128.load32_splat(a0);
    c00 = fma(w, b0, c00);
    c01 = fma(w, b1, c01);
    w = v128.load32_splat(a1);
    c10 = fma(w, b0, c10);
    c11 = fma(w, b1, c11);
    w = v128.load32_splat(a2);
    c20 = fma(w, b0, c20);
    c21 = fma(w, b1, c21);
    w = v128.load32_splat(a3);
    c30 = fma(w, b0, c30);
    c31 = fma(w, b1, c31);
    w = v128.load32_splat(a4);
    c40 = fma(w, b0, c40);
    c41 = fma(w, b1, c41);
    w = v128.load32_splat(a5);
    c50 = fma(w, b0, c50);
    c51 = fma(w, b1, c51);
    b += bs;
    b0 = v128.load(b);
    b1 = v128.load(b, 16);
    w = v128.load32_splat(a0, 4);
    c00 = fma(w, b0, c00);
    c01 = fma(w, b1, c01);
    w = v128.load32_splat(a1, 4);
    c10 = fma(w, b0, c10);
    c11 = fma(w, b1, c11);
    w = v128.load32_splat(a2, 4);
    c20 = fma(w, b0, c20);
    c21 = fma(w, b1, c21);
    w = v128.load32_splat(a3, 4);
    c30 = fma(w, b0, c30);
    c31 = fma(w, b1, c31);
    w = v128.load32_splat(a4, 4);
    c40 = fma(w, b0, c40);
    c41 = fma(w, b1, c41);
    w = v128.load32_splat(a5, 4);
    c50 = fma(w, b0, c50);
    c51 = fma(w, b1, c51);
    a0 += 8;
    a1 += 8;
    a2 += 8;
    a3 += 8;
    a4 += 8;
    a5 += 8;
    b += bs;
  }
  for (; k < kn; k++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let w = v128.load32_splat(a0);
    c00 = fma(w, b0, c00);
    c01 = fma(w, b1, c01);
    w = v128.load32_splat(a1);
    c10 = fma(w, b0, c10);
    c11 = fma(w, b1, c11);
    w = v128.load32_splat(a2);
    c20 = fma(w, b0, c20);
    c21 = fma(w, b1, c21);
    w = v128.load32_splat(a3);
    c30 = fma(w, b0, c30);
    c31 = fma(w, b1, c31);
    w = v128.load32_splat(a4);
    c40 = fma(w, b0, c40);
    c41 = fma(w, b1, c41);
    w = v128.load32_splat(a5);
    c50 = fma(w, b0, c50);
    c51 = fma(w, b1, c51);
    a0 += 4;
    a1 += 4;
    a2 += 4;
    a3 += 4;
    a4 += 4;
    a5 += 4;
    b += bs;
  }
  v128.store(tile, c00);
  v128.store(tile, c01, 16);
  v128.store(tile + ldc, c10);
  v128.store(tile + ldc, c11, 16);
  v128.store(tile + 2 * ldc, c20);
  v128.store(tile + 2 * ldc, c21, 16);
  v128.store(tile + 3 * ldc, c30);
  v128.store(tile + 3 * ldc, c31, 16);
  v128.store(tile + 4 * ldc, c40);
  v128.store(tile + 4 * ldc, c41, 16);
  v128.store(tile + 5 * ldc, c50);
  v128.store(tile + 5 * ldc, c51, 16);
}

/** Fills the padded-coordinate tables: iyTab[ky*oh + oy], ixTab[kx*ow + ox] (-1 = zero). */
function fillTables(
  iyTab: usize,
  ixTab: usize,
  h: i32,
  w: i32,
  oh: i32,
  ow: i32,
  k: i32,
  stride: i32,
  pad: i32,
  p: i32,
): void {
  for (let ky = 0; ky < k; ky++) {
    for (let oy = 0; oy < oh; oy++) {
      store<i32>(iyTab + f4(ky * oh + oy), padIndex(oy * stride + ky - p, h, pad));
    }
  }
  for (let kx = 0; kx < k; kx++) {
    for (let ox = 0; ox < ow; ox++) {
      store<i32>(ixTab + f4(kx * ow + ox), padIndex(ox * stride + kx - p, w, pad));
    }
  }
}

/** offs[j] = source offset (iy·w + ix) of block pixel j for tap (ky, kx), or -1. */
// @ts-ignore: decorator
@inline
function fillOffsets(
  offs: usize,
  oyj: usize,
  oxj: usize,
  nb: i32,
  iyTab: usize,
  ixTab: usize,
  ky: i32,
  kx: i32,
  oh: i32,
  ow: i32,
  w: i32,
): void {
  for (let j = 0; j < NB; j++) {
    let o = -1;
    if (j < nb) {
      const iy = load<i32>(iyTab + f4(ky * oh + load<i32>(oyj + f4(j))));
      const ix = load<i32>(ixTab + f4(kx * ow + load<i32>(oxj + f4(j))));
      if (iy >= 0 && ix >= 0) o = iy * w + ix;
    }
    store<i32>(offs + f4(j), o);
  }
  // runs[q] = 1 when pixels 8q … 8q+7 read 8 consecutive floats (the interior, stride 1):
  // those are copied with two vector loads instead of eight scalar ones.
  const runs = offs + f4(NB);
  for (let q = 0; q < NB / 8; q++) {
    const o0 = load<i32>(offs + f4(q * 8));
    let run = o0 >= 0 ? 1 : 0;
    for (let j = 1; j < 8 && run; j++) {
      if (load<i32>(offs + f4(q * 8 + j)) != o0 + j) run = 0;
    }
    store<i32>(runs + f4(q), run);
  }
}

/**
 * Per-thread scratch layout shared by the three conv kernels, from `base`: a 4×8 tile (128 B),
 * iyTab (k·oh ints), ixTab (k·ow), oyj, oxj, offs (chunk ints each), then the packed panel
 * (64-byte aligned). Returned as byte offsets from base: [iyTab, ixTab, oyj, oxj, offs, pack].
 */
// @ts-ignore: decorator
@inline
function scratchIyTab(base: usize): usize {
  return base + 128;
}

// @ts-ignore: decorator
@inline
function scratchIxTab(base: usize, k: i32, oh: i32): usize {
  return scratchIyTab(base) + f4(k * oh);
}

// @ts-ignore: decorator
@inline
function scratchOyj(base: usize, k: i32, oh: i32, ow: i32): usize {
  return scratchIxTab(base, k, oh) + f4(k * ow);
}

// @ts-ignore: decorator
@inline
function scratchPack(base: usize, k: i32, oh: i32, ow: i32, chunk: i32): usize {
  return (scratchOyj(base, k, oh, ow) + f4(4 * chunk) + 63) & ~(<usize> 63);
}

/** Writes the block's output coordinates: oyj[j], oxj[j] for pixels p0 … p0+n-1. */
function fillCoords(oyj: usize, oxj: usize, p0: i32, n: i32, ow: i32): void {
  let oy = p0 / ow;
  let ox = p0 - oy * ow;
  for (let j = 0; j < n; j++) {
    store<i32>(oyj + f4(j), oy);
    store<i32>(oxj + f4(j), ox);
    ox++;
    if (ox == ow) {
      ox = 0;
      oy++;
    }
  }
}

/**
 * Forward conv: y = conv(pad(x), W) + bias for every fit. Views: x (cin × h × w, batch stride
 * xbs floats), y (cout × oh × ow, ybs). Weights/bias of fit b at `wt`/`bias` + b·pbs floats
 * (bias 0 = none). Threads split (fit, pixel block) tasks.
 */
export function conv_fwd(
  x: usize,
  xbs: i32,
  cin: i32,
  h: i32,
  w: i32,
  y: usize,
  ybs: i32,
  cout: i32,
  oh: i32,
  ow: i32,
  wt: usize,
  bias: usize,
  pbs: i32,
  k: i32,
  stride: i32,
  pad: i32,
  padding: i32,
  batch: i32,
  scratch: usize,
  tid: i32,
  nth: i32,
): void {
  const kk2 = k * k;
  const K = cin * kk2;
  const P = oh * ow;
  const hw = h * w;
  // 1×1 convs pack too: reading x rows hw apart directly thrashes one L1 set at 2^n sizes.
  const direct = false;
  const sTile = scratch;
  const sIy = scratchIyTab(scratch);
  const sIx = scratchIxTab(scratch, k, oh);
  const sOy = scratchOyj(scratch, k, oh, ow);
  const sOx = sOy + f4(NB);
  const sOffs = sOx + f4(NB);
  const sPack = scratchPack(scratch, k, oh, ow, NB);
  if (!direct) fillTables(sIy, sIx, h, w, oh, ow, k, stride, pad, padding);
  const blocks = (P + NB - 1) / NB;
  // Few pixel blocks (deep levels): also split output channels, so every thread has work.
  const quads = (cout + 3) >> 2;
  const splits = batch * blocks >= 2 * nth ? 1 : min(nth, quads);
  const tasks = batch * blocks * splits;
  const t0 = part(tasks, tid, nth);
  const t1 = part(tasks, tid + 1, nth);
  const panel = <usize> K * 32; // bytes of one 8-pixel packed panel
  for (let t = t0; t < t1; t++) {
    const split = t % splits;
    const bt = t / splits;
    const b = bt / blocks;
    const p0 = (bt - b * blocks) * NB;
    const coStart = part(quads, split, splits) * 4;
    const coEnd = min(cout, part(quads, split + 1, splits) * 4);
    const nb = min(NB, P - p0);
    const xb = x + f4(b * xbs);
    const yb = y + f4(b * ybs);
    const wb = wt + f4(b * pbs);
    if (!direct) {
      fillCoords(sOy, sOx, p0, nb, ow);
      for (let ky = 0; ky < k; ky++) {
        for (let kx = 0; kx < k; kx++) {
          fillOffsets(sOffs, sOy, sOx, nb, sIy, sIx, ky, kx, oh, ow, w);
          const runs = sOffs + f4(NB);
          for (let ci = 0; ci < cin; ci++) {
            const row = (ci * k + ky) * k + kx;
            const src = xb + f4(ci * hw);
            const dst = sPack + <usize> row * 32;
            for (let q = 0; q < NB / 8; q++) {
              const d = dst + <usize> q * panel;
              if (load<i32>(runs + f4(q))) {
                const from = src + f4(load<i32>(sOffs + f4(q * 8)));
                v128.store(d, v128.load(from));
                v128.store(d, v128.load(from, 16), 16);
                continue;
              }
              for (let j = 0; j < 8; j++) {
                const o = load<i32>(sOffs + f4(q * 8 + j));
                store<f32>(d + f4(j), o >= 0 ? load<f32>(src + f4(o)) : 0);
              }
            }
          }
        }
      }
    }
    const subs = (nb + 7) >> 3;
    for (let co0 = coStart; co0 < coEnd; co0 += 4) {
      const r1 = min(co0 + 1, cout - 1);
      const r2 = min(co0 + 2, cout - 1);
      const r3 = min(co0 + 3, cout - 1);
      const a0 = wb + f4(co0 * K);
      const a1 = wb + f4(r1 * K);
      const a2 = wb + f4(r2 * K);
      const a3 = wb + f4(r3 * K);
      const rows = min(4, cout - co0);
      for (let sb = 0; sb < subs; sb++) {
        if (direct) {
          mkRows(a0, a1, a2, a3, xb + f4(p0 + sb * 8), f4(hw), K, sTile, 32);
        } else {
          mkRows(a0, a1, a2, a3, sPack + <usize> sb * panel, 32, K, sTile, 32);
        }
        const n = min(8, nb - sb * 8);
        for (let r = 0; r < rows; r++) {
          const co = co0 + r;
          const bv: f32 = bias != 0 ? load<f32>(bias + f4(b * pbs + co)) : 0;
          const dst = yb + f4(co * P + p0 + sb * 8);
          const src = sTile + <usize> r * 32;
          if (n == 8) {
            const bb = f32x4.splat(bv);
            v128.store(dst, f32x4.add(v128.load(src), bb));
            v128.store(dst, f32x4.add(v128.load(src, 16), bb), 16);
          } else {
            for (let j = 0; j < n; j++) store<f32>(dst + f4(j), load<f32>(src + f4(j)) + bv);
          }
        }
      }
    }
  }
}

/**
 * Backward data: dx (+)= conv_transpose(dy, W), folding the padded border back onto the
 * pixels it was read from (reflection mirrors, replicate clamps, zero drops). Threads split
 * input channels, so each dx plane has one writer.
 */
export function conv_bwd_data(
  dy: usize,
  dybs: i32,
  cout: i32,
  oh: i32,
  ow: i32,
  dx: usize,
  dxbs: i32,
  cin: i32,
  h: i32,
  w: i32,
  wt: usize,
  pbs: i32,
  k: i32,
  stride: i32,
  pad: i32,
  padding: i32,
  accumulate: i32,
  batch: i32,
  scratch: usize,
  tid: i32,
  nth: i32,
): void {
  const kk2 = k * k;
  const K = cin * kk2;
  const P = oh * ow;
  const hw = h * w;
  const c0 = part(cin, tid, nth);
  const c1 = part(cin, tid + 1, nth);
  if (c0 >= c1) return;
  const sIy = scratchIyTab(scratch);
  const sIx = scratchIxTab(scratch, k, oh);
  const sOy = scratchOyj(scratch, k, oh, ow);
  const sOx = sOy + f4(NB);
  const sOffs = sOx + f4(NB);
  const sPack = scratchPack(scratch, k, oh, ow, NB);
  fillTables(sIy, sIx, h, w, oh, ow, k, stride, pad, padding);
  const r0 = c0 * kk2;
  const r1 = c1 * kk2;
  const mt = r1 - r0;
  // Scratch: dX̂ block [mt + 4][NB], Wᵀ rows [mt][cout], the dY block packed [NB/8][cout][8].
  const dxh = sPack;
  const wT = dxh + f4((mt + 4) * NB);
  const dyPack = wT + f4(mt * cout);
  const panel = <usize> cout * 32;
  for (let b = 0; b < batch; b++) {
    const dyb = dy + f4(b * dybs);
    const dxb = dx + f4(b * dxbs);
    const wb = wt + f4(b * pbs);
    if (!accumulate) memory.fill(dxb + f4(c0 * hw), 0, f4((c1 - c0) * hw));
    // Wᵀ for this thread's rows, so the micro-kernel broadcasts weights from unit-stride rows.
    for (let co = 0; co < cout; co++) {
      const src = wb + f4(co * K + r0);
      for (let r = 0; r < mt; r++) store<f32>(wT + f4(r * cout + co), load<f32>(src + f4(r)));
    }
    for (let p0 = 0; p0 < P; p0 += NB) {
      const nb = min(NB, P - p0);
      const subs = (nb + 7) >> 3;
      fillCoords(sOy, sOx, p0, nb, ow);
      // Pack dY[·][p0 … p0+nb) as 8-pixel panels (dY rows are P apart: reading them directly
      // would hit one L1 set for power-of-two sizes).
      for (let sb = 0; sb < subs; sb++) {
        const n = min(8, nb - sb * 8);
        const dst = dyPack + <usize> sb * panel;
        for (let co = 0; co < cout; co++) {
          const src = dyb + f4(co * P + p0 + sb * 8);
          const d = dst + <usize> co * 32;
          if (n == 8) {
            v128.store(d, v128.load(src));
            v128.store(d, v128.load(src, 16), 16);
          } else {
            for (let j = 0; j < 8; j++) store<f32>(d + f4(j), j < n ? load<f32>(src + f4(j)) : 0);
          }
        }
      }
      for (let rr = 0; rr < mt; rr += 4) {
        const a0 = wT + f4(rr * cout);
        const a1 = wT + f4(min(rr + 1, mt - 1) * cout);
        const a2 = wT + f4(min(rr + 2, mt - 1) * cout);
        const a3 = wT + f4(min(rr + 3, mt - 1) * cout);
        for (let sb = 0; sb < subs; sb++) {
          const dst = dxh + f4(rr * NB + sb * 8);
          mkRows(a0, a1, a2, a3, dyPack + <usize> sb * panel, 32, cout, dst, f4(NB));
        }
      }
      for (let ky = 0; ky < k; ky++) {
        for (let kx = 0; kx < k; kx++) {
          fillOffsets(sOffs, sOy, sOx, nb, sIy, sIx, ky, kx, oh, ow, w);
          const runs = sOffs + f4(NB);
          for (let ci = c0; ci < c1; ci++) {
            const row = ci * kk2 + ky * k + kx - r0;
            const src = dxh + f4(row * NB);
            const dst = dxb + f4(ci * hw);
            for (let q = 0; q < NB / 8; q++) {
              const s8 = src + f4(q * 8);
              if (load<i32>(runs + f4(q))) {
                const d = dst + f4(load<i32>(sOffs + f4(q * 8)));
                v128.store(d, f32x4.add(v128.load(d), v128.load(s8)));
                v128.store(d, f32x4.add(v128.load(d, 16), v128.load(s8, 16)), 16);
                continue;
              }
              for (let j = 0; j < 8; j++) {
                const o = load<i32>(sOffs + f4(q * 8 + j));
                if (o >= 0) {
                  const d = dst + f4(o);
                  store<f32>(d, load<f32>(d) + load<f32>(s8 + f4(j)));
                }
              }
            }
          }
        }
      }
    }
  }
}

/**
 * Backward weight: dW[co][kk] = Σ_p dY[co][p] · X̂[kk][p] and dbias[co] = Σ_p dY[co][p],
 * overwriting the gradients of every fit. Threads split kk in groups of 8 (and co for bias).
 */
export function conv_bwd_weight(
  x: usize,
  xbs: i32,
  cin: i32,
  h: i32,
  w: i32,
  dy: usize,
  dybs: i32,
  cout: i32,
  oh: i32,
  ow: i32,
  gw: usize,
  gbias: usize,
  pbs: i32,
  k: i32,
  stride: i32,
  pad: i32,
  padding: i32,
  batch: i32,
  scratch: usize,
  tid: i32,
  nth: i32,
): void {
  const kk2 = k * k;
  const K = cin * kk2;
  const P = oh * ow;
  const hw = h * w;
  const groups = (K + 7) >> 3;
  const g0 = part(groups, tid, nth);
  const g1 = part(groups, tid + 1, nth);
  const sTile = scratch;
  const sIy = scratchIyTab(scratch);
  const sIx = scratchIxTab(scratch, k, oh);
  const sPack = scratchPack(scratch, k, oh, ow, PC);
  const sLane = scratchOyj(scratch, k, oh, ow); // 8 lanes × (ci, ky, kx, row pointer)
  fillTables(sIy, sIx, h, w, oh, ow, k, stride, pad, padding);
  for (let b = 0; b < batch; b++) {
    const xb = x + f4(b * xbs);
    const dyb = dy + f4(b * dybs);
    const gwb = gw + f4(b * pbs);
    if (g0 < g1) {
      for (let pc0 = 0; pc0 < P; pc0 += PC) {
        const pcn = min(PC, P - pc0);
        for (let g = g0; g < g1; g++) {
          // Pack X̂ᵀ of group g (8 kk lanes × pcn pixels) right before use: it stays in L1.
          const bp = sPack;
          // Per lane: source plane, ky, kx (valid = kk < K). With stride 1, pixels whose ox is in
          // [fx0, fx1) read contiguous x for every lane: 4 pixels × 8 lanes move as a transpose.
          let fx0 = 0;
          let fx1 = stride == 1 ? ow : 0;
          for (let lane = 0; lane < 8; lane++) {
            const kk = g * 8 + lane;
            const info = sLane + <usize> lane * 16;
            if (kk >= K) {
              store<i32>(info, -1);
              continue;
            }
            const ci = kk / kk2;
            const rem = kk - ci * kk2;
            const ky = rem / k;
            const kx = rem - ky * k;
            store<i32>(info, ci);
            store<i32>(info, ky, 4);
            store<i32>(info, kx, 8);
            fx0 = max(fx0, padding - kx);
            fx1 = min(fx1, w + padding - kx);
          }
          // Walk the chunk in output-row runs: one source row per lane and run.
          let oy = pc0 / ow;
          let ox = pc0 - oy * ow;
          let p = 0;
          while (p < pcn) {
            const run = min(ow - ox, pcn - p);
            let a = max(ox, fx0);
            const b = min(ox + run, fx1);
            let b4 = b - a >= 4 ? a + ((b - a) & ~3) : a;
            if (b4 == a) {
              a = ox;
              b4 = ox;
            }
            for (let lane = 0; lane < 8; lane++) {
              const info = sLane + <usize> lane * 16;
              const ci = load<i32>(info);
              const d = bp + f4(lane) + <usize> p * 32;
              let row: usize = 0;
              if (ci >= 0) {
                const ky = load<i32>(info, 4);
                const iy = load<i32>(sIy + f4(ky * oh + oy));
                if (iy >= 0) row = xb + f4(ci * hw + iy * w);
              }
              // Pointer to x at output column 0 of this run's row (for the vector pass).
              store<i32>(info, row != 0 ? <i32> row + 4 * (load<i32>(info, 8) - padding) : 0, 12);
              const xr = sIx + f4(load<i32>(info, 8) * ow + ox);
              for (let q = 0; q < run; q++) {
                if (q == a - ox && b4 > a) {
                  q = b4 - ox - 1;
                  continue;
                }
                let v: f32 = 0;
                if (row != 0) {
                  const ix = load<i32>(xr + f4(q));
                  if (ix >= 0) v = load<f32>(row + f4(ix));
                }
                store<f32>(d + <usize> q * 32, v);
              }
            }
            if (b4 > a) {
              const r0 = <usize> load<i32>(sLane, 12);
              const r1 = <usize> load<i32>(sLane, 16 + 12);
              const r2 = <usize> load<i32>(sLane, 32 + 12);
              const r3 = <usize> load<i32>(sLane, 48 + 12);
              const r4 = <usize> load<i32>(sLane, 64 + 12);
              const r5 = <usize> load<i32>(sLane, 80 + 12);
              const r6 = <usize> load<i32>(sLane, 96 + 12);
              const r7 = <usize> load<i32>(sLane, 112 + 12);
              const zero = f32x4.splat(0);
              for (let x = a; x < b4; x += 4) {
                const o = f4(x);
                const v0 = r0 != 0 ? v128.load(r0 + o) : zero;
                const v1 = r1 != 0 ? v128.load(r1 + o) : zero;
                const v2 = r2 != 0 ? v128.load(r2 + o) : zero;
                const v3 = r3 != 0 ? v128.load(r3 + o) : zero;
                const v4 = r4 != 0 ? v128.load(r4 + o) : zero;
                const v5 = r5 != 0 ? v128.load(r5 + o) : zero;
                const v6 = r6 != 0 ? v128.load(r6 + o) : zero;
                const v7 = r7 != 0 ? v128.load(r7 + o) : zero;
                const d = bp + <usize> (p + x - ox) * 32;
                // 4×4 transposes: pixel i gets lanes (v0[i] … v3[i]) and (v4[i] … v7[i]).
                let lo = f32x4.shuffle(v0, v1, 0, 4, 1, 5);
                let hi = f32x4.shuffle(v2, v3, 0, 4, 1, 5);
                v128.store(d, f32x4.shuffle(lo, hi, 0, 1, 4, 5));
                v128.store(d, f32x4.shuffle(lo, hi, 2, 3, 6, 7), 32);
                lo = f32x4.shuffle(v0, v1, 2, 6, 3, 7);
                hi = f32x4.shuffle(v2, v3, 2, 6, 3, 7);
                v128.store(d, f32x4.shuffle(lo, hi, 0, 1, 4, 5), 64);
                v128.store(d, f32x4.shuffle(lo, hi, 2, 3, 6, 7), 96);
                lo = f32x4.shuffle(v4, v5, 0, 4, 1, 5);
                hi = f32x4.shuffle(v6, v7, 0, 4, 1, 5);
                v128.store(d, f32x4.shuffle(lo, hi, 0, 1, 4, 5), 16);
                v128.store(d, f32x4.shuffle(lo, hi, 2, 3, 6, 7), 48);
                lo = f32x4.shuffle(v4, v5, 2, 6, 3, 7);
                hi = f32x4.shuffle(v6, v7, 2, 6, 3, 7);
                v128.store(d, f32x4.shuffle(lo, hi, 0, 1, 4, 5), 80);
                v128.store(d, f32x4.shuffle(lo, hi, 2, 3, 6, 7), 112);
              }
            }
            p += run;
            ox = 0;
            oy++;
          }
          const lanes = min(8, K - g * 8);
          for (let co0 = 0; co0 < cout; co0 += 4) {
            const a0 = dyb + f4(co0 * P + pc0);
            const a1 = dyb + f4(min(co0 + 1, cout - 1) * P + pc0);
            const a2 = dyb + f4(min(co0 + 2, cout - 1) * P + pc0);
            const a3 = dyb + f4(min(co0 + 3, cout - 1) * P + pc0);
            mkRows(a0, a1, a2, a3, bp, 32, pcn, sTile, 32);
            const rows = min(4, cout - co0);
            for (let r = 0; r < rows; r++) {
              const dst = gwb + f4((co0 + r) * K + g * 8);
              const src = sTile + <usize> r * 32;
              if (pc0 == 0) {
                for (let j = 0; j < lanes; j++) store<f32>(dst + f4(j), load<f32>(src + f4(j)));
              } else {
                for (let j = 0; j < lanes; j++) {
                  store<f32>(dst + f4(j), load<f32>(dst + f4(j)) + load<f32>(src + f4(j)));
                }
              }
            }
          }
        }
      }
    }
    if (gbias != 0) biasGrad(dyb, P, cout, gbias + f4(b * pbs), tid, nth);
  }
}

/** dbias[co] = Σ_p dY[co][p] for this thread's share of the output channels (f64 sum). */
export function biasGrad(dyb: usize, P: i32, cout: i32, gb: usize, tid: i32, nth: i32): void {
  const q0 = part(cout, tid, nth);
  const q1 = part(cout, tid + 1, nth);
  for (let co = q0; co < q1; co++) {
    const row = dyb + f4(co * P);
    let acc = f32x4.splat(0);
    let p = 0;
    for (; p + 4 <= P; p += 4) acc = f32x4.add(acc, v128.load(row + f4(p)));
    let sum: f64 = <f64> f32x4.extract_lane(acc, 0) + <f64> f32x4.extract_lane(acc, 1) +
      <f64> f32x4.extract_lane(acc, 2) + <f64> f32x4.extract_lane(acc, 3);
    for (; p < P; p++) sum += <f64> load<f32>(row + f4(p));
    store<f32>(gb + f4(co), <f32> sum);
  }
}
