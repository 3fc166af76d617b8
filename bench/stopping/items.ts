/**
 * The stopping benchmark's images: the paper's benchmark images (bench/quality/items.ts lists
 * and locates them) as centre crops of a chosen size, each with the observation its task fits
 * and the clean crop it is scored against. JPEG uses the denoising images at quality 10.
 *
 * @module
 */
import { join } from "node:path";
import { type Image, makeImage } from "../../core/image.ts";
import { addGaussianNoise, jpegDegrade, lanczosDownsample } from "../../dip/degrade.ts";
import { binaryMask } from "../../dip/fit.ts";
import { cropData } from "../../dip/pad.ts";
import { loadImage } from "../../image/load.ts";
import { FILES, listEntries } from "../quality/items.ts";

/** The tasks of the stopping benchmark. */
export type StopTask = "denoise" | "jpeg" | "sr" | "inpaint";

/** Every task, in table order. */
export const STOP_TASKS: readonly StopTask[] = ["denoise", "jpeg", "sr", "inpaint"];

/** JPEG quality of the `jpeg` task's observations (README's example). */
export const JPEG_QUALITY = 10;

/** Denoising noise σ on the 0–255 scale (the paper's). */
export const NOISE_SIGMA = 25;

/** One benchmark image as a fit sees it. */
export interface StopItem {
  readonly task: StopTask;
  /** color, set5, set14, gray50. */
  readonly set: string;
  readonly name: string;
  /** The ground truth at the output's size. */
  readonly clean: Image;
  /** What the fit sees (the LR image for SR). */
  readonly observation: Image;
  /** Inpainting: 1 where the pixel is known. */
  readonly mask?: Image;
}

function region(image: Image, top: number, left: number, height: number, width: number): Image {
  const data = cropData(image.data, image.channels, image.height, image.width, {
    top,
    left,
    bottom: image.height - top - height,
    right: image.width - left - width,
  });
  return makeImage(image.channels, height, width, data, image.name);
}

/** The centred `size` × `size` crop (or the whole image along a shorter side). */
export function centreCrop(image: Image, size: number): Image {
  const h = Math.min(size, image.height);
  const w = Math.min(size, image.width);
  return region(
    image,
    Math.floor((image.height - h) / 2),
    Math.floor((image.width - w) / 2),
    h,
    w,
  );
}

/**
 * Loads the images of `tasks` (filtered by `only`, names as in anchors.csv) as `size`² centre
 * crops: denoising with the quality benchmark's seeded σ = 25 noise, JPEG at quality
 * {@link JPEG_QUALITY}, SR × 4 of the crop of the region DIP produced, inpainting with the
 * paper's masks.
 */
export async function loadStopItems(
  data: string,
  tasks: readonly StopTask[],
  size: number,
  only?: readonly string[],
): Promise<StopItem[]> {
  const wanted = (name: string) => !only || only.includes(name);
  const quality = tasks.flatMap((t) =>
    t === "jpeg"
      ? ["denoise" as const]
      : t === "denoise" || t === "sr" || t === "inpaint"
      ? [t]
      : []
  );
  const entries = await listEntries(data, [...new Set(quality)]);
  const items: StopItem[] = [];
  for (const task of tasks) {
    const source = task === "jpeg" ? "denoise" : task;
    for (const e of entries) {
      if (e.task !== source || !wanted(e.name)) continue;
      const file = join(data, FILES.clean(e.task, e.set, e.name));
      if (task === "sr") {
        const [top, left, height, width] = e.region!;
        const clean = centreCrop(region(await loadImage(file), top, left, height, width), size);
        items.push({
          task,
          set: e.set,
          name: e.name,
          clean,
          observation: lanczosDownsample(clean, 4),
        });
        continue;
      }
      const clean = centreCrop(await loadImage(file), size);
      if (task === "inpaint") {
        const mask = binaryMask(centreCrop(await loadImage(join(data, FILES.mask(e.name))), size));
        const observation = makeImage(
          1,
          clean.height,
          clean.width,
          clean.data.map((v, i) => v * mask.data[i]!),
          e.name,
        );
        items.push({ task, set: e.set, name: e.name, clean, observation, mask });
        continue;
      }
      const observation = task === "jpeg"
        ? await jpegDegrade(clean, JPEG_QUALITY)
        : addGaussianNoise(clean, NOISE_SIGMA, e.noiseSeed!);
      items.push({ task, set: e.set, name: e.name, clean, observation });
    }
  }
  return items;
}

/**
 * Donoho's noise estimate: the median absolute value of the finest diagonal Haar detail
 * over 0.6745, on the mean of the channels (scaled back to one channel's σ). What a user
 * without the noise level could feed a known-σ rule.
 */
export function estimateNoiseSigma(image: Image): number {
  const { height, width, channels, data } = image;
  const plane = height * width;
  const details: number[] = [];
  for (let y = 0; y + 1 < height; y += 2) {
    for (let x = 0; x + 1 < width; x += 2) {
      for (let c = 0; c < channels; c++) {
        const at = (yy: number, xx: number) => data[c * plane + yy * width + xx]!;
        details.push(Math.abs(at(y, x) - at(y, x + 1) - at(y + 1, x) + at(y + 1, x + 1)) / 2);
      }
    }
  }
  details.sort((a, b) => a - b);
  return details[Math.floor(details.length / 2)]! / 0.6745;
}
