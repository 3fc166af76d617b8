/**
 * `dipline metrics`: PSNR and SSIM of an image against a reference, as one JSON object.
 *
 * @module
 */
import { loadImage } from "../ops/load.ts";
import { psnr, psnrY, ssim } from "../ops/metrics.ts";
import type { Image } from "../ops/image.ts";
import { makeImage } from "../ops/image.ts";
import {
  type Command,
  EXIT,
  expectPositionals,
  numberFlag,
  parseFlags,
  printLine,
  UsageError,
} from "./common.ts";

/** The `metrics` subcommand. */
export const command: Command = {
  name: "metrics",
  summary: "Print PSNR and SSIM of an image against a reference (JSON)",
  usage: `Usage: dipline metrics <image> <reference> [--y-channel] [--crop N]

Prints one JSON object: {"psnr": dB, "ssim": value}. PSNR uses peak 1 over all channels
(skimage's compare_psnr, as the reference code); it is null when the images are identical.
SSIM is Wang et al. 2004 (Gaussian 11×11, σ 1.5), averaged over channels.

Options:
  --y-channel   PSNR on luma Y (ITU-R BT.601, [16, 235]), the super-resolution protocol
  --crop N      ignore N pixels on each side (the SR protocol uses 4)

Example:
  deno run -A cli.ts metrics out/kodim01_restored.png kodim01.png`,
  async run(args) {
    const { values, positionals } = parseFlags(command, args, {
      "y-channel": { type: "boolean", default: false },
      crop: { type: "string" },
    });
    const [imagePath, referencePath] = expectPositionals(command, positionals, [
      "image",
      "reference",
    ]);
    const crop = numberFlag(command, "crop", values.crop) ?? 0;
    if (!Number.isInteger(crop) || crop < 0) {
      throw new UsageError(
        `metrics: Expected non-negative integer for --crop but received ${values.crop}`,
      );
    }
    const image = await loadImage(imagePath!);
    const reference = await loadImage(referencePath!);
    const a = cropBorder(image, crop);
    const b = cropBorder(reference, crop);
    const result = {
      psnr: finiteOrNull(values["y-channel"] ? psnrY(image, reference, crop) : psnr(a, b)),
      ssim: ssim(a, b),
    };
    printLine(JSON.stringify(result));
    return EXIT.ok;
  },
};

function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

/** Removes `n` pixels from each side (identity for n = 0). */
function cropBorder(image: Image, n: number): Image {
  if (n === 0) return image;
  const height = image.height - 2 * n;
  const width = image.width - 2 * n;
  if (height <= 0 || width <= 0) {
    throw new UsageError(
      `metrics: Expected --crop below half of ${image.height}×${image.width} but received ${n}`,
    );
  }
  const data = new Float32Array(image.channels * height * width);
  for (let c = 0; c < image.channels; c++) {
    for (let y = 0; y < height; y++) {
      const from = c * image.height * image.width + (y + n) * image.width + n;
      data.set(image.data.subarray(from, from + width), (c * height + y) * width);
    }
  }
  return makeImage(image.channels, height, width, data, image.name);
}
