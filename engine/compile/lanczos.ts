/**
 * The reference Lanczos `Downsampler` (models/downsampler.py): its 1-D kernel, the
 * super-resolution data term built on it, and the initial weight of an in-network Lanczos
 * downsampling layer.
 *
 * @module
 */
import type { DataTerm } from "../plan.ts";

/**
 * The 1-D kernel of the reference `Downsampler` (models/downsampler.py, `get_kernel`):
 * support a = 2 (lanczos2) or 3 (lanczos3), width w = 2af + 1; at phase 0.5 the kernel has w − 1
 * taps at distances d_i = |i + 0.5 − c| / f (c = (w + 1) / 2), at phase 0 w taps at |i − c| / f;
 * L(d) = a·sin(πd)·sin(πd/a)/(π²d²), L(0) = 1, normalised to sum 1. The 2-D kernel is the outer
 * product (the reference normalises the 2-D product, which is the same).
 *
 * @example
 * ```ts
 * import { lanczosTaps } from "../compile.ts";
 * lanczosTaps(2); // 8 taps: …, 0.1165, 0.4343, 0.4343, 0.1165, …
 * ```
 */
export function lanczosTaps(
  factor: number,
  kind: "lanczos2" | "lanczos3" = "lanczos2",
  phase: 0 | 0.5 = 0.5,
): number[] {
  if (!Number.isInteger(factor) || factor < 1) {
    throw new RangeError(`lanczosTaps: expected a positive integer factor but received ${factor}`);
  }
  const support = kind === "lanczos2" ? 2 : 3;
  const width = 2 * support * factor + 1;
  const center = (width + 1) / 2;
  const count = phase === 0.5 ? width - 1 : width;
  const taps: number[] = [];
  for (let i = 1; i <= count; i++) {
    const d = Math.abs(phase === 0.5 ? i + 0.5 - center : i - center) / factor;
    taps.push(
      d === 0 ? 1 : support * Math.sin(Math.PI * d) * Math.sin(Math.PI * d / support) /
        (Math.PI * Math.PI * d * d),
    );
  }
  const sum = taps.reduce((a, b) => a + b, 0);
  return taps.map((t) => t / sum);
}

/**
 * The super-resolution data term: the reference Lanczos2 `Downsampler` at phase 0.5 with
 * `preserve_size` (replicate padding (K − f)/2, so the output is exactly H/f × W/f).
 */
export function downsampleTerm(
  factor: number,
  kind: "lanczos2" | "lanczos3" = "lanczos2",
): DataTerm {
  const taps = lanczosTaps(factor, kind, 0.5);
  return { kind: "downsample", factor, taps, pad: (taps.length - factor) / 2 };
}

/** The reference Downsampler's initial n→n weight: the 2-D Lanczos kernel on the diagonal. */
export function lanczosWeight(
  factor: number,
  kernel: "lanczos2" | "lanczos3",
  n: number,
): Float32Array {
  const taps = lanczosTaps(factor, kernel, 0.5);
  const k = taps.length;
  const w = new Float32Array(n * n * k * k);
  for (let c = 0; c < n; c++) {
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) w[((c * n + c) * k + i) * k + j] = taps[i]! * taps[j]!;
    }
  }
  return w;
}
