/**
 * Image quality metrics as the DIP papers report them: PSNR on [0, 1] with peak 1, Y-channel
 * PSNR with a border crop (the SR protocol), and SSIM (Wang et al. 2004); plus the pipeline's
 * `metrics` op.
 *
 * @module
 */
import { type Image, makeImage } from "../core/image.ts";

function shape(image: Image): string {
  return `${image.channels}×${image.height}×${image.width}`;
}

function checkSameShape(op: string, a: Image, b: Image): void {
  if (a.channels !== b.channels || a.height !== b.height || a.width !== b.width) {
    throw new RangeError(
      `${op}: expected images of the same shape but received ${shape(a)} and ${shape(b)}`,
    );
  }
}

/**
 * Peak signal-to-noise ratio in dB with peak 1: 10·log10(1 / MSE), the MSE taken over all
 * C·H·W values (reference `compare_psnr(gt, out)` with data_range 1). Infinity for identical
 * images. Throws on a shape mismatch, naming both shapes.
 */
export function psnr(a: Image, b: Image): number {
  checkSameShape("psnr", a, b);
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i]! - b.data[i]!;
    sum += d * d;
  }
  const mse = sum / a.data.length;
  return mse === 0 ? Infinity : -10 * Math.log10(mse);
}

/**
 * ITU-R BT.601 luma on the [16, 235]/255 scale: Y = 16/255 + (65.481R + 128.553G + 24.966B)/255
 * (the SR papers' evaluation, MATLAB `rgb2ycbcr`). A gray image is returned as is.
 */
export function lumaY(image: Image): Image {
  if (image.channels === 1) return image;
  const plane = image.height * image.width;
  const out = new Float32Array(plane);
  const d = image.data;
  for (let i = 0; i < plane; i++) {
    out[i] = 16 / 255 +
      (65.481 * d[i]! + 128.553 * d[plane + i]! + 24.966 * d[2 * plane + i]!) / 255;
  }
  return makeImage(1, image.height, image.width, out, image.name);
}

/** Removes `crop` pixels from every side. */
export function cropBorder(image: Image, crop: number): Image {
  if (!Number.isInteger(crop) || crop < 0) {
    throw new RangeError(`cropBorder: expected a non-negative integer crop but received ${crop}`);
  }
  if (crop === 0) return image;
  const h = image.height - 2 * crop;
  const w = image.width - 2 * crop;
  if (h <= 0 || w <= 0) {
    throw new RangeError(
      `cropBorder: a crop of ${crop} px per side leaves nothing of a ${image.height}×${image.width} image`,
    );
  }
  const out = new Float32Array(image.channels * h * w);
  for (let c = 0; c < image.channels; c++) {
    for (let y = 0; y < h; y++) {
      const from = c * image.height * image.width + (y + crop) * image.width + crop;
      out.set(image.data.subarray(from, from + w), c * h * w + y * w);
    }
  }
  return makeImage(image.channels, h, w, out, image.name);
}

/**
 * PSNR of the BT.601 Y channel (see {@link lumaY}) after cropping `crop` pixels from each
 * side (the DIP SR evaluation crops 4). Gray images use their one channel.
 */
export function psnrY(a: Image, b: Image, crop = 0): number {
  checkSameShape("psnrY", a, b);
  return psnr(cropBorder(lumaY(a), crop), cropBorder(lumaY(b), crop));
}

/** SSIM window: Gaussian 11×11, σ = 1.5 (Wang et al. 2004, section III-C). */
/** Side of the SSIM Gaussian window; smaller images get PSNR only. */
export const SSIM_SIZE = 11;
const SSIM_SIGMA = 1.5;
/** Stability constants K1 = 0.01, K2 = 0.03 with dynamic range L = 1 (Wang et al. 2004). */
const C1 = (0.01 * 1) ** 2;
const C2 = (0.03 * 1) ** 2;

const SSIM_WINDOW: Float64Array = (() => {
  const w = new Float64Array(SSIM_SIZE);
  const half = (SSIM_SIZE - 1) / 2;
  let sum = 0;
  for (let i = 0; i < SSIM_SIZE; i++) {
    w[i] = Math.exp(-((i - half) ** 2) / (2 * SSIM_SIGMA * SSIM_SIGMA));
    sum += w[i]!;
  }
  for (let i = 0; i < SSIM_SIZE; i++) w[i] = w[i]! / sum;
  return w;
})();

/** Separable "valid" Gaussian filtering of an h×w plane. */
function blurValid(plane: Float64Array, h: number, w: number): Float64Array {
  const ow = w - SSIM_SIZE + 1;
  const oh = h - SSIM_SIZE + 1;
  const rows = new Float64Array(h * ow);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < SSIM_SIZE; k++) s += SSIM_WINDOW[k]! * plane[y * w + x + k]!;
      rows[y * ow + x] = s;
    }
  }
  const out = new Float64Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < SSIM_SIZE; k++) s += SSIM_WINDOW[k]! * rows[(y + k) * ow + x]!;
      out[y * ow + x] = s;
    }
  }
  return out;
}

/**
 * Structural similarity (Wang, Bovik, Sheikh, Simoncelli 2004): Gaussian 11×11 window with
 * σ = 1.5, K1 = 0.01, K2 = 0.03, L = 1, population (not sample) covariances, averaged over
 * the valid region (no padding) and then over channels — the same as MATLAB `ssim` and
 * skimage `structural_similarity(gaussian_weights=True, use_sample_covariance=False)`.
 * Needs images of at least 11×11.
 */
export function ssim(a: Image, b: Image): number {
  checkSameShape("ssim", a, b);
  const { height: h, width: w } = a;
  if (h < SSIM_SIZE || w < SSIM_SIZE) {
    throw new RangeError(
      `ssim: expected images of at least ${SSIM_SIZE}×${SSIM_SIZE} but received ${h}×${w}`,
    );
  }
  const plane = h * w;
  let total = 0;
  for (let c = 0; c < a.channels; c++) {
    const x = new Float64Array(plane);
    const y = new Float64Array(plane);
    const xx = new Float64Array(plane);
    const yy = new Float64Array(plane);
    const xy = new Float64Array(plane);
    for (let i = 0; i < plane; i++) {
      const u = a.data[c * plane + i]!;
      const v = b.data[c * plane + i]!;
      x[i] = u;
      y[i] = v;
      xx[i] = u * u;
      yy[i] = v * v;
      xy[i] = u * v;
    }
    const [mx, my, mxx, myy, mxy] = [x, y, xx, yy, xy].map((p) => blurValid(p, h, w)) as [
      Float64Array,
      Float64Array,
      Float64Array,
      Float64Array,
      Float64Array,
    ];
    let sum = 0;
    for (let i = 0; i < mx.length; i++) {
      const mux = mx[i]!;
      const muy = my[i]!;
      const vx = mxx[i]! - mux * mux;
      const vy = myy[i]! - muy * muy;
      const cov = mxy[i]! - mux * muy;
      sum += ((2 * mux * muy + C1) * (2 * cov + C2)) /
        ((mux * mux + muy * muy + C1) * (vx + vy + C2));
    }
    total += sum / mx.length;
  }
  return total / a.channels;
}
