/**
 * Makes the low-resolution input of a ×4 super-resolution: Lanczos downsampling to exactly
 * ⌊H/4⌋×⌊W/4⌋ (the SR notebooks' LR image).
 *
 * ```sh
 * deno run -A cli.ts run examples/degrade-downsample.ts --input photos/ --out out/lr
 * ```
 *
 * @module
 */
import { pipeline } from "../mod.ts";

export default pipeline()
  .degrade({ downsample: 4 }) // super-resolution notebook: factor 4 (and 8)
  .save("{name}_lr4.png");
