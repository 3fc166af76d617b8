/**
 * Bicubic upsampling as the super-resolution papers' baseline computes it: MATLAB's
 * `imresize(x, f, 'bicubic')` for an integer factor f — Keys' cubic kernel with a = −0.5, the
 * half-pixel grid (source coordinate u = (x + 0.5)/f − 0.5), edges replicated. No
 * antialiasing is involved when enlarging, so this is the whole of it.
 *
 * @module
 */
import { type Image, makeImage } from "../core/image.ts";

/** Keys' cubic convolution kernel with a = −0.5 (MATLAB's `cubic`). */
export function cubicKernel(x: number): number {
  const t = Math.abs(x);
  if (t <= 1) return 1.5 * t ** 3 - 2.5 * t ** 2 + 1;
  if (t < 2) return -0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2;
  return 0;
}

/** For each output index: the 4 source indices (edges replicated) and their weights. */
function taps(n: number, factor: number): { index: Int32Array; weight: Float32Array } {
  const out = n * factor;
  const index = new Int32Array(4 * out);
  const weight = new Float32Array(4 * out);
  for (let x = 0; x < out; x++) {
    const u = (x + 0.5) / factor - 0.5;
    const left = Math.floor(u) - 1;
    let sum = 0;
    for (let k = 0; k < 4; k++) {
      const w = cubicKernel(u - (left + k));
      index[4 * x + k] = Math.min(n - 1, Math.max(0, left + k));
      weight[4 * x + k] = w;
      sum += w;
    }
    for (let k = 0; k < 4; k++) weight[4 * x + k]! /= sum;
  }
  return { index, weight };
}

/**
 * Enlarges an image by an integer `factor` with bicubic interpolation (MATLAB's imresize),
 * clipped to [0, 1].
 *
 * @example
 * ```ts
 * import { bicubicUpsample } from "./resize.ts";
 * import { testCard } from "./testcard.ts";
 * const large = bicubicUpsample(testCard(16, 16), 4); // 64×64
 * ```
 *
 * @throws {RangeError} for a factor that is not a positive integer
 */
export function bicubicUpsample(image: Image, factor: number): Image {
  if (!Number.isInteger(factor) || factor < 1) {
    throw new RangeError(
      `bicubicUpsample: expected a positive integer factor but received ${factor}`,
    );
  }
  const { channels: C, height: H, width: W } = image;
  const OH = H * factor, OW = W * factor;
  const rows = taps(H, factor), cols = taps(W, factor);
  const horizontal = new Float32Array(C * H * OW);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      const src = c * H * W + y * W;
      const dst = c * H * OW + y * OW;
      for (let x = 0; x < OW; x++) {
        let v = 0;
        for (let k = 0; k < 4; k++) {
          v += cols.weight[4 * x + k]! * image.data[src + cols.index[4 * x + k]!]!;
        }
        horizontal[dst + x] = v;
      }
    }
  }
  const out = new Float32Array(C * OH * OW);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < OH; y++) {
      const dst = c * OH * OW + y * OW;
      for (let x = 0; x < OW; x++) {
        let v = 0;
        for (let k = 0; k < 4; k++) {
          v += rows.weight[4 * y + k]! * horizontal[c * H * OW + rows.index[4 * y + k]! * OW + x]!;
        }
        out[dst + x] = Math.min(1, Math.max(0, v));
      }
    }
  }
  return makeImage(C, OH, OW, out, image.name);
}
