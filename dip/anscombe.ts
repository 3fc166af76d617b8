/**
 * The Anscombe transform for shot (Poisson) noise and its exact unbiased inverse. A count
 * c ~ Poisson(λ) becomes A(c) = 2√(c + 3/8), whose noise is nearly Gaussian with unit variance
 * (Anscombe 1948); a Gaussian denoiser works there, and the estimate of E[A(c)] is mapped back
 * with Mäkitalo & Foi's closed-form approximation of the exact unbiased inverse (IEEE TIP 2011),
 * which, unlike the algebraic inverse, is not biased at low counts.
 *
 * Images hold y = c / peak in [0, 1]; the transformed image is rescaled to [0, 1] over the range
 * A takes on [0, peak], so a sigmoid-output generator can fit it.
 *
 * @module
 */
import { type Image, makeImage } from "../core/image.ts";

const A0 = 2 * Math.sqrt(3 / 8);

/** The range of A(c) for c in [0, peak]. */
function range(peak: number): { low: number; span: number } {
  return { low: A0, span: 2 * Math.sqrt(peak + 3 / 8) - A0 };
}

/** y = c / peak → (2√(c + 3/8) − A(0)) / (A(peak) − A(0)), in [0, 1] for c ≤ peak. */
export function anscombe(image: Image, peak: number): Image {
  const { low, span } = range(peak);
  const out = new Float32Array(image.data.length);
  for (let i = 0; i < out.length; i++) {
    const counts = Math.max(0, image.data[i]! * peak);
    out[i] = (2 * Math.sqrt(counts + 3 / 8) - low) / span;
  }
  return makeImage(image.channels, image.height, image.width, out, image.name);
}

/**
 * The exact unbiased inverse (closed form): D ↦ D²/4 + √(3/2)/(4D) − 11/(8D²) + 5√(3/2)/(8D³)
 * − 1/8, for D = the estimate of E[2√(c + 3/8)]; clipped to [0, peak] and divided by peak.
 */
export function inverseAnscombe(image: Image, peak: number): Image {
  const { low, span } = range(peak);
  const r = Math.sqrt(3 / 2);
  const out = new Float32Array(image.data.length);
  for (let i = 0; i < out.length; i++) {
    const d = Math.max(low + image.data[i]! * span, A0);
    const counts = d * d / 4 + r / (4 * d) - 11 / (8 * d * d) + (5 * r) / (8 * d * d * d) -
      1 / 8;
    out[i] = Math.min(1, Math.max(0, counts / peak));
  }
  return makeImage(image.channels, image.height, image.width, out, image.name);
}
