/**
 * The pipeline's `metrics` op: PSNR and SSIM of one slot against another.
 *
 * @module
 */
import { RecipeError } from "../core/errors.ts";
import type { Frame, Op } from "../core/types.ts";
import type { Image } from "../core/image.ts";
import { cropBorder, lumaY, psnr, ssim, SSIM_SIZE } from "../image/metrics.ts";

function shape(image: Image): string {
  return `${image.channels}×${image.height}×${image.width}`;
}

/** Options of {@link metricsOp}. */
export interface MetricsOpOptions {
  /** Slot holding the ground truth (default `"clean"`). */
  reference?: string;
  /** Slot holding the image to score (default `"image"`). */
  target?: string;
  /** Score the BT.601 Y channel only (the SR protocol). */
  yChannel?: boolean;
  /** Pixels removed from each side before scoring (default 0; the SR protocol uses 4). */
  crop?: number;
}

/**
 * The pipeline's `metrics` op: scores `target` against `reference` and sets `psnr` and `ssim`
 * in `meta.metrics` (`ssim` only when the cropped image is at least 11×11). With `yChannel`
 * both are computed on the Y channel; `crop` trims borders first. A later `metrics` op
 * overwrites the keys an earlier one wrote.
 */
export function metricsOp(options: MetricsOpOptions = {}): Op {
  const { reference = "clean", target = "image", yChannel = false, crop = 0 } = options;
  if (!Number.isInteger(crop) || crop < 0) {
    throw new RecipeError(
      `metrics: expected crop to be a non-negative integer but received ${crop}`,
    );
  }
  return {
    kind: "metrics",
    reads: [reference, target],
    writes: [],
    params: { reference, target, yChannel, crop },
    run(frame: Frame): Promise<Frame> {
      // A promise executor turns a throw into a rejection, as an async op's caller expects.
      return new Promise((done) => done(score(frame)));
    },
  };

  function score(frame: Frame): Frame {
    const ref = frame.slots[reference];
    const out = frame.slots[target];
    if (ref === undefined || out === undefined) {
      const missing = ref === undefined ? reference : target;
      throw new RecipeError(
        `metrics: expected slot "${missing}" in frame ${frame.meta.name} but it is missing`,
      );
    }
    if (ref.channels !== out.channels || ref.height !== out.height || ref.width !== out.width) {
      throw new RecipeError(
        `metrics: expected "${target}" to have the shape of "${reference}" (${
          shape(ref)
        }) but received ${shape(out)}`,
      );
    }
    const prepare = (image: Image) => cropBorder(yChannel ? lumaY(image) : image, crop);
    const [r, t] = [prepare(ref), prepare(out)];
    const metrics: Record<string, number> = { ...frame.meta.metrics, psnr: psnr(r, t) };
    // SSIM needs an 11×11 window; on smaller images only PSNR is reported.
    if (r.height >= SSIM_SIZE && r.width >= SSIM_SIZE) metrics.ssim = ssim(r, t);
    return { slots: frame.slots, meta: { ...frame.meta, metrics } };
  }
}
