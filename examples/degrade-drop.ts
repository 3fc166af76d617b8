/**
 * Drops half of the pixels at random (the "restoration barbara" setting) and saves the damaged
 * image and its mask (255 known, 0 missing), ready for inpainting.
 *
 * ```sh
 * deno run -A cli.ts run examples/degrade-drop.ts --input photos/ --out out/drop
 * ```
 *
 * @module
 */
import { pipeline } from "../mod.ts";

export default pipeline()
  .degrade({ drop: 0.5, seed: 1 }) // restoration notebook (barbara): keep 50% of the pixels
  .save("{name}_dropped.png")
  .save("{name}_mask.png", { slot: "mask" });
