/**
 * Runs an image-to-image function tile by tile, so a model sees at most `tile`² input pixels
 * at a time whatever the photo's size: tiles overlap by `overlap` pixels and are blended with
 * linear ramps across the overlap (weight 1 inside, falling towards a tile edge that lies
 * inside the image), which hides the seams a model's border effects would leave.
 *
 * @module
 */
import { type Image, makeImage } from "../core/image.ts";

/** Options of {@link runTiled}. */
export interface TileOptions {
  /** Largest tile side in input pixels; an image no larger than this runs whole. */
  readonly tile: number;
  /** Input pixels shared by neighbouring tiles (blended); less than `tile`. */
  readonly overlap: number;
  /** Output pixels per input pixel (the model's scale factor; 1 for restoration). */
  readonly scale: number;
}

/** Start offsets of tiles of length `tile` covering `n` with at least `overlap` shared. */
export function tileStarts(n: number, tile: number, overlap: number): number[] {
  if (n <= tile) return [0];
  const step = tile - overlap;
  const starts: number[] = [];
  for (let s = 0; s + tile < n; s += step) starts.push(s);
  starts.push(n - tile);
  return starts;
}

/** Blend weight of output pixel i of a tile `len` long whose ramps are `ramp` long. */
function rampWeight(i: number, len: number, ramp: number, atStart: boolean, atEnd: boolean) {
  let w = 1;
  if (!atStart && ramp > 0) w = Math.min(w, (i + 0.5) / ramp);
  if (!atEnd && ramp > 0) w = Math.min(w, (len - i - 0.5) / ramp);
  return w;
}

/**
 * Applies `run` to overlapping tiles of `image` and blends the results into one image of
 * `scale` times the size. `run` gets each tile as an Image (named `name@y,x`) and must return
 * `scale` times its size, with one channel count for every tile.
 *
 * @example
 * ```ts
 * import { runTiled } from "./tiles.ts";
 * import { testCard } from "./testcard.ts";
 * const same = await runTiled(testCard(64, 64), { tile: 24, overlap: 8, scale: 1 }, (t) => Promise.resolve(t));
 * ```
 *
 * @throws {RangeError} when the options are out of range or a tile comes back at another size
 */
export async function runTiled(
  image: Image,
  options: TileOptions,
  run: (tile: Image) => Promise<Image>,
): Promise<Image> {
  const { tile, overlap, scale } = options;
  if (!Number.isInteger(tile) || tile < 1) {
    throw new RangeError(`runTiled: expected a positive integer tile but received ${tile}`);
  }
  if (!Number.isInteger(overlap) || overlap < 0 || overlap >= tile) {
    throw new RangeError(
      `runTiled: expected an integer overlap in [0, ${tile}) but received ${overlap}`,
    );
  }
  if (!Number.isInteger(scale) || scale < 1) {
    throw new RangeError(`runTiled: expected a positive integer scale but received ${scale}`);
  }
  const { height: H, width: W, channels: C } = image;
  const ys = tileStarts(H, tile, overlap);
  const xs = tileStarts(W, tile, overlap);
  if (ys.length === 1 && xs.length === 1) return checked(await run(image), image, scale);

  const OH = H * scale, OW = W * scale;
  let out: Float32Array | undefined;
  let outChannels = 0;
  const weight = new Float32Array(OH * OW);
  const ramp = overlap * scale;
  for (const y0 of ys) {
    for (const x0 of xs) {
      const th = Math.min(tile, H), tw = Math.min(tile, W);
      const data = new Float32Array(C * th * tw);
      for (let c = 0; c < C; c++) {
        for (let y = 0; y < th; y++) {
          const from = c * H * W + (y0 + y) * W + x0;
          data.set(image.data.subarray(from, from + tw), c * th * tw + y * tw);
        }
      }
      const result = checked(
        await run(makeImage(C, th, tw, data, `${image.name}@${y0},${x0}`)),
        { height: th, width: tw, name: `${image.name} tile at ${y0},${x0}` },
        scale,
      );
      if (!out) {
        outChannels = result.channels;
        out = new Float32Array(outChannels * OH * OW);
      } else if (result.channels !== outChannels) {
        throw new RangeError(
          `runTiled: expected every tile to have ${outChannels} channels but one has ${result.channels}`,
        );
      }
      const oh = th * scale, ow = tw * scale, oy = y0 * scale, ox = x0 * scale;
      const wy = Array.from(
        { length: oh },
        (_, i) => rampWeight(i, oh, ramp, y0 === 0, y0 + th === H),
      );
      const wx = Array.from(
        { length: ow },
        (_, i) => rampWeight(i, ow, ramp, x0 === 0, x0 + tw === W),
      );
      for (let y = 0; y < oh; y++) {
        for (let x = 0; x < ow; x++) {
          const w = wy[y]! * wx[x]!;
          const at = (oy + y) * OW + ox + x;
          weight[at]! += w;
          for (let c = 0; c < outChannels; c++) {
            out[c * OH * OW + at]! += w * result.data[c * oh * ow + y * ow + x]!;
          }
        }
      }
    }
  }
  const plane = OH * OW;
  for (let c = 0; c < outChannels; c++) {
    for (let i = 0; i < plane; i++) out![c * plane + i]! /= weight[i]!;
  }
  return makeImage(outChannels as 1 | 3, OH, OW, out!, image.name);
}

function checked(
  result: Image,
  input: Pick<Image, "height" | "width" | "name">,
  scale: number,
): Image {
  if (result.height !== input.height * scale || result.width !== input.width * scale) {
    throw new RangeError(
      `runTiled: expected ${input.height * scale}×${
        input.width * scale
      } (×${scale}) for ${input.name} but received ${result.height}×${result.width}`,
    );
  }
  return result;
}
