/**
 * WGSL code generation: each plan {@link Step} becomes one or a few compute kernels with every
 * shape and stride baked in as a constant (offsets come from a per-kernel uniform table, so
 * layers of one shape share a pipeline). Convolutions are register tiled without
 * workgroup barriers (each invocation computes 4 channels × 8 or 16 pixels, or a few output × input
 * channels × the whole k×k window for the weight gradient), which keeps shader compilation
 * cheap on llvmpipe; reductions (BN statistics, losses) use one small workgroup tree per
 * (fit, channel). The "hardware" tuning runs convs with enough channels as tiled GEMMs with
 * workgroup memory instead (conv_gemm.ts).
 *
 * @module
 */
import type { Plan, Step, StepKind, StepOf, View } from "../plan.ts";
import type { Activation } from "../plan.ts";
import {
  activationFns,
  CTRL_SEEDS,
  f32Lit,
  flatDispatch,
  flatMain,
  type Kernel,
  KernelBuilder,
  padFns,
  reductionFns,
  rngFns,
} from "./wgsl.ts";
import { gemmConvBwdData, gemmConvBwdWeight, gemmConvForward } from "./conv_gemm.ts";

/** Channels per invocation in the conv forward and backward-data kernels. */
const TILE_C = 4;

/**
 * How kernels are sized for an adapter. A software adapter (llvmpipe) runs a few threads, so
 * few large invocations are best; a GPU needs tens of thousands of invocations in flight.
 */
export interface Tuning {
  /** Invocations the weight-gradient kernel aims for (pixel rows are split to reach it). */
  readonly bwdWeightInvocations: number;
  /** Workgroup width of the reductions (BN statistics, losses), a power of two. */
  readonly reductionWidth: number;
  /**
   * Output × input channels per weight-gradient invocation for k ≤ 3 (1×1 takes 4 input
   * channels; 5×5 kernels 4 × 1, larger 1 × 1). Each invocation keeps out · in · k² sums in
   * registers.
   */
  readonly bwdWeightTile: readonly [number, number];
  /**
   * BN in one kernel per (fit, channel) (statistics, then normalise + activation by the same
   * workgroup), or a statistics kernel plus a flat kernel over every element.
   */
  readonly fuseBn: boolean;
  /** Pixels (of one row) per invocation in the conv forward and backward-data kernels. */
  readonly convPixels: number;
  /** Convs with enough channels as tiled GEMMs with workgroup memory (conv_gemm.ts). */
  readonly convGemm: boolean;
}

/** Sizes for a software adapter (llvmpipe). */
export const SOFTWARE_TUNING: Tuning = {
  bwdWeightInvocations: 16384,
  reductionWidth: 64,
  // 8 × 2 measured 1.7× faster than 4 × 1 on llvmpipe (bench/webgpu_conv.ts, 128→128 3×3 at 64²).
  bwdWeightTile: [8, 2],
  // A few threads: one workgroup per channel already keeps them busy; saves a pass over x.
  fuseBn: true,
  // 16 measured 1.4× faster than 8 and 8 1.4–1.6× faster than 4 (bench/webgpu_conv.ts, 132→128 at 64²).
  convPixels: 16,
  // llvmpipe: barrier-free kernels compile fast and run best on a few threads.
  convGemm: false,
};

/** Sizes for a hardware GPU. */
export const HARDWARE_TUNING: Tuning = {
  bwdWeightInvocations: 262144,
  reductionWidth: 256,
  // Fewer registers per invocation leave room for more invocations in flight.
  bwdWeightTile: [4, 1],
  // One workgroup per channel is too few to stream a 512² channel at full bandwidth.
  fuseBn: false,
  // Fewer accumulators per invocation than on llvmpipe, for occupancy.
  convPixels: 8,
  // The register-tiled kernels re-read inputs per 4 channels: memory bound on a GPU.
  convGemm: true,
};

/** Address of element (b, r) of a view (r = c·h·w + y·w + x) as WGSL. */
function at(k: KernelBuilder, v: View, b: string, r: string, write = false): string {
  const base = k.base(v, write);
  return `b_${v.arena}[${base} + (${b}) * ${v.batchStride} + (${r})]`;
}

function size(v: View): number {
  return v.c * v.h * v.w;
}

function checkSameShape(kind: string, a: View, b: View): void {
  if (a.c !== b.c || a.h !== b.h || a.w !== b.w) {
    throw new Error(
      `engine/webgpu ${kind}: expected views of one shape but received ${a.c}×${a.h}×${a.w} and ${b.c}×${b.h}×${b.w}`,
    );
  }
}

/** `dst = value` or `dst = dst + value`. */
function store(dst: string, value: string, accumulate: boolean): string {
  return accumulate ? `${dst} = ${dst} + ${value};` : `${dst} = ${value};`;
}

/** A flat kernel over batch × size(v): `b` and `r` (index within the fit) are in scope. */
function flatOver(
  k: KernelBuilder,
  label: string,
  batch: number,
  per: number,
  body: string,
  helpers = "",
): Kernel {
  const n = batch * per;
  const { dispatch, rowStride } = flatDispatch(n);
  return k.finish(
    label,
    `${flatMain(n, rowStride)}
  let b = i / ${per};
  let r = i % ${per};
${body}
}`,
    dispatch,
    helpers,
  );
}

/** A kernel with one `width`-wide workgroup per (fit, channel) (workgroup_id.x = channel). */
function perGroup(
  k: KernelBuilder,
  label: string,
  channels: number,
  batch: number,
  body: string,
  helpers: string,
  width: number,
): Kernel {
  return k.finish(
    label,
    `@compute @workgroup_size(${width})
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lid = lid3.x;
  let c = i32(wid.x);
  let b = i32(wid.y);
${body}
}`,
    [channels, batch, 1],
    `${reductionFns(width)}\n${helpers}`,
  );
}

// ---- convolution ------------------------------------------------------------------------

interface ConvShape {
  readonly x: View;
  readonly y: View;
  readonly k: number;
  readonly stride: number;
  readonly pad: "reflection" | "zero" | "replicate";
  readonly p: number;
}

function convShape(
  kind: string,
  x: View,
  y: View,
  k: number,
  stride: number,
  pad: ConvShape["pad"],
  padding: number | undefined,
): ConvShape {
  // `padding` overrides (k-1)/2 for the in-network Lanczos downsampler (even k).
  const p = padding ?? (k - 1) >> 1;
  const oh = Math.floor((x.h + 2 * p - k) / stride) + 1;
  const ow = Math.floor((x.w + 2 * p - k) / stride) + 1;
  if (oh !== y.h || ow !== y.w) {
    throw new Error(
      `engine/webgpu ${kind}: expected output ${oh}×${ow} for input ${x.h}×${x.w}, k ${k}, stride ${stride} but received ${y.h}×${y.w}`,
    );
  }
  if (pad === "reflection" && (p >= x.h || p >= x.w)) {
    throw new Error(
      `engine/webgpu ${kind}: expected reflection padding ${p} below the input size but received ${x.h}×${x.w}`,
    );
  }
  return { x, y, k, stride, pad, p };
}

/** Pixels per conv invocation for rows `width` wide: the tuning's, less for narrow rows. */
function pixelsPerInvocation(t: Tuning, width: number): number {
  let n = 4;
  while (n < width && n < t.convPixels) n *= 2;
  return Math.min(n, t.convPixels);
}

function convForward(plan: Plan, s: Extract<Step, { kind: "conv" }>, t: Tuning): Kernel {
  const tileP = pixelsPerInvocation(t, s.y.w);
  const g = convShape("conv", s.x, s.y, s.k, s.stride, s.pad, s.padding);
  const gemm = t.convGemm ? gemmConvForward(plan, s, g.p) : undefined;
  if (gemm) return gemm;
  const { x, y, k, stride, p } = g;
  const kb = new KernelBuilder(plan.batch);
  const cin = x.c;
  const cout = y.c;
  const kk = k * k;
  const gw = Math.ceil(y.w / tileP);
  const groups = y.h * gw;
  const cg = Math.ceil(cout / TILE_C);
  const P = kb.r("param");
  const X = kb.r(x.arena);
  const lines: string[] = [];
  lines.push(`  let g = i32(gid.x);
  if (g >= ${groups}) { return; }
  let b = i32(gid.z);
  let oy = g / ${gw};
  let ox0 = (g % ${gw}) * ${tileP};
  let co0 = i32(gid.y) * ${TILE_C};
  let xb = ${kb.base(x)} + b * ${x.batchStride};
  let wb = b * ${plan.paramsPerFit} + ${kb.off("param", s.weight.offset)};`);
  for (let ky = 0; ky < k; ky++) {
    lines.push(`  let ry${ky} = oy * ${stride} + ${ky - p};`);
    lines.push(`  let ro${ky} = pad_${s.pad}(ry${ky}, ${x.h}) * ${x.w};`);
    if (s.pad === "zero") lines.push(`  let my${ky} = inside(ry${ky}, ${x.h});`);
  }
  // Input columns the tile reads: t = i·stride + kx for pixel i and tap kx (shared between taps).
  const cols = (tileP - 1) * stride + k;
  for (let t = 0; t < cols; t++) {
    lines.push(`  let rx${t} = ox0 * ${stride} + ${t - p};`);
    lines.push(`  let cx${t} = pad_${s.pad}(rx${t}, ${x.w});`);
    if (s.pad === "zero") lines.push(`  let mx${t} = inside(rx${t}, ${x.w});`);
  }
  if (s.pad === "zero") {
    for (let ky = 0; ky < k; ky++) {
      for (let t = 0; t < cols; t++) lines.push(`  let m${ky}_${t} = my${ky} * mx${t};`);
    }
  }
  for (let j = 0; j < TILE_C; j++) {
    lines.push(`  let wj${j} = wb + min(co0 + ${j}, ${cout - 1}) * ${cin * kk};`);
    const init = s.bias
      ? `${P}[b * ${plan.paramsPerFit} + ${kb.off("param", s.bias.offset)} + min(co0 + ${j}, ${
        cout - 1
      })]`
      : "0.0";
    for (let i = 0; i < tileP; i++) lines.push(`  var a${j}_${i}: f32 = ${init};`);
  }
  lines.push(`  for (var ci = 0; ci < ${cin}; ci++) {
    let xc = xb + ci * ${x.h * x.w};
    let wc = ci * ${kk};`);
  for (let ky = 0; ky < k; ky++) {
    for (let t = 0; t < cols; t++) {
      const mask = s.pad === "zero" ? ` * m${ky}_${t}` : "";
      lines.push(`    let v${ky}_${t} = ${X}[xc + ro${ky} + cx${t}]${mask};`);
    }
    for (let kx = 0; kx < k; kx++) {
      const tap = ky * k + kx;
      for (let j = 0; j < TILE_C; j++) {
        lines.push(`    let w${tap}_${j} = ${P}[wj${j} + wc + ${tap}];`);
        for (let i = 0; i < tileP; i++) {
          lines.push(`    a${j}_${i} = fma(w${tap}_${j}, v${ky}_${i * stride + kx}, a${j}_${i});`);
        }
      }
    }
  }
  lines.push("  }");
  const Y = kb.w(y.arena);
  for (let j = 0; j < TILE_C; j++) {
    for (let i = 0; i < tileP; i++) {
      lines.push(
        `  if (co0 + ${j} < ${cout} && ox0 + ${i} < ${y.w}) { ${Y}[${
          kb.base(y, true)
        } + b * ${y.batchStride} + (co0 + ${j}) * ${
          y.h * y.w
        } + oy * ${y.w} + ox0 + ${i}] = a${j}_${i}; }`,
      );
    }
  }
  return kb.finish(
    `conv ${cin}→${cout} k${k} s${stride} ${s.pad} ${x.h}×${x.w}`,
    `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
${lines.join("\n")}
}`,
    [Math.ceil(groups / 64), cg, plan.batch],
    padFns(),
  );
}

/**
 * The register-tiled transposed gather of conv_bwd_data: each invocation sums, for 4 input
 * channels × tileP padded positions (r + i·dr, c0 + i·dc), Σ_co Σ_taps dy · w. `prologue` defines
 * `b`, `ci0`, `r`, `c0`, `dr`, `dc` (i32, padded coordinates; a row or a column of positions)
 * or returns; `store(j, i, v)` writes one sum.
 */
function transposedTile(
  plan: Plan,
  tileP: number,
  kb: KernelBuilder,
  s: Extract<Step, { kind: "conv_bwd_data" }>,
  prologue: string,
  store: (j: number, i: number, value: string) => string,
): string {
  const { dy, dx, k, stride } = s;
  const cin = dx.c;
  const cout = dy.c;
  const kk = k * k;
  const P = kb.r("param");
  const DY = kb.r(dy.arena);
  const lines: string[] = [prologue];
  lines.push(`  let db = ${kb.base(dy)} + b * ${dy.batchStride};
  let wb = b * ${plan.paramsPerFit} + ${kb.off("param", s.weight.offset)};`);
  const validIdx = (t: string, n: number) =>
    stride === 1
      ? `${t} >= 0 && ${t} < ${n}`
      : `${t} >= 0 && ${t} % ${stride} == 0 && ${t} / ${stride} < ${n}`;
  for (let i = 0; i < tileP; i++) {
    for (let ky = 0; ky < k; ky++) {
      lines.push(`  let ty${ky}_${i} = r + ${i} * dr - ${ky};`);
      lines.push(`  let my${ky}_${i} = select(0.0, 1.0, ${validIdx(`ty${ky}_${i}`, dy.h)});`);
      lines.push(`  let oo${ky}_${i} = clamp(ty${ky}_${i} / ${stride}, 0, ${dy.h - 1}) * ${dy.w};`);
    }
    for (let kx = 0; kx < k; kx++) {
      lines.push(`  let tx${kx}_${i} = c0 + ${i} * dc - ${kx};`);
      lines.push(`  let mx${kx}_${i} = select(0.0, 1.0, ${validIdx(`tx${kx}_${i}`, dy.w)});`);
      lines.push(`  let ox${kx}_${i} = clamp(tx${kx}_${i} / ${stride}, 0, ${dy.w - 1});`);
    }
  }
  for (let ky = 0; ky < k; ky++) {
    for (let kx = 0; kx < k; kx++) {
      for (let i = 0; i < tileP; i++) {
        lines.push(`  let m${ky}_${kx}_${i} = my${ky}_${i} * mx${kx}_${i};`);
      }
    }
  }
  for (let j = 0; j < TILE_C; j++) {
    lines.push(`  let wj${j} = wb + min(ci0 + ${j}, ${cin - 1}) * ${kk};`);
    for (let i = 0; i < tileP; i++) lines.push(`  var a${j}_${i}: f32 = 0.0;`);
  }
  lines.push(`  for (var co = 0; co < ${cout}; co++) {
    let dco = db + co * ${dy.h * dy.w};
    let wc = co * ${cin * kk};`);
  for (let ky = 0; ky < k; ky++) {
    for (let kx = 0; kx < k; kx++) {
      const tap = ky * k + kx;
      for (let i = 0; i < tileP; i++) {
        lines.push(
          `    let v${tap}_${i} = ${DY}[dco + oo${ky}_${i} + ox${kx}_${i}] * m${ky}_${kx}_${i};`,
        );
      }
      for (let j = 0; j < TILE_C; j++) {
        lines.push(`    let w${tap}_${j} = ${P}[wj${j} + wc + ${tap}];`);
        for (let i = 0; i < tileP; i++) {
          lines.push(`    a${j}_${i} = fma(w${tap}_${j}, v${tap}_${i}, a${j}_${i});`);
        }
      }
    }
  }
  lines.push("  }");
  for (let j = 0; j < TILE_C; j++) {
    for (let i = 0; i < tileP; i++) lines.push(store(j, i, `a${j}_${i}`));
  }
  return `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
${lines.join("\n")}
}`;
}

function convBwdData(
  plan: Plan,
  s: Extract<Step, { kind: "conv_bwd_data" }>,
  t: Tuning,
): Kernel[] {
  const tileP = pixelsPerInvocation(t, s.dx.w);
  // Forward geometry: dx is the conv input, dy its output.
  const g = convShape("conv_bwd_data", s.dx, s.dy, s.k, s.stride, s.pad, s.padding);
  const { x: dx, y: dy, k, stride, p } = g;
  const cin = dx.c;
  const cout = dy.c;
  const H = dx.h;
  const W = dx.w;
  const kernels: Kernel[] = [];
  // Kernel A: the gradient at each input pixel's own padded position.
  const gemm = t.convGemm ? gemmConvBwdData(plan, s, p) : undefined;
  if (gemm) kernels.push(gemm);
  else {
    const kb = new KernelBuilder(plan.batch);
    const gw = Math.ceil(W / tileP);
    const groups = H * gw;
    const prologue = `  let g = i32(gid.x);
  if (g >= ${groups}) { return; }
  let b = i32(gid.z);
  let ci0 = i32(gid.y) * ${TILE_C};
  let iy = g / ${gw};
  let ix0 = (g % ${gw}) * ${tileP};
  let r = iy + ${p};
  let c0 = ix0 + ${p};
  let dr = 0;
  let dc = 1;`;
    const DX = kb.w(dx.arena);
    const base = kb.base(dx, true);
    const body = transposedTile(plan, tileP, kb, s, prologue, (j, i, v) => {
      const dst = `${DX}[${base} + b * ${dx.batchStride} + (ci0 + ${j}) * ${
        H * W
      } + iy * ${W} + ix0 + ${i}]`;
      return `  if (ci0 + ${j} < ${cin} && ix0 + ${i} < ${W}) { ${store(dst, v, s.accumulate)} }`;
    });
    kernels.push(kb.finish(
      `conv_bwd_data ${cout}→${cin} k${k} s${stride} ${s.pad} ${H}×${W}`,
      body,
      [Math.ceil(groups / 64), Math.ceil(cin / TILE_C), plan.batch],
    ));
  }
  // Reflection/replicate padding maps the ring of padded positions around the input onto
  // pixels near its edge. Kernel B computes the gradient at each ring position (once), kernel
  // C adds those to the pixels they map to (a gather over a band of q pixels along each edge).
  if (s.pad !== "zero" && p > 0) {
    const wp = W + 2 * p;
    const ring = 2 * p * wp + 2 * p * H;
    const padFn = `pad_${s.pad}`;
    const scratchFloats = plan.batch * cin * ring;
    {
      // Tiles over the ring: rows of positions along the p top and p bottom padded rows (full
      // padded width), columns of positions down the p left and p right padded columns.
      const kb = new KernelBuilder(plan.batch);
      const gwp = Math.ceil(wp / tileP);
      const ghp = Math.ceil(H / tileP);
      const strips = 2 * p * gwp;
      const groups = strips + 2 * p * ghp;
      const S = kb.scratch(scratchFloats);
      const prologue = `  let g = i32(gid.x);
  if (g >= ${groups}) { return; }
  let b = i32(gid.z);
  let ci0 = i32(gid.y) * ${TILE_C};
  var r = 0;
  var c0 = 0;
  var dr = 0;
  var dc = 1;
  var e0 = 0;
  var estep = 1;
  var keep = 0;
  if (g < ${strips}) {
    let row = g / ${gwp};
    r = select(${H} + row, row, row < ${p});
    c0 = (g % ${gwp}) * ${tileP};
    e0 = row * ${wp} + c0;
    keep = ${wp} - c0;
  } else {
    let g2 = g - ${strips};
    let j = g2 / ${ghp};
    r = ${p} + (g2 % ${ghp}) * ${tileP};
    c0 = select(${W} + j, j, j < ${p});
    dr = 1;
    dc = 0;
    e0 = ${2 * p * wp} + (r - ${p}) * ${2 * p} + j;
    estep = ${2 * p};
    keep = ${H + p} - r;
  }`;
      const body = transposedTile(
        plan,
        tileP,
        kb,
        s,
        prologue,
        (j, i, v) =>
          `  if (ci0 + ${j} < ${cin} && ${i} < keep) { ${S}[(b * ${cin} + ci0 + ${j}) * ${ring} + e0 + ${i} * estep] = ${v}; }`,
      );
      kernels.push(kb.finish(
        `conv_bwd_data ring ${s.pad} ${H}×${W}`,
        body,
        [Math.ceil(groups / 64), Math.ceil(cin / TILE_C), plan.batch],
      ));
    }
    {
      const kb = new KernelBuilder(plan.batch);
      const q = p + 1;
      const all = H <= 2 * q || W <= 2 * q;
      const count = all ? H * W : 2 * q * W + (H - 2 * q) * 2 * q;
      const n = plan.batch * cin * count;
      const { dispatch, rowStride } = flatDispatch(n);
      const S = kb.r("scratch");
      const DX = kb.w(dx.arena);
      const body = `${flatMain(n, rowStride)}
  let e = i % ${count};
  let bc = i / ${count};
  let ci = bc % ${cin};
  let b = i / ${count * cin};
  var iy = 0;
  var ix = 0;
  if (${all}) {
    iy = e / ${W};
    ix = e % ${W};
  } else if (e < ${2 * q * W}) {
    let row = e / ${W};
    iy = select(${H - 2 * q} + row, row, row < ${q});
    ix = e % ${W};
  } else {
    let e2 = e - ${2 * q * W};
    iy = ${q} + e2 / ${2 * q};
    let j = e2 % ${2 * q};
    ix = select(${W - 2 * q} + j, j, j < ${q});
  }
  let sb = bc * ${ring};
  var acc = 0.0;
  for (var rr = 0; rr <= ${2 * p}; rr++) {
    let r = select(select(${H + p} + rr - ${p + 1}, rr - 1, rr <= ${p}), iy + ${p}, rr == 0);
    if (rr != 0 && ${padFn}(r - ${p}, ${H}) != iy) { continue; }
    for (var cc = 0; cc <= ${2 * p}; cc++) {
      if (rr == 0 && cc == 0) { continue; }
      let c = select(select(${W + p} + cc - ${p + 1}, cc - 1, cc <= ${p}), ix + ${p}, cc == 0);
      if (cc != 0 && ${padFn}(c - ${p}, ${W}) != ix) { continue; }
      // Index of ring position (r, c), the inverse of kernel B's enumeration.
      var e = 0;
      if (r < ${p}) {
        e = r * ${wp} + c;
      } else if (r >= ${H + p}) {
        e = ${p * wp} + (r - ${H + p}) * ${wp} + c;
      } else {
        e = ${2 * p * wp} + (r - ${p}) * ${2 * p} + select(c - ${W}, c, c < ${p});
      }
      acc = acc + ${S}[sb + e];
    }
  }
  let d = ${kb.base(dx, true)} + b * ${dx.batchStride} + ci * ${H * W} + iy * ${W} + ix;
  ${DX}[d] = ${DX}[d] + acc;
}`;
      kernels.push(kb.finish(`conv_bwd_data fold ${s.pad} ${H}×${W}`, body, dispatch, padFns()));
    }
  }
  return kernels;
}

function convBwdWeight(
  plan: Plan,
  s: Extract<Step, { kind: "conv_bwd_weight" }>,
  t: Tuning,
): Kernel[] {
  const g = convShape("conv_bwd_weight", s.x, s.dy, s.k, s.stride, s.pad, s.padding);
  const gemm = t.convGemm ? gemmConvBwdWeight(plan, s, g.p) : undefined;
  if (gemm) return gemm;
  const { x, y: dy, k, stride, p } = g;
  const cin = x.c;
  const cout = dy.c;
  const kk = k * k;
  const tc = k <= 3 ? t.bwdWeightTile[0] : k <= 5 ? 4 : 1; // tc · cit · k² sums in registers
  const cit = k === 1 ? 4 : k <= 3 ? t.bwdWeightTile[1] : 1;
  const ncog = Math.ceil(cout / tc);
  const tiles = ncog * Math.ceil(cin / cit);
  const splits = Math.max(1, Math.min(dy.h, Math.ceil(t.bwdWeightInvocations / tiles)));
  const rowsPerChunk = Math.ceil(dy.h / splits);
  const chunks = Math.ceil(dy.h / rowsPerChunk);
  const nw = cout * cin * kk;
  const nwb = nw + (s.bias ? cout : 0);
  const kernels: Kernel[] = [];
  {
    const kb = new KernelBuilder(plan.batch);
    const X = kb.r(x.arena);
    const DY = kb.r(dy.arena);
    const S = kb.scratch(plan.batch * chunks * nwb);
    const n = tiles * chunks;
    const lines: string[] = [];
    lines.push(`  let e = i32(gid.x);
  if (e >= ${n}) { return; }
  let b = i32(gid.z);
  let t = e % ${tiles};
  let chunk = e / ${tiles};
  let co0 = (t % ${ncog}) * ${tc};
  let ci0 = (t / ${ncog}) * ${cit};
  let xb = ${kb.base(x)} + b * ${x.batchStride};
  let db = ${kb.base(dy)} + b * ${dy.batchStride};
  let y0 = chunk * ${rowsPerChunk};
  let y1 = min(y0 + ${rowsPerChunk}, ${dy.h});`);
    for (let j = 0; j < tc; j++) {
      lines.push(`  let dj${j} = db + min(co0 + ${j}, ${cout - 1}) * ${dy.h * dy.w};`);
      lines.push(`  var bs${j}: f32 = 0.0;`);
      for (let c = 0; c < cit; c++) {
        for (let t = 0; t < kk; t++) lines.push(`  var a${j}_${c}_${t}: f32 = 0.0;`);
      }
    }
    for (let c = 0; c < cit; c++) {
      lines.push(`  let xc${c} = xb + min(ci0 + ${c}, ${cin - 1}) * ${x.h * x.w};`);
    }
    lines.push(`  for (var oy = y0; oy < y1; oy++) {`);
    for (let ky = 0; ky < k; ky++) {
      lines.push(`    let ry${ky} = oy * ${stride} + ${ky - p};`);
      lines.push(`    let ro${ky} = pad_${s.pad}(ry${ky}, ${x.h}) * ${x.w};`);
      if (s.pad === "zero") lines.push(`    let my${ky} = inside(ry${ky}, ${x.h});`);
    }
    lines.push(`    let drow = oy * ${dy.w};
    for (var ox = 0; ox < ${dy.w}; ox++) {`);
    for (let kx = 0; kx < k; kx++) {
      lines.push(`      let rx${kx} = ox * ${stride} + ${kx - p};`);
      lines.push(`      let cx${kx} = pad_${s.pad}(rx${kx}, ${x.w});`);
      if (s.pad === "zero") lines.push(`      let mx${kx} = inside(rx${kx}, ${x.w});`);
    }
    for (let j = 0; j < tc; j++) {
      lines.push(`      let d${j} = ${DY}[dj${j} + drow + ox];`);
      lines.push(`      bs${j} = bs${j} + d${j};`);
    }
    for (let c = 0; c < cit; c++) {
      for (let ky = 0; ky < k; ky++) {
        for (let kx = 0; kx < k; kx++) {
          const t = ky * k + kx;
          const mask = s.pad === "zero" ? ` * (my${ky} * mx${kx})` : "";
          lines.push(`      let v${c}_${t} = ${X}[xc${c} + ro${ky} + cx${kx}]${mask};`);
          for (let j = 0; j < tc; j++) {
            lines.push(`      a${j}_${c}_${t} = fma(d${j}, v${c}_${t}, a${j}_${c}_${t});`);
          }
        }
      }
    }
    lines.push("    }\n  }");
    lines.push(`  let sb = (b * ${chunks} + chunk) * ${nwb};`);
    for (let j = 0; j < tc; j++) {
      for (let c = 0; c < cit; c++) {
        const stores = Array.from(
          { length: kk },
          (_, t) =>
            `${S}[sb + ((co0 + ${j}) * ${cin} + ci0 + ${c}) * ${kk} + ${t}] = a${j}_${c}_${t};`,
        ).join(" ");
        lines.push(`  if (co0 + ${j} < ${cout} && ci0 + ${c} < ${cin}) { ${stores} }`);
      }
      if (s.bias) {
        lines.push(
          `  if (ci0 == 0 && co0 + ${j} < ${cout}) { ${S}[sb + ${nw} + co0 + ${j}] = bs${j}; }`,
        );
      }
    }
    kernels.push(kb.finish(
      `conv_bwd_weight partial ${cin}→${cout} k${k} s${stride} ${s.pad} ${x.h}×${x.w} (${chunks} chunks)`,
      `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
${lines.join("\n")}
}`,
      [Math.ceil(n / 64), 1, plan.batch],
      padFns(),
    ));
  }
  {
    const kb = new KernelBuilder(plan.batch);
    const S = kb.r("scratch");
    const G = kb.w("grad");
    const biasLine = s.bias
      ? `  else { ${G}[b * ${plan.paramsPerFit} + ${
        kb.off("grad", s.bias.offset)
      } + r - ${nw}] = acc; }`
      : "";
    kernels.push(flatOver(
      kb,
      `conv_bwd_weight reduce ${nwb}×${chunks}`,
      plan.batch,
      nwb,
      `  var acc = 0.0;
  for (var c = 0; c < ${chunks}; c++) { acc = acc + ${S}[(b * ${chunks} + c) * ${nwb} + r]; }
  if (r < ${nw}) { ${G}[b * ${plan.paramsPerFit} + ${kb.off("grad", s.weight.offset)} + r] = acc; }
${biasLine}`,
    ));
  }
  return kernels;
}

// ---- normalisation and pointwise ----------------------------------------------------------

function bnAct(
  plan: Plan,
  s: Extract<Step, { kind: "bn_act" }>,
  t: Tuning,
): Kernel[] {
  checkSameShape("bn_act", s.x, s.y);
  const hw = s.x.h * s.x.w;
  const pp = plan.paramsPerFit;
  const stats = (k: KernelBuilder, write: boolean) => (write ? k.w("stats") : k.r("stats"));
  const k1 = new KernelBuilder(plan.batch);
  const st1 = stats(k1, true);
  const X1 = k1.r(s.x.arena);
  const reduce = perGroup(
    k1,
    `bn stats ${s.x.c}×${hw}`,
    s.x.c,
    plan.batch,
    `  let base = ${k1.base(s.x)} + b * ${s.x.batchStride} + c * ${hw};
  var sum = 0.0;
  for (var i = i32(lid); i < ${hw}; i += ${t.reductionWidth}) { sum = sum + ${X1}[base + i]; }
  let mean = wg_sum(sum, lid) / ${f32Lit(hw)};
  var sq = 0.0;
  for (var i = i32(lid); i < ${hw}; i += ${t.reductionWidth}) { let d = ${X1}[base + i] - mean; sq = fma(d, d, sq); }
  let variance = wg_sum(sq, lid) / ${f32Lit(hw)};
  let istd = inverseSqrt(variance + 1e-5); // PyTorch BatchNorm2d eps
  if (lid == 0u) {
    let so = ${k1.off("stats", s.stats.offset)} + b * ${s.stats.batchStride} + c;
    ${st1}[so] = mean;
    ${st1}[so + ${s.stats.channels}] = istd;
  }${
      t.fuseBn
        ? `
  let gamma = ${k1.r("param")}[b * ${pp} + ${k1.off("param", s.gamma.offset)} + c];
  let beta = b_param[b * ${pp} + ${k1.off("param", s.beta.offset)} + c];
  let yb = ${k1.base(s.y, true)} + b * ${s.y.batchStride} + c * ${hw};
  for (var i = i32(lid); i < ${hw}; i += ${t.reductionWidth}) {
    b_${s.y.arena}[yb + i] = act_${s.act}(fma(gamma, (${X1}[base + i] - mean) * istd, beta));
  }`
        : ""
    }`,
    t.fuseBn ? activationFns(s.act) : "",
    t.reductionWidth,
  );
  if (t.fuseBn) return [reduce];
  const k2 = new KernelBuilder(plan.batch);
  const st2 = stats(k2, false);
  const P = k2.r("param");
  const apply = flatOver(
    k2,
    `bn apply ${s.act}`,
    plan.batch,
    size(s.x),
    `  let c = r / ${hw};
  let so = ${k2.off("stats", s.stats.offset)} + b * ${s.stats.batchStride} + c;
  let xhat = (${at(k2, s.x, "b", "r")} - ${st2}[so]) * ${st2}[so + ${s.stats.channels}];
  let z = fma(${P}[b * ${pp} + ${k2.off("param", s.gamma.offset)} + c], xhat, ${P}[b * ${pp} + ${
      k2.off("param", s.beta.offset)
    } + c]);
  ${at(k2, s.y, "b", "r", true)} = act_${s.act}(z);`,
    activationFns(s.act),
  );
  return [reduce, apply];
}

function bnActBwd(
  plan: Plan,
  s: Extract<Step, { kind: "bn_act_bwd" }>,
  t: Tuning,
): Kernel[] {
  checkSameShape("bn_act_bwd", s.x, s.dy);
  checkSameShape("bn_act_bwd", s.x, s.dx);
  const hw = s.x.h * s.x.w;
  const pp = plan.paramsPerFit;
  const k1 = new KernelBuilder(plan.batch);
  const st1 = k1.r("stats");
  const P1 = k1.r("param");
  const G1 = k1.w("grad");
  const X = k1.r(s.x.arena);
  const DY = k1.r(s.dy.arena);
  const reduce = perGroup(
    k1,
    `bn_bwd sums ${s.x.c}×${hw}`,
    s.x.c,
    plan.batch,
    `  let so = ${k1.off("stats", s.stats.offset)} + b * ${s.stats.batchStride} + c;
  let mean = ${st1}[so];
  let istd = ${st1}[so + ${s.stats.channels}];
  let gamma = ${P1}[b * ${pp} + ${k1.off("param", s.gamma.offset)} + c];
  let beta = ${P1}[b * ${pp} + ${k1.off("param", s.beta.offset)} + c];
  let xb = ${k1.base(s.x)} + b * ${s.x.batchStride} + c * ${hw};
  let db = ${k1.base(s.dy)} + b * ${s.dy.batchStride} + c * ${hw};
  var sdz = 0.0;
  var sdzx = 0.0;
  for (var i = i32(lid); i < ${hw}; i += ${t.reductionWidth}) {
    let xhat = (${X}[xb + i] - mean) * istd;
    let dz = ${DY}[db + i] * actd_${s.act}(fma(gamma, xhat, beta));
    sdz = sdz + dz;
    sdzx = fma(dz, xhat, sdzx);
  }
  let dbeta = wg_sum(sdz, lid);
  let dgamma = wg_sum(sdzx, lid);
  if (lid == 0u) {
    ${G1}[b * ${pp} + ${k1.off("grad", s.beta.offset)} + c] = dbeta;
    ${G1}[b * ${pp} + ${k1.off("grad", s.gamma.offset)} + c] = dgamma;
  }${
      t.fuseBn
        ? `
  let dxb = ${k1.base(s.dx, true)} + b * ${s.dx.batchStride} + c * ${hw};
  for (var i = i32(lid); i < ${hw}; i += ${t.reductionWidth}) {
    let xhat = (${X}[xb + i] - mean) * istd;
    let dz = ${DY}[db + i] * actd_${s.act}(fma(gamma, xhat, beta));
    let v = gamma * istd * (dz - (dbeta + xhat * dgamma) / ${f32Lit(hw)});
    ${store(`b_${s.dx.arena}[dxb + i]`, "v", s.accumulate)}
  }`
        : ""
    }`,
    activationFns(s.act),
    t.reductionWidth,
  );
  if (t.fuseBn) return [reduce];
  const k2 = new KernelBuilder(plan.batch);
  const st2 = k2.r("stats");
  const P2 = k2.r("param");
  const G2 = k2.r("grad");
  const apply = flatOver(
    k2,
    `bn_bwd apply ${s.act}`,
    plan.batch,
    size(s.x),
    `  let c = r / ${hw};
  let so = ${k2.off("stats", s.stats.offset)} + b * ${s.stats.batchStride} + c;
  let istd = ${st2}[so + ${s.stats.channels}];
  let xhat = (${at(k2, s.x, "b", "r")} - ${st2}[so]) * istd;
  let gamma = ${P2}[b * ${pp} + ${k2.off("param", s.gamma.offset)} + c];
  let dz = ${at(k2, s.dy, "b", "r")} * actd_${s.act}(fma(gamma, xhat, ${P2}[b * ${pp} + ${
      k2.off("param", s.beta.offset)
    } + c]));
  let dbeta = ${G2}[b * ${pp} + ${k2.off("grad", s.beta.offset)} + c];
  let dgamma = ${G2}[b * ${pp} + ${k2.off("grad", s.gamma.offset)} + c];
  let v = gamma * istd * (dz - (dbeta + xhat * dgamma) / ${f32Lit(hw)});
  ${store(at(k2, s.dx, "b", "r", true), "v", s.accumulate)}`,
    activationFns(s.act),
  );
  return [reduce, apply];
}

function pointwiseAct(plan: Plan, s: Extract<Step, { kind: "act" }>): Kernel {
  checkSameShape("act", s.x, s.y);
  const k = new KernelBuilder(plan.batch);
  return flatOver(
    k,
    `act ${s.act}`,
    plan.batch,
    size(s.x),
    `  ${at(k, s.y, "b", "r", true)} = act_${s.act}(${at(k, s.x, "b", "r")});`,
    activationFns(s.act),
  );
}

function pointwiseActBwd(plan: Plan, s: Extract<Step, { kind: "act_bwd" }>): Kernel {
  checkSameShape("act_bwd", s.x, s.dx);
  const k = new KernelBuilder(plan.batch);
  return flatOver(
    k,
    `act_bwd ${s.act}`,
    plan.batch,
    size(s.x),
    `  let v = ${at(k, s.dy, "b", "r")} * actd_${s.act}(${at(k, s.x, "b", "r")});
  ${store(at(k, s.dx, "b", "r", true), "v", s.accumulate)}`,
    activationFns(s.act),
  );
}

// ---- resampling -----------------------------------------------------------------------------

function pool(plan: Plan, s: Extract<Step, { kind: "pool" }>): Kernel {
  const { x, y } = s;
  if (y.h !== x.h >> 1 || y.w !== x.w >> 1 || y.c !== x.c) {
    throw new Error(
      `engine/webgpu pool: expected output ${x.c}×${x.h >> 1}×${
        x.w >> 1
      } but received ${y.c}×${y.h}×${y.w}`,
    );
  }
  const k = new KernelBuilder(plan.batch);
  const combine = s.mode === "avg"
    ? "0.25 * ((v00 + v01) + (v10 + v11))"
    : "max(max(v00, v01), max(v10, v11))";
  return flatOver(
    k,
    `pool ${s.mode}`,
    plan.batch,
    size(y),
    `  let c = r / ${y.h * y.w};
  let oy = (r / ${y.w}) % ${y.h};
  let ox = r % ${y.w};
  let q = c * ${x.h * x.w} + 2 * oy * ${x.w} + 2 * ox;
  let v00 = ${at(k, x, "b", "q")};
  let v01 = ${at(k, x, "b", "q + 1")};
  let v10 = ${at(k, x, "b", `q + ${x.w}`)};
  let v11 = ${at(k, x, "b", `q + ${x.w + 1}`)};
  ${at(k, y, "b", "r", true)} = ${combine};`,
  );
}

function poolBwd(plan: Plan, s: Extract<Step, { kind: "pool_bwd" }>): Kernel {
  const { x, dy, dx } = s;
  checkSameShape("pool_bwd", x, dx);
  const k = new KernelBuilder(plan.batch);
  const value = s.mode === "avg"
    ? `0.25 * ${at(k, dy, "b", "o")}`
    : `select(0.0, ${at(k, dy, "b", "o")}, arg == mine)`;
  const maxLines = s.mode === "max"
    ? `    let q = c * ${x.h * x.w} + 2 * oy * ${x.w} + 2 * ox;
    let v00 = ${at(k, x, "b", "q")};
    let v01 = ${at(k, x, "b", "q + 1")};
    let v10 = ${at(k, x, "b", `q + ${x.w}`)};
    let v11 = ${at(k, x, "b", `q + ${x.w + 1}`)};
    var best = v00;
    var arg = 0;
    if (v01 > best) { best = v01; arg = 1; }
    if (v10 > best) { best = v10; arg = 2; }
    if (v11 > best) { best = v11; arg = 3; }
    let mine = (iy % 2) * 2 + ix % 2;`
    : "";
  return flatOver(
    k,
    `pool_bwd ${s.mode}`,
    plan.batch,
    size(dx),
    `  let c = r / ${x.h * x.w};
  let iy = (r / ${x.w}) % ${x.h};
  let ix = r % ${x.w};
  let oy = iy / 2;
  let ox = ix / 2;
  var v = 0.0;
  if (oy < ${dy.h} && ox < ${dy.w}) {
    let o = c * ${dy.h * dy.w} + oy * ${dy.w} + ox;
${maxLines}
    v = ${value};
  }
  ${store(at(k, dx, "b", "r", true), "v", s.accumulate)}`,
  );
}

/** WGSL: source row/col of output o for bilinear ×2, align_corners=False (PyTorch). */
function bilinearFns(): string {
  return `fn src_lo(o: i32) -> i32 { return i32(floor(max(0.0, (f32(o) + 0.5) * 0.5 - 0.5))); }
fn src_lambda(o: i32) -> f32 { let s = max(0.0, (f32(o) + 0.5) * 0.5 - 0.5); return s - floor(s); }`;
}

function upsample(plan: Plan, s: Extract<Step, { kind: "upsample" }>): Kernel {
  const { x, y } = s;
  if (y.h !== 2 * x.h || y.w !== 2 * x.w || y.c !== x.c) {
    throw new Error(
      `engine/webgpu upsample: expected output ${x.c}×${2 * x.h}×${
        2 * x.w
      } but received ${y.c}×${y.h}×${y.w}`,
    );
  }
  const k = new KernelBuilder(plan.batch);
  const head = `  let c = r / ${y.h * y.w};
  let oy = (r / ${y.w}) % ${y.h};
  let ox = r % ${y.w};
  let xc = c * ${x.h * x.w};`;
  const body = s.mode === "nearest"
    ? `${head}
  ${at(k, y, "b", "r", true)} = ${at(k, x, "b", `xc + (oy / 2) * ${x.w} + ox / 2`)};`
    : `${head}
  let y0 = src_lo(oy);
  let y1 = min(y0 + 1, ${x.h - 1});
  let ly = src_lambda(oy);
  let x0 = src_lo(ox);
  let x1 = min(x0 + 1, ${x.w - 1});
  let lx = src_lambda(ox);
  let top = (1.0 - lx) * ${at(k, x, "b", `xc + y0 * ${x.w} + x0`)} + lx * ${
      at(k, x, "b", `xc + y0 * ${x.w} + x1`)
    };
  let bot = (1.0 - lx) * ${at(k, x, "b", `xc + y1 * ${x.w} + x0`)} + lx * ${
      at(k, x, "b", `xc + y1 * ${x.w} + x1`)
    };
  ${at(k, y, "b", "r", true)} = (1.0 - ly) * top + ly * bot;`;
  return flatOver(
    k,
    `upsample ${s.mode}`,
    plan.batch,
    size(y),
    body,
    s.mode === "bilinear" ? bilinearFns() : "",
  );
}

function upsampleBwd(plan: Plan, s: Extract<Step, { kind: "upsample_bwd" }>): Kernel {
  const { dy, dx } = s;
  if (dy.h !== 2 * dx.h || dy.w !== 2 * dx.w || dy.c !== dx.c) {
    throw new Error(
      `engine/webgpu upsample_bwd: expected dy ${dx.c}×${2 * dx.h}×${
        2 * dx.w
      } but received ${dy.c}×${dy.h}×${dy.w}`,
    );
  }
  const k = new KernelBuilder(plan.batch);
  const head = `  let c = r / ${dx.h * dx.w};
  let iy = (r / ${dx.w}) % ${dx.h};
  let ix = r % ${dx.w};
  let dc = c * ${dy.h * dy.w};`;
  const body = s.mode === "nearest"
    ? `${head}
  let o = dc + 2 * iy * ${dy.w} + 2 * ix;
  let v = (${at(k, dy, "b", "o")} + ${at(k, dy, "b", "o + 1")}) + (${
      at(k, dy, "b", `o + ${dy.w}`)
    } + ${at(k, dy, "b", `o + ${dy.w + 1}`)});
  ${store(at(k, dx, "b", "r", true), "v", s.accumulate)}`
    : `${head}
  var v = 0.0;
  for (var oy = max(0, 2 * iy - 2); oy <= min(${dy.h - 1}, 2 * iy + 2); oy++) {
    let y0 = src_lo(oy);
    let ly = src_lambda(oy);
    let wy = select(0.0, 1.0 - ly, y0 == iy) + select(0.0, ly, min(y0 + 1, ${dx.h - 1}) == iy);
    if (wy == 0.0) { continue; }
    for (var ox = max(0, 2 * ix - 2); ox <= min(${dy.w - 1}, 2 * ix + 2); ox++) {
      let x0 = src_lo(ox);
      let lx = src_lambda(ox);
      let wx = select(0.0, 1.0 - lx, x0 == ix) + select(0.0, lx, min(x0 + 1, ${dx.w - 1}) == ix);
      v = fma(wy * wx, ${at(k, dy, "b", `dc + oy * ${dy.w} + ox`)}, v);
    }
  }
  ${store(at(k, dx, "b", "r", true), "v", s.accumulate)}`;
  return flatOver(
    k,
    `upsample_bwd ${s.mode}`,
    plan.batch,
    size(dx),
    body,
    s.mode === "bilinear" ? bilinearFns() : "",
  );
}

function cropCopy(plan: Plan, s: Extract<Step, { kind: "crop_copy" }>): Kernel {
  const { x, y } = s;
  const dy0 = Math.floor((x.h - y.h) / 2);
  const dx0 = Math.floor((x.w - y.w) / 2);
  if (dy0 < 0 || dx0 < 0 || x.c !== y.c) {
    throw new Error(
      `engine/webgpu crop_copy: expected output within ${x.c}×${x.h}×${x.w} but received ${y.c}×${y.h}×${y.w}`,
    );
  }
  const k = new KernelBuilder(plan.batch);
  return flatOver(
    k,
    "crop_copy",
    plan.batch,
    size(y),
    `  let c = r / ${y.h * y.w};
  let oy = (r / ${y.w}) % ${y.h};
  let ox = r % ${y.w};
  ${at(k, y, "b", "r", true)} = ${
      at(k, x, "b", `c * ${x.h * x.w} + (oy + ${dy0}) * ${x.w} + ox + ${dx0}`)
    };`,
  );
}

function cropCopyBwd(plan: Plan, s: Extract<Step, { kind: "crop_copy_bwd" }>): Kernel {
  const { dy, dx } = s;
  const dy0 = Math.floor((dx.h - dy.h) / 2);
  const dx0 = Math.floor((dx.w - dy.w) / 2);
  const k = new KernelBuilder(plan.batch);
  return flatOver(
    k,
    "crop_copy_bwd",
    plan.batch,
    size(dx),
    `  let c = r / ${dx.h * dx.w};
  let iy = (r / ${dx.w}) % ${dx.h} - ${dy0};
  let ix = r % ${dx.w} - ${dx0};
  var v = 0.0;
  if (iy >= 0 && iy < ${dy.h} && ix >= 0 && ix < ${dy.w}) {
    v = ${at(k, dy, "b", `c * ${dy.h * dy.w} + iy * ${dy.w} + ix`)};
  }
  ${store(at(k, dx, "b", "r", true), "v", s.accumulate)}`,
  );
}

function tapsFns(taps: readonly number[]): string {
  return `var<private> TAPS: array<f32, ${taps.length}> = array<f32, ${taps.length}>(${
    taps.map(f32Lit).join(", ")
  });
fn tap(i: i32) -> f32 { return select(0.0, TAPS[clamp(i, 0, ${
    taps.length - 1
  })], i >= 0 && i < ${taps.length}); }`;
}

function resampleDown(plan: Plan, s: Extract<Step, { kind: "resample_down" }>): Kernel {
  const { x, y, factor: f, taps, pad } = s;
  const t = taps.length;
  const oh = Math.floor((x.h + 2 * pad - t) / f) + 1;
  const ow = Math.floor((x.w + 2 * pad - t) / f) + 1;
  if (oh !== y.h || ow !== y.w) {
    throw new Error(
      `engine/webgpu resample_down: expected output ${oh}×${ow} but received ${y.h}×${y.w}`,
    );
  }
  const k = new KernelBuilder(plan.batch);
  return flatOver(
    k,
    `resample_down ×1/${f}`,
    plan.batch,
    size(y),
    `  let c = r / ${y.h * y.w};
  let oy = (r / ${y.w}) % ${y.h};
  let ox = r % ${y.w};
  let xc = c * ${x.h * x.w};
  var v = 0.0;
  for (var i = 0; i < ${t}; i++) {
    let row = xc + clamp(oy * ${f} + i - ${pad}, 0, ${x.h - 1}) * ${x.w};
    var rowSum = 0.0;
    for (var j = 0; j < ${t}; j++) {
      rowSum = fma(TAPS[j], ${
      at(k, x, "b", `row + clamp(ox * ${f} + j - ${pad}, 0, ${x.w - 1})`)
    }, rowSum);
    }
    v = fma(TAPS[i], rowSum, v);
  }
  ${at(k, y, "b", "r", true)} = v;`,
    tapsFns(taps),
  );
}

function resampleDownBwd(plan: Plan, s: Extract<Step, { kind: "resample_down_bwd" }>): Kernel {
  const { dy, dx, factor: f, taps, pad } = s;
  const t = taps.length;
  const k = new KernelBuilder(plan.batch);
  // Input pixel iy receives padded rows [rlo, rhi] (replicate padding folds the borders).
  return flatOver(
    k,
    `resample_down_bwd ×1/${f}`,
    plan.batch,
    size(dx),
    `  let c = r / ${dx.h * dx.w};
  let iy = (r / ${dx.w}) % ${dx.h};
  let ix = r % ${dx.w};
  let rlo = select(iy + ${pad}, 0, iy == 0);
  let rhi = select(iy + ${pad}, ${dx.h - 1 + 2 * pad}, iy == ${dx.h - 1});
  let clo = select(ix + ${pad}, 0, ix == 0);
  let chi = select(ix + ${pad}, ${dx.w - 1 + 2 * pad}, ix == ${dx.w - 1});
  let dc = c * ${dy.h * dy.w};
  var v = 0.0;
  for (var oy = max(0, (rlo - ${t - 1} + ${f - 1}) / ${f}); oy <= min(${
      dy.h - 1
    }, rhi / ${f}); oy++) {
    var wy = 0.0;
    for (var rr = rlo; rr <= rhi; rr++) { wy = wy + tap(rr - oy * ${f}); }
    for (var ox = max(0, (clo - ${t - 1} + ${f - 1}) / ${f}); ox <= min(${
      dy.w - 1
    }, chi / ${f}); ox++) {
      var wx = 0.0;
      for (var cc = clo; cc <= chi; cc++) { wx = wx + tap(cc - ox * ${f}); }
      v = fma(wy * wx, ${at(k, dy, "b", `dc + oy * ${dy.w} + ox`)}, v);
    }
  }
  ${store(at(k, dx, "b", "r", true), "v", s.accumulate)}`,
    tapsFns(taps),
  );
}

// ---- step level -----------------------------------------------------------------------------

function inputNoise(plan: Plan, s: Extract<Step, { kind: "input_noise" }>): Kernel {
  checkSameShape("input_noise", s.z0, s.z);
  const k = new KernelBuilder(plan.batch);
  if (s.std === 0) {
    return flatOver(
      k,
      "input copy",
      plan.batch,
      size(s.z),
      `  ${at(k, s.z, "b", "r", true)} = ${at(k, s.z0, "b", "r")};`,
    );
  }
  const C = k.r("ctrl");
  return flatOver(
    k,
    "input_noise",
    plan.batch,
    size(s.z),
    `  let n = gaussian_at(${C}[${CTRL_SEEDS} + b], ${C}[0], u32(r));
  ${at(k, s.z, "b", "r", true)} = fma(${f32Lit(s.std)}, n, ${at(k, s.z0, "b", "r")});`,
    rngFns(),
  );
}

function mseLoss(
  plan: Plan,
  s: Extract<Step, { kind: "mse_loss" }>,
  t: Tuning,
): Kernel[] {
  checkSameShape("mse_loss", s.pred, s.target);
  checkSameShape("mse_loss", s.pred, s.dpred);
  const n = size(s.pred);
  const hw = s.pred.h * s.pred.w;
  const maskExpr = (
    k: KernelBuilder,
    idx: string,
  ) => (s.mask ? at(k, s.mask, "b", `${idx} % ${hw}`) : "1.0");
  const k1 = new KernelBuilder(plan.batch);
  const grad = flatOver(
    k1,
    "mse_loss grad",
    plan.batch,
    n,
    `  let m = ${maskExpr(k1, "r")};
  let d = ${at(k1, s.pred, "b", "r")} - ${at(k1, s.target, "b", "r")};
  ${at(k1, s.dpred, "b", "r", true)} = ${f32Lit(2 / n)} * m * m * d;`,
  );
  const k2 = new KernelBuilder(plan.batch);
  const SC = k2.w("scalars");
  const loss = perGroup(
    k2,
    "mse_loss value",
    1,
    plan.batch,
    `  var acc = 0.0;
  for (var r = i32(lid); r < ${n}; r += ${t.reductionWidth}) {
    let d = ${maskExpr(k2, "r")} * (${at(k2, s.pred, "b", "r")} - ${at(k2, s.target, "b", "r")});
    acc = fma(d, d, acc);
  }
  let total = wg_sum(acc, lid);
  if (lid == 0u && c == 0) { ${SC}[${k2.off("scalars", s.lossOffset)} + b] = total / ${
      f32Lit(n)
    }; }`,
    "",
    t.reductionWidth,
  );
  return [loss, grad];
}

function adam(s: Extract<Step, { kind: "adam" }>): Kernel {
  const k = new KernelBuilder(1);
  const C = k.r("ctrl");
  const P = k.w("param");
  const G = k.r("grad");
  const M = k.w("adamM");
  const V = k.w("adamV");
  const { dispatch, rowStride } = flatDispatch(s.size);
  return k.finish(
    "adam",
    `${flatMain(s.size, rowStride)}
  let t = f32(${C}[0] + 1u);
  let bc1 = 1.0 - pow(${f32Lit(s.beta1)}, t);
  let bc2 = 1.0 - pow(${f32Lit(s.beta2)}, t);
  let g = ${G}[i];
  let m = fma(${f32Lit(s.beta1)}, ${M}[i], ${f32Lit(1 - s.beta1)} * g);
  let v = fma(${f32Lit(s.beta2)}, ${V}[i], ${f32Lit(1 - s.beta2)} * g * g);
  ${M}[i] = m;
  ${V}[i] = v;
  ${P}[i] = ${P}[i] - (${f32Lit(s.lr)} / bc1) * m / (sqrt(v) / sqrt(bc2) + ${f32Lit(s.eps)});
}`,
    dispatch,
  );
}

function ema(plan: Plan, s: Extract<Step, { kind: "ema" }>): Kernel {
  checkSameShape("ema", s.x, s.ema);
  const k = new KernelBuilder(plan.batch);
  const C = k.r("ctrl");
  return flatOver(
    k,
    "ema",
    plan.batch,
    size(s.x),
    `  let x = ${at(k, s.x, "b", "r")};
  let e = ${at(k, s.ema, "b", "r", true)};
  ${at(k, s.ema, "b", "r", true)} = select(fma(${f32Lit(s.decay)}, e, ${
      f32Lit(1 - s.decay)
    } * x), x, ${C}[0] == 0u);`,
  );
}

function psnr(
  plan: Plan,
  s: Extract<Step, { kind: "psnr" }>,
  t: Tuning,
): Kernel {
  checkSameShape("psnr", s.a, s.b);
  const n = size(s.a);
  const k = new KernelBuilder(plan.batch);
  const SC = k.w("scalars");
  return perGroup(
    k,
    "psnr",
    1,
    plan.batch,
    `  var acc = 0.0;
  for (var r = i32(lid); r < ${n}; r += ${t.reductionWidth}) {
    let d = ${at(k, s.a, "b", "r")} - ${at(k, s.b, "b", "r")};
    acc = fma(d, d, acc);
  }
  let total = wg_sum(acc, lid);
  if (lid == 0u && c == 0) { ${SC}[${k.off("scalars", s.offset)} + b] = -10.0 * log(total / ${
      f32Lit(n)
    }) / log(10.0); }`,
    "",
    t.reductionWidth,
  );
}

/**
 * ES-WMV: push x into ring slot (step mod window), the windowed variance per fit, then the
 * running minimum, its step and the best output. Slot j of fit b starts at
 * ring.offset + j·C·H·W + b·ring.batchStride (as engine/reference.ts lays the ring out).
 */
function wmv(
  plan: Plan,
  s: Extract<Step, { kind: "wmv" }>,
  t: Tuning,
): Kernel[] {
  checkSameShape("wmv", s.x, s.best);
  const n = size(s.x);
  const win = s.window;
  const k1 = new KernelBuilder(plan.batch);
  const ringBase = k1.base(s.ring, true, (win - 1) * n + (plan.batch - 1) * s.ring.batchStride + n);
  const slot = (j: string, b: string) => `${ringBase} + ${j} * ${n} + ${b} * ${s.ring.batchStride}`;
  const C1 = k1.r("ctrl");
  const R = k1.w(s.ring.arena);
  const SC1 = k1.w("scalars");
  const variance = perGroup(
    k1,
    "wmv variance",
    1,
    plan.batch,
    `  let step = ${C1}[0];
  let cur = i32(step % ${win}u);
  let filled = step >= ${win - 1}u;
  var acc = 0.0;
  for (var r = i32(lid); r < ${n}; r += ${t.reductionWidth}) {
    let x = ${at(k1, s.x, "b", "r")};
    ${R}[${slot("cur", "b")} + r] = x;
    var mean = 0.0;
    for (var j = 0; j < ${win}; j++) { mean = mean + select(${R}[${
      slot("j", "b")
    } + r], x, j == cur); }
    mean = mean / ${f32Lit(win)};
    var sq = 0.0;
    for (var j = 0; j < ${win}; j++) {
      let d = select(${R}[${slot("j", "b")} + r], x, j == cur) - mean;
      sq = fma(d, d, sq);
    }
    acc = acc + sq;
  }
  let total = wg_sum(acc, lid);
  if (lid == 0u && c == 0 && filled) { ${SC1}[${k1.off("scalars", s.varOffset)} + b] = total / ${
      f32Lit(win * n)
    }; }`,
    "",
    t.reductionWidth,
  );
  const k2 = new KernelBuilder(plan.batch);
  const C2 = k2.r("ctrl");
  const SC2 = k2.r("scalars");
  const best = flatOver(
    k2,
    "wmv best",
    plan.batch,
    n,
    `  if (${C2}[0] >= ${win - 1}u && ${SC2}[${k2.off("scalars", s.varOffset)} + b] < ${SC2}[${
      k2.off("scalars", s.minOffset)
    } + b]) {
    ${at(k2, s.best, "b", "r", true)} = ${at(k2, s.x, "b", "r")};
  }`,
  );
  const k3 = new KernelBuilder(plan.batch);
  const C3 = k3.r("ctrl");
  const SC3 = k3.w("scalars");
  const argmin = flatOver(
    k3,
    "wmv min",
    plan.batch,
    1,
    `  let v = ${SC3}[${k3.off("scalars", s.varOffset)} + b];
  let mo = ${k3.off("scalars", s.minOffset)} + b;
  if (${C3}[0] >= ${win - 1}u && v < ${SC3}[mo]) {
    ${SC3}[mo] = v;
    ${SC3}[${k3.off("scalars", s.argminOffset)} + b] = f32(${C3}[0]);
  }`,
  );
  return [variance, best, argmin];
}

function add(plan: Plan, s: Extract<Step, { kind: "add" }>): Kernel {
  checkSameShape("add", s.a, s.y);
  checkSameShape("add", s.b, s.y);
  const k = new KernelBuilder(plan.batch);
  return flatOver(
    k,
    "add",
    plan.batch,
    size(s.y),
    `  ${at(k, s.y, "b", "r", true)} = ${at(k, s.a, "b", "r")} + ${at(k, s.b, "b", "r")};`,
  );
}

function copyGrad(plan: Plan, s: Extract<Step, { kind: "copy_grad" }>): Kernel {
  checkSameShape("copy_grad", s.dy, s.dx);
  const k = new KernelBuilder(plan.batch);
  return flatOver(
    k,
    "copy_grad",
    plan.batch,
    size(s.dx),
    `  ${store(at(k, s.dx, "b", "r", true), at(k, s.dy, "b", "r"), s.accumulate)}`,
  );
}

/** The kernel that advances the device-side step counter (last in every training step). */
export function stepCounterKernel(): Kernel {
  const k = new KernelBuilder(1);
  const C = k.w("ctrl");
  return k.finish(
    "step counter",
    `@compute @workgroup_size(1)
fn main() { ${C}[0] = ${C}[0] + 1u; }`,
    [1, 1, 1],
  );
}

/** A WGSL kernel of one step kind: the kernels that execute one plan step, in order. */
export type WebgpuKernel<S extends Step = Step> = (plan: Plan, step: S, tuning: Tuning) => Kernel[];

/** The webgpu backend's kernel registry: one entry per step kind of engine/plan.ts. */
export const WEBGPU_KERNELS: { readonly [K in StepKind]: WebgpuKernel<StepOf<K>> } = {
  conv: (plan, step, tuning) => [convForward(plan, step, tuning)],
  bn_act: (plan, step, tuning) => bnAct(plan, step, tuning),
  act: (plan, step) => [pointwiseAct(plan, step)],
  pool: (plan, step) => [pool(plan, step)],
  upsample: (plan, step) => [upsample(plan, step)],
  crop_copy: (plan, step) => [cropCopy(plan, step)],
  add: (plan, step) => [add(plan, step)],
  resample_down: (plan, step) => [resampleDown(plan, step)],
  conv_bwd_data: (plan, step, tuning) => convBwdData(plan, step, tuning),
  conv_bwd_weight: (plan, step, tuning) => convBwdWeight(plan, step, tuning),
  bn_act_bwd: (plan, step, tuning) => bnActBwd(plan, step, tuning),
  act_bwd: (plan, step) => [pointwiseActBwd(plan, step)],
  pool_bwd: (plan, step) => [poolBwd(plan, step)],
  upsample_bwd: (plan, step) => [upsampleBwd(plan, step)],
  crop_copy_bwd: (plan, step) => [cropCopyBwd(plan, step)],
  copy_grad: (plan, step) => [copyGrad(plan, step)],
  resample_down_bwd: (plan, step) => [resampleDownBwd(plan, step)],
  input_noise: (plan, step) => [inputNoise(plan, step)],
  mse_loss: (plan, step, tuning) => mseLoss(plan, step, tuning),
  adam: (_plan, step) => [adam(step)],
  ema: (plan, step) => [ema(plan, step)],
  psnr: (plan, step, tuning) => [psnr(plan, step, tuning)],
  wmv: (plan, step, tuning) => wmv(plan, step, tuning),
};

/** The kernels that execute one plan step, in order. */
export function kernelsForStep(plan: Plan, step: Step, tuning: Tuning = SOFTWARE_TUNING): Kernel[] {
  const kernel = (WEBGPU_KERNELS as Readonly<Record<string, WebgpuKernel | undefined>>)[step.kind];
  if (kernel === undefined || !Object.hasOwn(WEBGPU_KERNELS, step.kind)) {
    throw new RangeError(`webgpu: expected a step kind with a kernel but received ${step.kind}`);
  }
  return kernel(plan, step, tuning);
}

export type { Activation, Kernel, Plan, Step };
