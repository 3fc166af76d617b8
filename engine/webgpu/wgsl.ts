/**
 * WGSL building blocks shared by the generated kernels: buffer bindings, the kernel record the
 * trainer turns into pipelines, activation functions, padding maps and the shared RNG.
 *
 * Every kernel binds the flat buffers it touches as `b_<name>` (`array<f32>`, `ctrl` is
 * `array<u32>`), each once, read-only unless the kernel writes it, so views that alias one
 * arena are plain indices into one binding.
 *
 * @module
 */
import type { Arena, View } from "../plan.ts";

export type { Arena, View };
import type { Activation } from "../plan.ts";

/** A device buffer a kernel may bind: a plan arena, the control words, or the scratch area. */
export type BufferName = Arena | "ctrl" | "scratch";

/** Words of the `ctrl` buffer: [0] the step counter, [CTRL_SEEDS + b] fit b's noise seed. */
export const CTRL_SEEDS = 4;

/** Arenas bound as a range (the views a kernel touches) rather than whole: the big ones. */
const RANGE_BOUND: ReadonlySet<BufferName> = new Set(["act", "dact", "io"]);

/** Storage binding offsets are multiples of 256 bytes (WebGPU's default alignment). */
const BIND_ALIGN_FLOATS = 64;

/** One storage binding of a kernel: a buffer, whole or from `offset` for `size` floats. */
export interface Binding {
  /** The buffer bound. */
  readonly name: BufferName;
  /** First float bound (a multiple of 64). */
  readonly offset: number;
  /** Floats bound; undefined = to the end of the buffer. */
  readonly size?: number;
}

/** One compute dispatch with its WGSL source, specialised per shape. */
export interface Kernel {
  /** What the kernel does, for labels and error messages. */
  readonly label: string;
  /**
   * Complete WGSL. Shapes and strides are constants; where each tensor starts is read from a
   * small uniform table, so layers of one shape share a pipeline (identical sources share one).
   */
  readonly code: string;
  /** Storage bindings in binding order; the uniform table, if any, follows them. */
  readonly bindings: readonly Binding[];
  /** The kernel's uniform table (offsets relative to their bindings), empty when none. */
  readonly uniforms: Uint32Array<ArrayBuffer>;
  /** Workgroup counts. */
  readonly dispatch: readonly [number, number, number];
  /** Floats of scratch this kernel needs (0 when none). */
  readonly scratchFloats: number;
}

/**
 * Collects the buffers and offsets a kernel body references and emits the binding header.
 * Each buffer is bound once (read-only unless written), so views aliasing one arena are plain
 * indices into one binding; act, dact and io are bound over the range the kernel touches only.
 */
export class KernelBuilder {
  readonly #uses = new Map<BufferName, boolean>();
  readonly #spans = new Map<BufferName, [number, number]>();
  readonly #slots = new Map<string, number>();
  readonly #values: { arena: BufferName | null; value: number }[] = [];
  #scratch = 0;

  /** `batch` is the plan's number of fits (a view spans batch strides). */
  constructor(readonly batch: number) {}

  /** Marks `name` as read and returns its WGSL identifier. */
  r(name: BufferName): string {
    if (!this.#uses.has(name)) this.#uses.set(name, false);
    return `b_${name}`;
  }

  /** Marks `name` as written and returns its WGSL identifier. */
  w(name: BufferName): string {
    this.#uses.set(name, true);
    return `b_${name}`;
  }

  /** Reserves `floats` of scratch (written) and returns its identifier. */
  scratch(floats: number): string {
    this.#scratch = Math.max(this.#scratch, floats);
    return this.w("scratch");
  }

  /**
   * An offset into `arena` as a WGSL i32 expression (read from the uniform table); for a
   * range-bound arena `extent` floats from it are added to the bound range.
   */
  off(arena: BufferName, value: number, extent = 0): string {
    if (RANGE_BOUND.has(arena)) {
      const span = this.#spans.get(arena);
      const end = value + Math.max(extent, 1);
      this.#spans.set(
        arena,
        span ? [Math.min(span[0], value), Math.max(span[1], end)] : [value, end],
      );
    }
    const key = `${arena}:${value}`;
    let q = this.#slots.get(key);
    if (q === undefined) {
      q = this.#values.length;
      this.#slots.set(key, q);
      this.#values.push({ arena, value });
    }
    return `i32(U[${q >> 2}].${"xyzw"[q & 3]})`;
  }

  /**
   * A size (not an offset) as a WGSL i32 read from the uniform table. Every call takes a fresh
   * slot, so kernels of one structure keep one source (one pipeline) whatever their sizes.
   */
  size(value: number): string {
    if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
      throw new Error(`engine/webgpu: expected a non-negative i32 size but received ${value}`);
    }
    const q = this.#values.length;
    this.#values.push({ arena: null, value });
    return `i32(U[${q >> 2}].${"xyzw"[q & 3]})`;
  }

  /** Where view `v` starts (WGSL i32), marking its arena read or written. */
  base(v: View, write = false, extent?: number): string {
    if (write) this.w(v.arena);
    else this.r(v.arena);
    return this.off(
      v.arena,
      v.offset,
      extent ?? (this.batch - 1) * v.batchStride + v.c * v.h * v.w,
    );
  }

  /** Assembles the kernel: header, helper functions, body. */
  finish(
    label: string,
    body: string,
    dispatch: readonly [number, number, number],
    helpers = "",
  ): Kernel {
    const names = [...this.#uses.keys()].sort();
    const bindings: Binding[] = names.map((name) => {
      const span = this.#spans.get(name);
      if (!span) return { name, offset: 0 };
      const offset = Math.floor(span[0] / BIND_ALIGN_FLOATS) * BIND_ALIGN_FLOATS;
      return { name, offset, size: span[1] - offset };
    });
    const start = new Map(bindings.map((b) => [b.name, b.offset]));
    const uniforms = new Uint32Array(Math.ceil(this.#values.length / 4) * 4);
    this.#values.forEach((
      { arena, value },
      i,
    ) => (uniforms[i] = arena === null ? value : value - (start.get(arena) ?? 0)));
    const header = names.map((name, i) => {
      const access = this.#uses.get(name) ? "read_write" : "read";
      const elem = name === "ctrl" ? "u32" : "f32";
      return `@group(0) @binding(${i}) var<storage, ${access}> b_${name}: array<${elem}>;`;
    });
    if (uniforms.length > 0) {
      header.push(
        `@group(0) @binding(${names.length}) var<uniform> U: array<vec4<u32>, ${
          uniforms.length / 4
        }>;`,
      );
    }
    return {
      label,
      code: `${header.join("\n")}\n${helpers}\n${body}\n`,
      bindings,
      uniforms,
      dispatch,
      scratchFloats: this.#scratch,
    };
  }
}

/** Workgroup size of the flat (one invocation per element) kernels. */
export const FLAT_WG = 64;

/** Splits `invocations` over a 2-D grid of FLAT_WG-wide workgroups (≤ 65535 per dimension). */
export function flatDispatch(
  invocations: number,
): { dispatch: [number, number, number]; rowStride: number } {
  const groups = Math.max(1, Math.ceil(invocations / FLAT_WG));
  const gx = Math.min(groups, 32768);
  const gy = Math.ceil(groups / gx);
  if (gy > 65535) {
    throw new Error(
      `engine/webgpu: expected at most 2^31 invocations per kernel but received ${invocations}`,
    );
  }
  return { dispatch: [gx, gy, 1], rowStride: gx * FLAT_WG };
}

/** Opening of a flat kernel: `i` is the element index, out-of-range invocations return. */
export function flatMain(invocations: number, rowStride: number): string {
  return `@compute @workgroup_size(${FLAT_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = i32(gid.x + gid.y * ${rowStride}u);
  if (i >= ${invocations}) { return; }`;
}

/** WGSL f32 literal for a JS number (finite). */
export function f32Lit(x: number): string {
  if (!Number.isFinite(x)) {
    throw new Error(`engine/webgpu: expected a finite constant but received ${x}`);
  }
  const s = Math.fround(x).toString();
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** `act_<name>(z)`, the activation of a pre-activation, and `actd_<name>(z)`, its derivative. */
export function activationFns(act: Activation): string {
  const sig = "1.0 / (1.0 + exp(-z))";
  const f: Record<Activation, [string, string]> = {
    // reference act('LeakyReLU'): nn.LeakyReLU(0.2); derivative 0.2 at z ≤ 0 as PyTorch
    leaky_relu: ["select(0.2 * z, z, z > 0.0)", "select(0.2, 1.0, z > 0.0)"],
    relu: ["max(z, 0.0)", "select(0.0, 1.0, z > 0.0)"],
    swish: [`z * (${sig})`, `(${sig}) * (1.0 + z * (1.0 - ${sig}))`],
    elu: ["select(exp(z) - 1.0, z, z > 0.0)", "select(exp(z), 1.0, z > 0.0)"],
    sigmoid: [sig, `(${sig}) * (1.0 - ${sig})`],
    none: ["z", "1.0"],
  };
  const [fwd, bwd] = f[act];
  return `fn act_${act}(z: f32) -> f32 { return ${fwd}; }
fn actd_${act}(z: f32) -> f32 { return ${bwd}; }`;
}

/** `pad_<mode>(r, n)`: the source index of padded coordinate r (zero pad clamps; mask apart). */
export function padFns(): string {
  return `fn pad_reflection(r: i32, n: i32) -> i32 {
  let a = select(r, -r, r < 0);
  return clamp(select(a, 2 * n - 2 - a, a >= n), 0, n - 1);
}
fn pad_replicate(r: i32, n: i32) -> i32 { return clamp(r, 0, n - 1); }
fn pad_zero(r: i32, n: i32) -> i32 { return clamp(r, 0, n - 1); }
fn inside(r: i32, n: i32) -> f32 { return select(0.0, 1.0, r >= 0 && r < n); }`;
}

/** The shared RNG of engine/plan.ts (`pcgHash`, `unitFromU32`, `gaussianAt`) in WGSL. */
export function rngFns(): string {
  return `fn pcg_hash(x: u32) -> u32 {
  let state = x * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
fn unit_from_u32(u: u32) -> f32 { return (f32(u >> 8u) + 1.0) * (1.0 / 16777216.0); }
// ln(u) for u in (0, 1] to about an ulp (WGSL's log is only held to 2^-21 absolute near 1):
// u = m·2^e, m in [0.5, 1), ln u = e·ln 2 + 2·atanh(s), s = (m − 1)/(m + 1) in [−1/3, 0).
fn ln_unit(u: f32) -> f32 {
  let parts = frexp(u);
  let s = (parts.fract - 1.0) / (parts.fract + 1.0);
  let s2 = s * s;
  var p = 1.0 / 17.0;
  p = fma(p, s2, 1.0 / 15.0);
  p = fma(p, s2, 1.0 / 13.0);
  p = fma(p, s2, 1.0 / 11.0);
  p = fma(p, s2, 1.0 / 9.0);
  p = fma(p, s2, 1.0 / 7.0);
  p = fma(p, s2, 1.0 / 5.0);
  p = fma(p, s2, 1.0 / 3.0);
  let lnm = 2.0 * s * fma(p, s2, 1.0);
  let e = f32(parts.exp);
  // ln 2 = 0.693145751953125 (exact in few bits, so e·hi is exact) + 1.4286068203094172e-6
  return select(fma(e, 0.693145751953125, fma(e, 1.4286068203094172e-6, lnm)), 0.0, u == 1.0);
}
// cos(2πu) for u in (0, 1], reduced exactly (u is a multiple of 2^-24) to an argument ≤ π/4.
fn cos_2pi(u: f32) -> f32 {
  let v = select(u, 1.0 - u, u > 0.5);
  let w = select(v, 0.5 - v, v > 0.25);
  let r = select(cos(6.2831853071795864 * w), sin(6.2831853071795864 * (0.25 - w)), w > 0.125);
  return select(r, -r, v > 0.25);
}
fn gaussian_at(seed: u32, step: u32, index: u32) -> f32 {
  let key = pcg_hash(seed ^ pcg_hash(step ^ pcg_hash(index)));
  let u1 = unit_from_u32(key);
  let u2 = unit_from_u32(pcg_hash(key));
  return sqrt(-2.0 * ln_unit(u1)) * cos_2pi(u2);
}`;
}

/** WGSL: `var<workgroup> red` plus `wg_sum`, a tree sum over a `width`-wide workgroup. */
export function reductionFns(width: number): string {
  return `var<workgroup> red: array<f32, ${width}>;
fn wg_sum(v: f32, lid: u32) -> f32 {
  workgroupBarrier();
  red[lid] = v;
  workgroupBarrier();
  for (var k = ${width / 2}u; k > 0u; k = k >> 1u) {
    if (lid < k) { red[lid] = red[lid] + red[lid + k]; }
    workgroupBarrier();
  }
  return red[0];
}`;
}
