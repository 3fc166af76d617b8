/**
 * A generated colour test card: the demo image and the input of tests, so neither needs a
 * file. Deterministic (no randomness), defined on normalised coordinates so any size works.
 *
 * @module
 */
import { type Image, makeImage } from "../core/image.ts";

/** Default test card size: 256×256, small enough for a quick fit, divisible by 32. */
export const TEST_CARD_SIZE = 256;

type Rgb = [number, number, number];

/** Flat colours of the shapes and the patch row (a few saturated primaries and secondaries). */
const PALETTE: readonly Rgb[] = [
  [0.85, 0.12, 0.1],
  [0.1, 0.65, 0.2],
  [0.12, 0.25, 0.85],
  [0.95, 0.85, 0.1],
  [0.1, 0.8, 0.85],
  [0.8, 0.15, 0.75],
];

/**
 * The test card's colour at pixel (x, y) of an h×w card. Quadrants: top left, geometric
 * shapes with hard edges over a smooth gradient; top right, fine black/white stripes of
 * periods 2, 3, 4 and 6 px (vertical, then horizontal); bottom left, an 8-step gray wedge
 * over a smooth gray ramp; bottom right, a colour zone plate above a row of flat patches.
 */
function cardPixel(x: number, y: number, h: number, w: number): Rgb {
  const u = (x + 0.5) / w;
  const v = (y + 0.5) / h;
  if (u < 0.5 && v < 0.5) {
    // Smooth two-axis colour gradient under the shapes.
    let rgb: Rgb = [0.2 + 0.6 * (u * 2), 0.2 + 0.6 * (v * 2), 0.6 - 0.3 * (u + v)];
    const disk = (u - 0.16) ** 2 + (v - 0.16) ** 2 < 0.1 ** 2;
    const square = u > 0.28 && u < 0.45 && v > 0.06 && v < 0.23;
    // Triangle with apex (0.25, 0.28) and base from (0.08, 0.46) to (0.42, 0.46).
    const triangle = v < 0.46 && v > 0.28 && Math.abs(u - 0.25) < ((v - 0.28) / 0.18) * 0.17;
    if (disk) rgb = PALETTE[0]!;
    if (square) rgb = PALETTE[2]!;
    if (triangle) rgb = PALETTE[3]!;
    return rgb;
  }
  if (u >= 0.5 && v < 0.5) {
    const band = Math.min(7, Math.floor(v * 16));
    const periods = [2, 3, 4, 6];
    const period = periods[band % 4]!;
    const vertical = band < 4;
    const t = vertical ? x : y;
    const on = (t % period) < period / 2;
    return on ? [0.9, 0.9, 0.9] : [0.1, 0.1, 0.1];
  }
  if (u < 0.5) {
    if (v < 0.75) {
      const level = Math.min(7, Math.floor(u * 16)) / 7;
      return [level, level, level];
    }
    const ramp = u * 2;
    return [ramp, ramp, ramp];
  }
  if (v < 0.85) {
    // Zone plate: the spatial frequency grows with the distance from the quadrant centre.
    const du = (u - 0.75) * w;
    const dv = (v - 0.675) * h;
    const r2 = du * du + dv * dv;
    const k = Math.PI / (1.6 * Math.max(h, w));
    const s = 0.5 + 0.4 * Math.cos(k * r2);
    return [s, 0.5 + 0.4 * Math.cos(k * r2 * 0.8), 1 - s];
  }
  return PALETTE[Math.min(5, Math.floor((u - 0.5) * 12))]!;
}

/**
 * Generates the test card (default 256×256, 3 channels). With 1 channel it is the BT.601 luma
 * (0.299 R + 0.587 G + 0.114 B) of the colour card. Values lie in [0, 1].
 *
 * @example
 * ```ts
 * const card = testCard(64, 96);
 * console.log(card.channels, card.height, card.width); // 3 64 96
 * ```
 */
export function testCard(
  height: number = TEST_CARD_SIZE,
  width: number = height,
  channels: 1 | 3 = 3,
): Image {
  if (!Number.isInteger(height) || height < 8 || !Number.isInteger(width) || width < 8) {
    throw new RangeError(
      `testCard: expected integer height and width of at least 8 but received ${height}×${width}`,
    );
  }
  if (channels !== 1 && channels !== 3) {
    throw new RangeError(`testCard: expected 1 or 3 channels but received ${channels}`);
  }
  const plane = height * width;
  const data = new Float32Array(channels * plane);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = cardPixel(x, y, height, width);
      const i = y * width + x;
      if (channels === 1) {
        data[i] = 0.299 * r + 0.587 * g + 0.114 * b;
      } else {
        data[i] = r;
        data[plane + i] = g;
        data[2 * plane + i] = b;
      }
    }
  }
  return makeImage(channels, height, width, data, "testcard");
}
