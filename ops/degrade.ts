/**
 * The pipeline's `degrade` op: makes the observation a restoration starts from.
 *
 * @module
 */
import { RecipeError } from "../core/errors.ts";
import type { Image } from "../core/image.ts";
import type { Frame, Op } from "../core/types.ts";
import { checkDegradeSpec, degradeImage, type DegradeSpec } from "../dip/degrade.ts";

/**
 * The pipeline's `degrade` op: reads `image`, keeps it in `clean`, writes the degraded
 * observation to `image` and, when the spec drops pixels or draws text, the mask to `mask`.
 * For SR (`downsample`), `clean` stays at full resolution.
 */
export function degradeOp(spec: DegradeSpec): Op {
  checkDegradeSpec(spec);
  const masked = spec.drop !== undefined || spec.text !== undefined;
  return {
    kind: "degrade",
    reads: ["image"],
    writes: masked ? ["image", "clean", "mask"] : ["image", "clean"],
    params: { ...spec },
    async run(frame: Frame): Promise<Frame> {
      const clean = frame.slots.image;
      if (clean === undefined) {
        throw new RecipeError(
          `degrade: expected slot "image" in frame ${frame.meta.name} but it is missing`,
        );
      }
      const { image, mask } = await degradeImage(clean, spec);
      const slots: Record<string, Image> = { ...frame.slots, clean, image };
      if (mask !== undefined) slots.mask = mask;
      return { slots, meta: frame.meta };
    },
  };
}
