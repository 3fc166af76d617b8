/**
 * Synthetic degradations (the observations DIP restores), all seeded and reproducible:
 * Gaussian blur, additive Gaussian noise, antialiased Lanczos downsampling, Bernoulli pixel
 * dropping, text masks and JPEG compression, plus the pipeline's `degrade` op.
 *
 * @module
 */
import { createRequire } from "node:module";
import fontPackage from "dejavu-fonts-ttf/package.json" with { type: "json" };
import { parseOptions, z } from "../core/schema.ts";
import { type Image, makeImage } from "../core/image.ts";
import { renderTextRaster } from "../image/codecs.ts";
import { decodeImage } from "../image/load.ts";
import { gaussianBlur } from "./operators.ts";
import { encodeImage } from "../image/save.ts";

/**
 * A small seeded PRNG (mulberry32): 32-bit state, uniform floats in [0, 1). Not
 * cryptographic; good enough for noise and masks, and identical on every platform.
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples from a uniform source (Box–Muller, both outputs used). */
export function gaussianSource(uniform: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const u1 = 1 - uniform(); // in (0, 1], so log is finite
    const u2 = uniform();
    const radius = Math.sqrt(-2 * Math.log(u1));
    spare = radius * Math.sin(2 * Math.PI * u2);
    return radius * Math.cos(2 * Math.PI * u2);
  };
}

function checkSeed(op: string, seed: number): void {
  if (!Number.isInteger(seed)) {
    throw new RangeError(`${op}: expected an integer seed but received ${seed}`);
  }
}

/**
 * Adds white Gaussian noise of standard deviation `sigma255 / 255` and clips to [0, 1], like
 * the reference `get_noisy_image` (denoising notebook: σ = 25).
 */
export function addGaussianNoise(image: Image, sigma255: number, seed: number): Image {
  if (!(sigma255 >= 0) || !Number.isFinite(sigma255)) {
    throw new RangeError(`addGaussianNoise: expected sigma255 >= 0 but received ${sigma255}`);
  }
  checkSeed("addGaussianNoise", seed);
  const normal = gaussianSource(mulberry32(seed));
  const sigma = sigma255 / 255;
  const out = new Float32Array(image.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = image.data[i]! + sigma * normal();
    out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return makeImage(image.channels, image.height, image.width, out, image.name);
}

/**
 * Shot (Poisson) noise of a sensor that counts `peak` photons at full white: each value becomes
 * Poisson(peak·x)/peak, clipped to 1 (low-light photos have peaks of 1–100). Seeded.
 */
export function addPoissonNoise(image: Image, peak: number, seed: number): Image {
  if (!(peak > 0) || !Number.isFinite(peak)) {
    throw new RangeError(`addPoissonNoise: expected peak > 0 but received ${peak}`);
  }
  checkSeed("addPoissonNoise", seed);
  const uniform = mulberry32(seed);
  const normal = gaussianSource(uniform);
  const out = new Float32Array(image.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = poissonSample(peak * Math.max(0, image.data[i]!), uniform, normal) / peak;
    out[i] = v > 1 ? 1 : v;
  }
  return makeImage(image.channels, image.height, image.width, out, image.name);
}

/**
 * One Poisson(λ) draw: Knuth's product of uniforms below λ = 30, above it the normal
 * approximation with continuity correction (its error is far below the noise itself there).
 */
function poissonSample(lambda: number, uniform: () => number, normal: () => number): number {
  if (lambda <= 0) return 0;
  if (lambda < 30) {
    const limit = Math.exp(-lambda);
    let k = 0;
    let p = uniform();
    while (p > limit) {
      k++;
      p *= uniform();
    }
    return k;
  }
  return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * normal()));
}

/**
 * Blurs with a Gaussian of standard deviation `sigma` pixels: exactly the forward model of the
 * deblurring data term (dip/operators.ts {@link gaussianBlur}: separable, normalised taps on
 * ⌈3σ⌉ pixels each side unless `radius` is given, replicate padding), so a fit can in principle
 * reproduce the observation from the clean image. Same size; no clipping is needed (the taps
 * are positive and sum to 1). Add noise afterwards for a realistic observation.
 */
export function blur(image: Image, sigma: number, options: { radius?: number } = {}): Image {
  let operator;
  try {
    operator = gaussianBlur(sigma, options);
  } catch (error) {
    throw new RangeError(`blur: ${(error as Error).message.replace(/^operators: /, "")}`);
  }
  const data = operator.apply(image.data, image.channels, image.height, image.width);
  return makeImage(image.channels, image.height, image.width, data, image.name);
}

/** PIL's Lanczos window: sinc(x)·sinc(x/3) on |x| < 3 (Pillow `lanczos_filter`). */
function lanczos3(x: number): number {
  if (x <= -3 || x >= 3) return 0;
  if (x === 0) return 1;
  const px = Math.PI * x;
  return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
}

/**
 * Resampling weights of one axis from `inSize` to `outSize` samples, as Pillow's
 * `precompute_coeffs`: output sample i is centred at (i + 0.5)·scale in input coordinates, the
 * kernel is stretched by scale (antialiasing), taps outside the image are dropped and the
 * rest renormalised.
 */
export function lanczosWeights(
  inSize: number,
  outSize: number,
): { start: number; weights: Float64Array }[] {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 3 * filterScale;
  const result: { start: number; weights: Float64Array }[] = [];
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const start = Math.max(0, Math.trunc(center - support + 0.5));
    const end = Math.min(inSize, Math.trunc(center + support + 0.5));
    const weights = new Float64Array(end - start);
    let sum = 0;
    for (let x = start; x < end; x++) {
      const w = lanczos3((x - center + 0.5) / filterScale);
      weights[x - start] = w;
      sum += w;
    }
    for (let k = 0; k < weights.length; k++) weights[k] = weights[k]! / sum;
    result.push({ start, weights });
  }
  return result;
}

/**
 * Downsamples by `factor` with an antialiasing Lanczos-3 filter, like PIL's
 * `resize(..., LANCZOS)` that the reference SR notebooks use to make the low-resolution input
 * (`get_image` with ANTIALIAS). The output is exactly floor(H/f)×floor(W/f); values are
 * clipped to [0, 1] (Lanczos overshoots at edges, and PIL's 8-bit path clips too).
 */
export function lanczosDownsample(image: Image, factor: 2 | 4 | 8): Image {
  if (factor !== 2 && factor !== 4 && factor !== 8) {
    throw new RangeError(`lanczosDownsample: expected factor 2, 4 or 8 but received ${factor}`);
  }
  const { channels, height, width, data } = image;
  const oh = Math.floor(height / factor);
  const ow = Math.floor(width / factor);
  if (oh === 0 || ow === 0) {
    throw new RangeError(
      `lanczosDownsample: expected an image of at least ${factor}×${factor} but received ${height}×${width}`,
    );
  }
  const columns = lanczosWeights(width, ow);
  const rows = lanczosWeights(height, oh);
  const out = new Float32Array(channels * oh * ow);
  const horizontal = new Float64Array(height * ow);
  for (let c = 0; c < channels; c++) {
    const base = c * height * width;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < ow; x++) {
        const { start, weights } = columns[x]!;
        let sum = 0;
        for (let k = 0; k < weights.length; k++) {
          sum += weights[k]! * data[base + y * width + start + k]!;
        }
        horizontal[y * ow + x] = sum;
      }
    }
    for (let y = 0; y < oh; y++) {
      const { start, weights } = rows[y]!;
      for (let x = 0; x < ow; x++) {
        let sum = 0;
        for (let k = 0; k < weights.length; k++) {
          sum += weights[k]! * horizontal[(start + k) * ow + x]!;
        }
        out[c * oh * ow + y * ow + x] = sum < 0 ? 0 : sum > 1 ? 1 : sum;
      }
    }
  }
  return makeImage(channels, oh, ow, out, image.name);
}

/**
 * Keeps each pixel with probability `keep` (one draw per pixel, shared by all channels, as
 * the reference restoration notebooks' `get_bernoulli_mask`). Returns the masked image
 * (dropped pixels are 0 in every channel) and the 1-channel mask (1 known, 0 missing).
 */
export function bernoulliDrop(
  image: Image,
  keep: number,
  seed: number,
): { image: Image; mask: Image } {
  if (!(keep >= 0 && keep <= 1)) {
    throw new RangeError(`bernoulliDrop: expected keep in [0, 1] but received ${keep}`);
  }
  checkSeed("bernoulliDrop", seed);
  const uniform = mulberry32(seed);
  const plane = image.height * image.width;
  const mask = new Float32Array(plane);
  for (let i = 0; i < plane; i++) mask[i] = uniform() < keep ? 1 : 0;
  const maskImage = makeImage(1, image.height, image.width, mask, `${image.name}-mask`);
  return { image: applyMask(image, maskImage), mask: maskImage };
}

/** Multiplies every channel of `image` by a 1-channel `mask` of the same height and width. */
export function applyMask(image: Image, mask: Image): Image {
  if (mask.channels !== 1 || mask.height !== image.height || mask.width !== image.width) {
    throw new RangeError(
      `applyMask: expected a 1×${image.height}×${image.width} mask but received ${mask.channels}×${mask.height}×${mask.width}`,
    );
  }
  const plane = image.height * image.width;
  const out = new Float32Array(image.data.length);
  for (let c = 0; c < image.channels; c++) {
    for (let i = 0; i < plane; i++) out[c * plane + i] = image.data[c * plane + i]! * mask.data[i]!;
  }
  return makeImage(image.channels, image.height, image.width, out, image.name);
}

/** The text drawn by default, as the reference `get_text_mask`. */
export const DEFAULT_MASK_TEXT = "hello world";
/** Default font size in pixels (reference `get_text_mask(sz=20)`). */
export const DEFAULT_MASK_FONT_SIZE = 20;

let fontBytes: Uint8Array | undefined;

/** DejaVu Sans Bold from the pinned `dejavu-fonts-ttf` npm package (a FreeSansBold look-alike). */
function maskFont(): Uint8Array {
  if (fontBytes === undefined) {
    const require = createRequire(import.meta.url);
    const path = require.resolve(`${fontPackage.name}/ttf/DejaVuSans-Bold.ttf`);
    fontBytes = Deno.readFileSync(path);
  }
  return fontBytes;
}

/** Renders one line of text; returns its glyph coverage in [0, 1]. */
async function renderLine(text: string, size: number): Promise<Image> {
  const rendered = await renderTextRaster(maskFont(), size, text);
  const plane = rendered.width * rendered.height;
  const alpha = new Float32Array(plane);
  for (let i = 0; i < plane; i++) alpha[i] = rendered.data[i * 4 + 3]! / 255;
  return makeImage(1, rendered.height, rendered.width, alpha, "text");
}

/**
 * A text mask: 1 where the pixel is known, 0 under the text. Lines of `text` (default
 * "hello world" in DejaVu Sans Bold, size 20 — the reference uses FreeSansBold 20) are tiled
 * over the whole image, every other text height, each line shifted by a seeded random offset.
 * Any pixel the glyphs touch (coverage ≥ 1/4) is marked missing. Asynchronous because the
 * font rasteriser (imagescript's wasm) loads asynchronously.
 */
export async function textMask(
  height: number,
  width: number,
  text: string = DEFAULT_MASK_TEXT,
  options: { fontSize?: number; seed?: number } = {},
): Promise<Image> {
  const size = options.fontSize ?? DEFAULT_MASK_FONT_SIZE;
  const seed = options.seed ?? 0;
  if (!Number.isInteger(height) || height <= 0 || !Number.isInteger(width) || width <= 0) {
    throw new RangeError(
      `textMask: expected positive integer height and width but received ${height}×${width}`,
    );
  }
  if (!(size >= 4 && size <= 1000)) {
    throw new RangeError(`textMask: expected fontSize in [4, 1000] but received ${size}`);
  }
  if (text.trim().length === 0) {
    throw new RangeError("textMask: expected non-empty text but received blank text");
  }
  checkSeed("textMask", seed);
  const glyphs = await renderLine(text.trim(), size);
  // Repeats along a line are one word space apart (the rasteriser trims trailing spaces).
  const period = glyphs.width + Math.round(0.6 * size);
  const mask = new Float32Array(height * width).fill(1);
  const uniform = mulberry32(seed);
  const lineStep = 2 * glyphs.height;
  for (
    let top = Math.floor(uniform() * glyphs.height) - glyphs.height;
    top < height;
    top += lineStep
  ) {
    const shift = Math.floor(uniform() * period);
    for (let y = 0; y < glyphs.height; y++) {
      const my = top + y;
      if (my < 0 || my >= height) continue;
      for (let x = 0; x < width; x++) {
        const gx = (x + shift) % period;
        // 0.25: also hide the antialiased rim, so no partly-inked pixel counts as known.
        if (gx < glyphs.width && glyphs.data[y * glyphs.width + gx]! >= 0.25) {
          mask[my * width + x] = 0;
        }
      }
    }
  }
  return makeImage(1, height, width, mask, "text-mask");
}

/**
 * Round-trips the image through JPEG at `quality` (1–100), producing real blocking and
 * ringing artefacts. A gray image stays 1 channel.
 */
export async function jpegDegrade(image: Image, quality: number): Promise<Image> {
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new RangeError(
      `jpegDegrade: expected an integer quality in 1–100 but received ${quality}`,
    );
  }
  const bytes = await encodeImage(image, { format: "jpeg", quality });
  const decoded = await decodeImage(bytes, image.name, { keepGray: true });
  if (image.channels === 3) return decoded;
  return makeImage(
    1,
    decoded.height,
    decoded.width,
    decoded.data.slice(0, decoded.height * decoded.width),
    image.name,
  );
}

/**
 * A composition of degradations (the options of `degrade`), applied in the order the fields
 * are listed here.
 */
export const DegradeSpecSchema = z.strictObject({
  blur: z.number().positive().finite().optional().meta({
    description: "Gaussian blur σ in pixels (the deblurring forward model), applied first",
    placeholder: "SIGMA",
  }),
  noise: z.number().min(0).finite().optional().meta({
    description: "Gaussian noise σ on the 0–255 scale (25 in the denoising notebook)",
    placeholder: "SIGMA",
  }),
  poisson: z.number().positive().finite().optional().meta({
    description: "shot noise: photons at full white (y = Poisson(peak·x)/peak; smaller = darker)",
    placeholder: "PEAK",
  }),
  downsample: z.union([z.literal(2), z.literal(4), z.literal(8)]).optional().meta({
    description: "Lanczos downsampling factor (SR ×2/×4/×8)",
    placeholder: "F",
  }),
  drop: z.number().gt(0).max(1).optional().meta({
    description: "fraction of pixels kept (Bernoulli), e.g. 0.5 for the barbara restoration",
    placeholder: "P",
  }),
  text: z.string().trim().min(1).optional().meta({
    description: 'text drawn as a missing-pixel mask, e.g. "hello world"',
    placeholder: "TEXT",
  }),
  jpeg: z.int().min(1).max(100).optional().meta({
    description: "JPEG quality to compress with (1–100)",
    placeholder: "Q",
  }),
  seed: z.int().min(0).max(0xffffffff).optional().meta({
    description: "seed of every random step (default 0)",
    placeholder: "N",
  }),
});

/** What {@link degradeImage} applies (the `degrade` op's options). */
export type DegradeSpec = z.input<typeof DegradeSpecSchema>;

/** Validates a spec; throws a RecipeError naming the field, what was expected and received. */
export function checkDegradeSpec(spec: DegradeSpec): void {
  parseOptions(DegradeSpecSchema, spec, "degrade()");
}

/**
 * Applies a {@link DegradeSpec} in a fixed order: blur, downsample, then shot noise (poisson)
 * and Gaussian noise, then the drop
 * and text masks (combined into one mask), then JPEG. Noise after blurring or downsampling
 * matches a noisy capture of a blurred or low-resolution scene; masking after noise makes missing pixels exactly 0. Each random
 * step derives its own seed from `spec.seed`, so adding a step never changes another's draw.
 */
export async function degradeImage(
  image: Image,
  spec: DegradeSpec,
): Promise<{ image: Image; mask?: Image }> {
  checkDegradeSpec(spec);
  const seed = spec.seed ?? 0;
  let current = image;
  let mask: Image | undefined;
  if (spec.blur !== undefined) current = blur(current, spec.blur);
  if (spec.downsample !== undefined) current = lanczosDownsample(current, spec.downsample);
  if (spec.poisson !== undefined) {
    current = addPoissonNoise(current, spec.poisson, (seed + 0x85ebca6b) | 0);
  }
  if (spec.noise !== undefined && spec.noise > 0) {
    current = addGaussianNoise(current, spec.noise, seed);
  }
  if (spec.drop !== undefined) {
    mask = bernoulliDrop(current, spec.drop, (seed + 0x9e3779b9) | 0).mask;
  }
  if (spec.text !== undefined) {
    const text = await textMask(current.height, current.width, spec.text, {
      seed: (seed + 0x3c6ef372) | 0,
    });
    mask = mask === undefined ? text : applyMask(mask, text);
  }
  if (mask !== undefined) {
    current = applyMask(current, makeImage(1, mask.height, mask.width, mask.data, "mask"));
  }
  if (spec.jpeg !== undefined) current = await jpegDegrade(current, spec.jpeg);
  return mask === undefined ? { image: current } : {
    image: current,
    mask: makeImage(1, mask.height, mask.width, mask.data, `${image.name}-mask`),
  };
}
