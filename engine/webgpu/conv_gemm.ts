/**
 * Convolution as a tiled implicit GEMM with workgroup memory, for GPUs (tuning "hardware").
 *
 * Each workgroup computes a GEMM_TILE.m × GEMM_TILE.n block of C = A·B, staging K in chunks of
 * GEMM_TILE.k through workgroup memory (two barriers per chunk); each invocation keeps a
 * regM × regN register block. The three conv products:
 *
 * - forward: Y[co, p] = bias[co] + Σ_{ci,ky,kx} W[co, ci, ky, kx] · X̃[ci, p·s + (ky, kx)]
 *   (M = cout, N = output pixels, K = cin·k²; B is the im2col of X gathered through the padding map);
 * - backward data: dX̃[ci, q] = Σ_{co,ky,kx} W[co, ci, ky, kx] · dY[co, (q − (ky, kx)) / s]
 *   at each input pixel's own padded position q (M = cin, N = input pixels, K = cout·k²; a
 *   tap whose source is off the grid or not a multiple of s contributes 0); the padded ring
 *   is left to the ring and fold kernels of kernels.ts;
 * - backward weight: dW[co, (ci, ky, kx)] = Σ_p dY[co, p] · X̃[ci, p·s + (ky, kx)], with one
 *   more column of ones for the bias (M = cout, N = cin·k² + 1, K = output pixels), K split
 *   over workgroups into scratch, then a reduce kernel.
 *
 * Sizes, offsets, batch strides, the padding (amount and mode), bias and accumulate come from
 * the kernel's uniform table; only k and the stride (constant divisors in the gathers) and the
 * arenas bound are in the WGSL, so a handful of pipelines serve every conv layer of a network.
 *
 * @module
 */
import type { Plan, Step, View } from "../plan.ts";
import { type Kernel, KernelBuilder, padFns } from "./wgsl.ts";

/**
 * The knobs a GPU session should sweep (engine/webgpu/README.md): the workgroup tile
 * (m rows × n columns of C), the K chunk staged per barrier pair, and each invocation's
 * register block. Invocations per workgroup = (m / regM) · (n / regN) ≤ 256; workgroup memory
 * = 4 · k · (m + n) bytes ≤ 16384 (WebGPU's default limits). regM and regN are multiples of 4.
 */
export const GEMM_TILE = { m: 64, n: 64, k: 16, regM: 4, regN: 4 } as const;

/**
 * Smallest M (output channels; input channels for backward data) given to the GEMM kernels:
 * below it most rows of a tile would idle, and the register-tiled kernels of kernels.ts serve.
 */
export const GEMM_MIN_M = 16;

/** Workgroups the backward-weight GEMM aims for (all fits), reached by splitting K (pixels). */
export const GEMM_BWD_WEIGHT_WORKGROUPS = 1024;

/**
 * Backward data with stride > 1 through the GEMM (which then multiplies s² − 1 of every s²
 * taps by zero) rather than the register-tiled transposed gather.
 */
export const GEMM_BWD_DATA_STRIDED = true;

type Pad = "reflection" | "zero" | "replicate";

/** The tile's derived sizes, checked against WebGPU's default limits. */
function tileSizes(tile: typeof GEMM_TILE) {
  const { m, n, k, regM, regN } = tile;
  const wg = (m / regM) * (n / regN);
  const ok = Number.isInteger(wg) && wg <= 256 && regM % 4 === 0 && regN % 4 === 0 &&
    wg % k === 0 && wg % n === 0 && (k * m) % wg === 0 && (k * n) % wg === 0 &&
    4 * k * (m + n) <= 16384;
  if (!ok) {
    throw new Error(
      `engine/webgpu conv_gemm: expected a tile with ≤ 256 invocations dividing the staging loads and ≤ 16384 bytes of workgroup memory but received ${
        JSON.stringify(tile)
      }`,
    );
  }
  return { ...tile, wg, loadsA: (k * m) / wg, loadsB: (k * n) / wg };
}

/** What a GEMM kernel reads and writes, as WGSL snippets (see {@link gemmKernel}). */
interface GemmParts {
  /** Defines `b` (fit), `gM`, `gN`, `kBegin`, `kEnd` (i32) and any bases; `wid` is in scope. */
  readonly setup: string;
  /** Per-invocation set-up for B's fixed column `bn` (i32, may be ≥ gN). */
  readonly bColumn: string;
  /** Sets `va` to A[am, ak] (both in range). */
  readonly loadA: string;
  /** Sets `vb` to B[bk, bn] (bk in [kBegin, kEnd), bn < gN); may leave it 0 (padding). */
  readonly loadB: string;
  /** Initial value of row `m` (clamped in range) of the accumulators, e.g. a bias. */
  readonly init?: (m: string) => string;
  /** Stores `v` as C[m, n] (both in range). */
  readonly store: (m: string, n: string, v: string) => string;
}

/** The WGSL of a tiled GEMM: workgroup (x: N tile, y: M tile, z: fit and K split). */
function gemmKernel(parts: GemmParts): string {
  const t = tileSizes(GEMM_TILE);
  const vm = t.regM / 4;
  const vn = t.regN / 4;
  const lines: string[] = [];
  lines.push(`  let lid = i32(lidu);
  let tx = lid % ${t.n / t.regN};
  let ty = lid / ${t.n / t.regN};
  let n0 = i32(wid.x) * ${t.n};
  let m0 = i32(wid.y) * ${t.m};
${parts.setup}
  let ak0 = lid % ${t.k};
  let bn = n0 + lid % ${t.n};
  let bnOk = bn < gN;
${parts.bColumn}`);
  for (let i = 0; i < t.regM; i++) {
    const init = parts.init ? parts.init(`min(m0 + ty * ${t.regM} + ${i}, gM - 1)`) : "0.0";
    if (parts.init) lines.push(`  let init${i} = ${init};`);
    for (let j = 0; j < vn; j++) {
      lines.push(`  var acc${i}_${j} = vec4<f32>(${parts.init ? `init${i}` : "0.0"});`);
    }
  }
  lines.push(`  for (var k0 = kBegin; k0 < kEnd; k0 += ${t.k}) {`);
  for (let i = 0; i < t.loadsA; i++) {
    lines.push(`    {
      let ml = lid / ${t.k} + ${i * (t.wg / t.k)};
      let am = m0 + ml;
      let ak = k0 + ak0;
      var va = 0.0;
      if (am < gM && ak < kEnd) {
${parts.loadA}
      }
      let e = ak0 * ${t.m} + ml;
      As[e >> 2u][e & 3] = va;
    }`);
  }
  for (let i = 0; i < t.loadsB; i++) {
    lines.push(`    {
      let kl = lid / ${t.n} + ${i * (t.wg / t.n)};
      let bk = k0 + kl;
      var vb = 0.0;
      if (bnOk && bk < kEnd) {
${parts.loadB}
      }
      let e = kl * ${t.n} + lid % ${t.n};
      Bs[e >> 2u][e & 3] = vb;
    }`);
  }
  lines.push(`    workgroupBarrier();
    for (var kk = 0; kk < ${t.k}; kk++) {`);
  for (let i = 0; i < vm; i++) {
    lines.push(`      let a${i} = As[kk * ${t.m / 4} + ty * ${vm} + ${i}];`);
  }
  for (let j = 0; j < vn; j++) {
    lines.push(`      let b${j} = Bs[kk * ${t.n / 4} + tx * ${vn} + ${j}];`);
  }
  for (let i = 0; i < t.regM; i++) {
    for (let j = 0; j < vn; j++) {
      lines.push(
        `      acc${i}_${j} = fma(vec4<f32>(a${i >> 2}.${"xyzw"[i & 3]}), b${j}, acc${i}_${j});`,
      );
    }
  }
  lines.push(`    }
    workgroupBarrier();
  }`);
  for (let i = 0; i < t.regM; i++) {
    lines.push(`  {
    let m = m0 + ty * ${t.regM} + ${i};
    if (m < gM) {`);
    for (let j = 0; j < vn; j++) {
      for (let c = 0; c < 4; c++) {
        const n = `n0 + tx * ${t.regN} + ${j * 4 + c}`;
        lines.push(`      if (${n} < gN) { ${parts.store("m", n, `acc${i}_${j}.${"xyzw"[c]}`)} }`);
      }
    }
    lines.push("    }\n  }");
  }
  return `var<workgroup> As: array<vec4<f32>, ${(t.k * t.m) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(t.k * t.n) / 4}>;
@compute @workgroup_size(${t.wg})
fn main(@builtin(local_invocation_index) lidu: u32, @builtin(workgroup_id) wid: vec3<u32>) {
${lines.join("\n")}
}`;
}

/** Workgroup counts of a GEMM over M × N, `z` along the third axis; checks the 65535 limit. */
function gemmDispatch(op: string, m: number, n: number, z: number): [number, number, number] {
  const d: [number, number, number] = [
    Math.ceil(n / GEMM_TILE.n),
    Math.ceil(m / GEMM_TILE.m),
    z,
  ];
  if (d.some((v) => v > 65535)) {
    throw new Error(
      `engine/webgpu ${op}: expected at most 65535 workgroups per dispatch axis but received ${
        d.join(" × ")
      }`,
    );
  }
  return d;
}

/**
 * WGSL reading input pixel (iy, ix) of a channel through the padding map into `dst`: `gZero`
 * (zero padding) leaves `dst` alone outside the image, `gReflect` picks reflection over
 * replicate (both uniform, so one pipeline serves every padding mode).
 */
function gatherPadded(X: string, dst: string, at: (row: string, col: string) => string): string {
  return `        if (gZero == 0 || (iy >= 0 && iy < gH && ix >= 0 && ix < gW)) {
          let ry = select(pad_replicate(iy, gH), pad_reflection(iy, gH), gReflect != 0);
          let rx = select(pad_replicate(ix, gW), pad_reflection(ix, gW), gReflect != 0);
          ${dst} = ${X}[${at("ry", "rx")}];
        }`;
}

/** Uniform-table entries of the padding: `gP` (amount), `gZero`, `gReflect` (flags). */
function padSizes(kb: KernelBuilder, pad: Pad, p: number): string {
  return `  let gP = ${kb.size(p)};
  let gZero = ${kb.size(pad === "zero" ? 1 : 0)};
  let gReflect = ${kb.size(pad === "reflection" ? 1 : 0)};`;
}

/**
 * Where a parameter tensor of fit `b` starts, as WGSL. `param` and `grad` are bound whole, so
 * the offset is a plain table entry (a fresh slot: an absent bias must not change the source).
 */
function paramAt(kb: KernelBuilder, plan: Plan, offset: number): string {
  return `b * ${plan.paramsPerFit} + ${kb.size(offset)}`;
}

/** Input sizes common to the forward and backward-weight gathers of X̃. */
function inputSizes(kb: KernelBuilder, x: View): string {
  return `  let gH = ${kb.size(x.h)};
  let gW = ${kb.size(x.w)};
  let gHW = gH * gW;`;
}

/**
 * The forward conv as one GEMM kernel, or undefined when the shape is better left to the
 * register-tiled kernel (fewer than GEMM_MIN_M output channels). `p` is the padding.
 */
export function gemmConvForward(
  plan: Plan,
  s: Extract<Step, { kind: "conv" }>,
  p: number,
): Kernel | undefined {
  const { x, y, k, stride } = s;
  if (y.c < GEMM_MIN_M) return undefined;
  const kb = new KernelBuilder(plan.batch);
  const kk = k * k;
  const P = kb.r("param");
  const X = kb.r(x.arena);
  const Y = kb.w(y.arena);
  const setup = `  let b = i32(wid.z);
  let gM = ${kb.size(y.c)};
  let gN = ${kb.size(y.h * y.w)};
  let gK = ${kb.size(x.c * kk)};
  let gOW = ${kb.size(y.w)};
${inputSizes(kb, x)}
  let kBegin = 0;
  let kEnd = gK;
  let xb = ${kb.base(x)} + b * ${kb.size(x.batchStride)};
  let yb = ${kb.base(y, true)} + b * ${kb.size(y.batchStride)};
${padSizes(kb, s.pad, p)}
  let wb = ${paramAt(kb, plan, s.weight.offset)};
  let gBias = ${kb.size(s.bias ? 1 : 0)};
  let bb = ${paramAt(kb, plan, (s.bias ?? s.weight).offset)};`;
  const bColumn = `  let oy = bn / gOW;
  let ox = bn % gOW;
  let iy0 = oy * ${stride} - gP;
  let ix0 = ox * ${stride} - gP;`;
  const loadB = `        let ci = bk / ${kk};
        let tap = bk % ${kk};
        let iy = iy0 + tap / ${k};
        let ix = ix0 + tap % ${k};
${gatherPadded(X, "vb", (r, c) => `xb + ci * gHW + ${r} * gW + ${c}`)}`;
  const code = gemmKernel({
    setup,
    bColumn,
    loadA: `        va = ${P}[wb + am * gK + ak];`,
    loadB,
    init: (m: string) => `select(0.0, ${P}[bb + ${m}], gBias != 0)`,
    store: (m, n, v) => `${Y}[yb + ${m} * gN + ${n}] = ${v};`,
  });
  return kb.finish(
    `conv gemm ${x.c}→${y.c} k${k} s${stride} ${s.pad} ${x.h}×${x.w}`,
    code,
    gemmDispatch("conv", y.c, y.h * y.w, plan.batch),
    padFns(),
  );
}

/**
 * The gradient at every input pixel's own padded position (kernel A of kernels.ts's
 * convBwdData) as one GEMM kernel, or undefined when the register-tiled kernel serves (fewer
 * than GEMM_MIN_M input channels, or stride > 1 with GEMM_BWD_DATA_STRIDED off).
 */
export function gemmConvBwdData(
  plan: Plan,
  s: Extract<Step, { kind: "conv_bwd_data" }>,
  p: number,
): Kernel | undefined {
  const { dx, dy, k, stride } = s;
  if (dx.c < GEMM_MIN_M || (stride > 1 && !GEMM_BWD_DATA_STRIDED)) return undefined;
  const kb = new KernelBuilder(plan.batch);
  const kk = k * k;
  const P = kb.r("param");
  const DY = kb.r(dy.arena);
  const DX = kb.w(dx.arena);
  const setup = `  let b = i32(wid.z);
  let gM = ${kb.size(dx.c)};
  let gN = ${kb.size(dx.h * dx.w)};
  let gK = ${kb.size(dy.c * kk)};
  let gW = ${kb.size(dx.w)};
  let gOH = ${kb.size(dy.h)};
  let gOW = ${kb.size(dy.w)};
  let kBegin = 0;
  let kEnd = gK;
  let db = ${kb.base(dy)} + b * ${kb.size(dy.batchStride)};
  let xb = ${kb.base(dx, true)} + b * ${kb.size(dx.batchStride)};
  let gP = ${kb.size(p)};
  let gAccumulate = ${kb.size(s.accumulate ? 1 : 0)};
  let wb = ${paramAt(kb, plan, s.weight.offset)};`;
  // Padded coordinates of the input pixel this invocation stages B for.
  const bColumn = `  let qy = bn / gW + gP;
  let qx = bn % gW + gP;`;
  const onGrid = (t: string, n: string) =>
    stride === 1
      ? `${t} >= 0 && ${t} < ${n}`
      : `${t} >= 0 && ${t} % ${stride} == 0 && ${t} / ${stride} < ${n}`;
  const loadB = `        let co = bk / ${kk};
        let tap = bk % ${kk};
        let sy = qy - tap / ${k};
        let sx = qx - tap % ${k};
        if (${onGrid("sy", "gOH")} && ${onGrid("sx", "gOW")}) {
          vb = ${DY}[db + co * gOH * gOW + (sy / ${stride}) * gOW + sx / ${stride}];
        }`;
  const code = gemmKernel({
    setup,
    bColumn,
    // A[ci, (co, tap)] = W[co, ci, tap]
    loadA: `        va = ${P}[wb + (ak / ${kk}) * gM * ${kk} + am * ${kk} + ak % ${kk}];`,
    loadB,
    store: (m, n, v) => {
      const dst = `${DX}[xb + ${m} * gN + ${n}]`;
      return `if (gAccumulate != 0) { ${dst} = ${dst} + ${v}; } else { ${dst} = ${v}; }`;
    },
  });
  return kb.finish(
    `conv_bwd_data gemm ${dy.c}→${dx.c} k${k} s${stride} ${s.pad} ${dx.h}×${dx.w}`,
    code,
    gemmDispatch("conv_bwd_data", dx.c, dx.h * dx.w, plan.batch),
  );
}

/**
 * The weight (and bias) gradient as a split-K GEMM into scratch plus a reduce kernel, or
 * undefined when the register-tiled kernels serve (fewer than GEMM_MIN_M output channels).
 */
export function gemmConvBwdWeight(
  plan: Plan,
  s: Extract<Step, { kind: "conv_bwd_weight" }>,
  p: number,
): Kernel[] | undefined {
  const { x, dy, k, stride } = s;
  const cout = dy.c;
  if (cout < GEMM_MIN_M) return undefined;
  const kk = k * k;
  const nk = x.c * kk; // weight columns; the bias column follows
  const n = nk + (s.bias ? 1 : 0);
  const pixels = dy.h * dy.w;
  const nw = cout * nk;
  const nwb = nw + (s.bias ? cout : 0);
  // Split K (pixels) into chunks of whole K steps until enough workgroups are in flight.
  const tiles = Math.ceil(n / GEMM_TILE.n) * Math.ceil(cout / GEMM_TILE.m) * plan.batch;
  const steps = Math.ceil(pixels / GEMM_TILE.k);
  const want = Math.max(1, Math.min(steps, Math.ceil(GEMM_BWD_WEIGHT_WORKGROUPS / tiles)));
  const chunk = Math.ceil(steps / want) * GEMM_TILE.k;
  const splits = Math.ceil(pixels / chunk);
  const kernels: Kernel[] = [];
  {
    const kb = new KernelBuilder(plan.batch);
    const X = kb.r(x.arena);
    const DY = kb.r(dy.arena);
    const S = kb.scratch(plan.batch * splits * nwb);
    const setup = `  let gSplits = ${kb.size(splits)};
  let b = i32(wid.z) / gSplits;
  let split = i32(wid.z) % gSplits;
  let gM = ${kb.size(cout)};
  let gN = ${kb.size(n)};
  let gNK = ${kb.size(nk)};
  let gPix = ${kb.size(pixels)};
  let gOW = ${kb.size(dy.w)};
  let gNWB = ${kb.size(nwb)};
${inputSizes(kb, x)}
  let kBegin = split * ${kb.size(chunk)};
  let kEnd = min(kBegin + ${kb.size(chunk)}, gPix);
  let xb = ${kb.base(x)} + b * ${kb.size(x.batchStride)};
  let db = ${kb.base(dy)} + b * ${kb.size(dy.batchStride)};
  let sb = (b * gSplits + split) * gNWB;
${padSizes(kb, s.pad, p)}`;
    const bColumn = `  let ci = bn / ${kk};
  let tap = bn % ${kk};
  let ky = tap / ${k} - gP;
  let kx = tap % ${k} - gP;
  let cb = xb + min(ci, ${kb.size(x.c)} - 1) * gHW;`;
    const gather = gatherPadded(X, "vb", (r, c) => `cb + ${r} * gW + ${c}`);
    const loadB = `        let iy = (bk / gOW) * ${stride} + ky;
        let ix = (bk % gOW) * ${stride} + kx;
        if (bn == gNK) { vb = 1.0; } else {
${gather}
        }`;
    const code = gemmKernel({
      setup,
      bColumn,
      loadA: `        va = ${DY}[db + am * gPix + ak];`,
      loadB,
      // Column gNK (present only with a bias) is the bias gradient, stored after the weights.
      store: (m, col, v) =>
        `${S}[sb + select(${m} * gNK + ${col}, gM * gNK + ${m}, ${col} == gNK)] = ${v};`,
    });
    kernels.push(kb.finish(
      `conv_bwd_weight gemm ${x.c}→${cout} k${k} s${stride} ${s.pad} ${x.h}×${x.w} (${splits} splits)`,
      code,
      gemmDispatch("conv_bwd_weight", cout, n, plan.batch * splits),
      padFns(),
    ));
  }
  {
    // Sums the splits; scratch holds [weights (cout × cin·k²), bias (cout)] per (fit, split).
    const kb = new KernelBuilder(plan.batch);
    const S = kb.r("scratch");
    const G = kb.w("grad");
    const width = 64;
    const groups = Math.ceil(nwb / width);
    const rows = Math.ceil(groups / 65535);
    const cols = Math.ceil(groups / rows);
    kernels.push(kb.finish(
      `conv_bwd_weight gemm reduce ${nwb}×${splits}`,
      `@compute @workgroup_size(${width})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = i32(gid.x) + i32(gid.y) * ${kb.size(cols * width)};
  let gNWB = ${kb.size(nwb)};
  if (r >= gNWB) { return; }
  let gNW = ${kb.size(nw)};
  let gSplits = ${kb.size(splits)};
  let b = i32(gid.z);
  var acc = 0.0;
  for (var c = 0; c < gSplits; c++) { acc = acc + ${S}[(b * gSplits + c) * gNWB + r]; }
  if (r < gNW) {
    ${G}[${paramAt(kb, plan, s.weight.offset)} + r] = acc;
  } else {
    ${G}[${paramAt(kb, plan, (s.bias ?? s.weight).offset)} + r - gNW] = acc;
  }
}`,
      [cols, rows, plan.batch],
    ));
  }
  return kernels;
}
