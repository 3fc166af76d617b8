/**
 * The pipeline's `degrade` op: makes the observation a restoration starts from. Reads `image`,
 * keeps it in `clean`, writes the degraded observation to `image` and, when the spec drops
 * pixels or draws text, the mask to `mask`. For SR (`downsample`), `clean` stays at full
 * resolution.
 *
 * @module
 */
import { defineOp } from "../core/op_spec.ts";
import type { Image } from "../core/image.ts";
import type { Frame, Op } from "../core/types.ts";
import {
  checkDegradeSpec,
  degradeImage,
  type DegradeSpec,
  DegradeSpecSchema,
} from "../dip/degrade.ts";

/** The `degrade` op's declaration (options: {@link DegradeSpecSchema}). */
export const degradeSpec = defineOp({
  kind: "degrade",
  summary:
    "degrade image (blur, noise, shot noise, downsample, drop, text, JPEG); keep it in clean",
  options: DegradeSpecSchema,
  create: (spec) => degradeOp(spec),
});

/** Builds the `degrade` op from a checked spec (use {@link degradeSpec} to check one). */
export function degradeOp(spec: DegradeSpec): Op {
  checkDegradeSpec(spec);
  const masked = spec.drop !== undefined || spec.text !== undefined;
  return {
    kind: "degrade",
    reads: ["image"],
    writes: masked ? ["image", "clean", "mask"] : ["image", "clean"],
    params: { ...spec },
    async run(frame: Frame): Promise<Frame> {
      const clean = frame.slots.image!;
      const { image, mask } = await degradeImage(clean, spec);
      const slots: Record<string, Image> = { ...frame.slots, clean, image };
      if (mask !== undefined) slots.mask = mask;
      return { slots, meta: frame.meta };
    },
  };
}
