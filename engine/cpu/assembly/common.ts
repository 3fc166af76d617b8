// Shared helpers of the dipline wasm kernels (AssemblyScript). Pointers are byte addresses in
// the one shared memory; sizes are in floats unless named otherwise.

/** Activation codes, in the order engine/cpu/schedule.ts encodes them. */
export const ACT_NONE: i32 = 0;
export const ACT_LEAKY: i32 = 1;
export const ACT_RELU: i32 = 2;
export const ACT_SWISH: i32 = 3;
export const ACT_ELU: i32 = 4;
export const ACT_SIGMOID: i32 = 5;

/** Reference act('LeakyReLU') is nn.LeakyReLU(0.2). */
export const LEAKY_SLOPE: f32 = 0.2;

/** Padding codes: reflection (ReflectionPad2d), zero, replicate. */
export const PAD_REFLECTION: i32 = 0;
export const PAD_ZERO: i32 = 1;
export const PAD_REPLICATE: i32 = 2;

/** Start of thread `tid`'s share of `total` items split into `nth` contiguous parts. */
// @ts-ignore: decorator
@inline
export function part(total: i32, tid: i32, nth: i32): i32 {
  return <i32> ((<i64> total * <i64> tid) / <i64> nth);
}

/** Float index i → byte offset. */
// @ts-ignore: decorator
@inline
export function f4(i: i32): usize {
  return <usize> i << 2;
}

/** Maps a padded coordinate i (may be outside [0, n)) to a source index, or -1 for zero. */
export function padIndex(i: i32, n: i32, mode: i32): i32 {
  if (i >= 0 && i < n) return i;
  if (mode == PAD_ZERO) return -1;
  if (mode == PAD_REPLICATE) return i < 0 ? 0 : n - 1;
  // Reflection mirrors without repeating the edge; fold repeatedly for tiny n.
  let j = i;
  const period = 2 * n - 2;
  if (period <= 0) return 0;
  j = j % period;
  if (j < 0) j += period;
  return j < n ? j : period - j;
}

/** act(u), scalar. */
export function actScalar(u: f32, act: i32): f32 {
  if (act == ACT_LEAKY) return u > 0 ? u : u * LEAKY_SLOPE;
  if (act == ACT_RELU) return u > 0 ? u : 0;
  if (act == ACT_SWISH) return u / (1 + Mathf.exp(-u));
  if (act == ACT_ELU) return u > 0 ? u : Mathf.exp(u) - 1;
  if (act == ACT_SIGMOID) return 1 / (1 + Mathf.exp(-u));
  return u;
}

/** d act(u) / du, scalar, from the pre-activation u. */
export function actDerivScalar(u: f32, act: i32): f32 {
  if (act == ACT_LEAKY) return u > 0 ? 1 : LEAKY_SLOPE;
  if (act == ACT_RELU) return u > 0 ? 1 : 0;
  if (act == ACT_SWISH) {
    const s: f32 = 1 / (1 + Mathf.exp(-u));
    return s * (1 + u * (1 - s));
  }
  if (act == ACT_ELU) return u > 0 ? 1 : Mathf.exp(u);
  if (act == ACT_SIGMOID) {
    const s: f32 = 1 / (1 + Mathf.exp(-u));
    return s * (1 - s);
  }
  return 1;
}

/** True when the activation has a SIMD path (piecewise linear). */
// @ts-ignore: decorator
@inline
export function actIsLinearPiecewise(act: i32): bool {
  return act == ACT_NONE || act == ACT_LEAKY || act == ACT_RELU;
}

/** act(u) on four lanes for none / leaky / relu. */
// @ts-ignore: decorator
@inline
export function actVec(u: v128, act: i32): v128 {
  if (act == ACT_LEAKY) return f32x4.max(u, f32x4.mul(u, f32x4.splat(LEAKY_SLOPE)));
  if (act == ACT_RELU) return f32x4.max(u, f32x4.splat(0));
  return u;
}

/** d act(u)/du · g on four lanes for none / leaky / relu. */
// @ts-ignore: decorator
@inline
export function actDerivVec(u: v128, g: v128, act: i32): v128 {
  if (act == ACT_NONE) return g;
  const pos = f32x4.gt(u, f32x4.splat(0));
  const neg = act == ACT_LEAKY ? f32x4.mul(g, f32x4.splat(LEAKY_SLOPE)) : f32x4.splat(0);
  return v128.bitselect(g, neg, pos);
}

/** Horizontal sum of four lanes. */
// @ts-ignore: decorator
@inline
export function hsum(v: v128): f64 {
  return <f64> f32x4.extract_lane(v, 0) + <f64> f32x4.extract_lane(v, 1) +
    <f64> f32x4.extract_lane(v, 2) + <f64> f32x4.extract_lane(v, 3);
}
