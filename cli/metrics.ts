/**
 * `dipline metrics`: PSNR and SSIM of an image against a reference, as one JSON object.
 *
 * @module
 */
import { loadImage } from "../image/load.ts";
import { InputError } from "../core/errors.ts";
import { cropBorder, lumaY, psnr, ssim } from "../image/metrics.ts";
import type { Image } from "../core/image.ts";
import {
  type Command,
  EXIT,
  expectPositionals,
  maxPixelsFlag,
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
SSIM is Wang et al. 2004 (Gaussian 11×11, σ 1.5), averaged over channels; null below 11×11.
Both are computed on the same (cropped, optionally luma) pixels, like the pipeline's metrics().

Options:
  --y-channel   score luma Y (ITU-R BT.601, [16, 235]), the super-resolution protocol
  --crop N      ignore N pixels on each side (the SR protocol uses 4)
  --max-pixels N  refuse inputs above N pixels (default 40000000)

Example:
  deno run -A cli.ts metrics out/kodim01_restored.png kodim01.png`,
  async run(args) {
    const { values, positionals } = parseFlags(command, args, {
      "y-channel": { type: "boolean", default: false },
      crop: { type: "string" },
      "max-pixels": { type: "string" },
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
    const maxPixels = maxPixelsFlag(command, values["max-pixels"]);
    const image = await loadImage(imagePath!, { maxPixels });
    const reference = await loadImage(referencePath!, { maxPixels });
    if (
      image.channels !== reference.channels || image.height !== reference.height ||
      image.width !== reference.width
    ) {
      throw new InputError(
        `Expected ${imagePath} to have the shape of ${referencePath} (${
          shape(reference)
        }) but received ${shape(image)}`,
      );
    }
    if (2 * crop >= Math.min(image.height, image.width)) {
      throw new UsageError(
        `metrics: Expected --crop below half of ${image.height}×${image.width} but received ${crop}`,
      );
    }
    const prepare = (i: Image) => cropBorder(values["y-channel"] ? lumaY(i) : i, crop);
    const [a, b] = [prepare(image), prepare(reference)];
    // SSIM's 11×11 window (Wang et al. 2004) needs at least 11×11 pixels.
    const result = {
      psnr: finiteOrNull(psnr(a, b)),
      ssim: a.height >= 11 && a.width >= 11 ? ssim(a, b) : null,
    };
    printLine(JSON.stringify(result));
    return EXIT.ok;
  },
};

function shape(image: Image): string {
  return `${image.channels}×${image.height}×${image.width}`;
}

function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}
