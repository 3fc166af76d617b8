/**
 * The pipeline's `metrics` op: PSNR and SSIM of one slot against another, optionally on the Y
 * channel with a border crop (the SR protocol), optionally under a label.
 *
 * @module
 */
import { RecipeError } from "../core/errors.ts";
import type { Image } from "../core/image.ts";
import { defineOp } from "../core/op_spec.ts";
import { z } from "../core/schema.ts";
import type { Frame, Op } from "../core/types.ts";
import { cropBorder, lumaY, psnr, ssim, SSIM_SIZE } from "../image/metrics.ts";

/** Options of the `metrics` op. */
export const MetricsOptionsSchema = z.strictObject({
  reference: z.string().min(1).optional().meta({
    description: 'slot holding the ground truth (default "clean")',
  }),
  target: z.string().min(1).optional().meta({
    description: 'slot holding the image to score (default "image")',
  }),
  yChannel: z.boolean().optional().meta({
    description: "score the BT.601 Y channel only (the SR protocol)",
  }),
  crop: z.int().min(0).optional().meta({
    description: "pixels removed from each side before scoring (the SR protocol uses 4)",
  }),
  label: z.string().regex(/^[\w-]+$/, "label of letters, digits, _ or -").optional().meta({
    description:
      'prefix for the scores, e.g. "noisy" → noisy.psnr, noisy.ssim; without one a later ' +
      "metrics() (or a dipFit scoring against clean) overwrites them",
  }),
});

/** Options of {@link metricsOp}. */
export type MetricsOpOptions = z.input<typeof MetricsOptionsSchema>;

/** The `metrics` op's declaration. */
export const metricsSpec = defineOp({
  kind: "metrics",
  summary: "PSNR and SSIM of target against reference (optionally Y channel, cropped, labelled)",
  options: MetricsOptionsSchema,
  create: (options) => metricsOp(options),
});

function shape(image: Image): string {
  return `${image.channels}×${image.height}×${image.width}`;
}

/**
 * The pipeline's `metrics` op: scores `target` against `reference` and sets `psnr` and `ssim`
 * (under `label.` when labelled) in `meta.metrics` (`ssim` only when the cropped image is at
 * least 11×11). A later `metrics` op overwrites the keys an earlier one wrote.
 */
export function metricsOp(options: MetricsOpOptions = {}): Op {
  const { reference = "clean", target = "image", yChannel = false, crop = 0, label } = options;
  if (!Number.isInteger(crop) || crop < 0) {
    throw new RecipeError(
      `metrics(): Expected integer ≥ 0 for crop but received ${crop} of type ${typeof crop}`,
    );
  }
  return {
    kind: "metrics",
    reads: [reference, target],
    writes: [],
    params: { reference, target, yChannel, crop, ...(label === undefined ? {} : { label }) },
    run(frame: Frame): Promise<Frame> {
      // A promise executor turns a throw into a rejection, as an async op's caller expects.
      return new Promise((done) => done(score(frame)));
    },
  };

  function score(frame: Frame): Frame {
    const ref = frame.slots[reference]!;
    const out = frame.slots[target]!;
    if (ref.channels !== out.channels || ref.height !== out.height || ref.width !== out.width) {
      throw new RecipeError(
        `metrics: expected "${target}" to have the shape of "${reference}" (${
          shape(ref)
        }) but received ${shape(out)}`,
      );
    }
    const prepare = (image: Image) => cropBorder(yChannel ? lumaY(image) : image, crop);
    const [r, t] = [prepare(ref), prepare(out)];
    const prefix = label === undefined ? "" : `${label}.`;
    const scores: Record<string, number> = { [`${prefix}psnr`]: psnr(r, t) };
    // SSIM needs an 11×11 window; on smaller images only PSNR is reported.
    if (r.height >= SSIM_SIZE && r.width >= SSIM_SIZE) scores[`${prefix}ssim`] = ssim(r, t);
    return {
      slots: frame.slots,
      meta: { ...frame.meta, metrics: { ...frame.meta.metrics, ...scores } },
    };
  }
}
