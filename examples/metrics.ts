/**
 * Scores degradations of one input against the original: PSNR/SSIM after σ = 15 noise, on
 * luma with a 4-pixel border crop (the super-resolution papers' protocol). Writes no files;
 * `dipline run` prints each input's scores.
 *
 * ```sh
 * deno run -A cli.ts run examples/metrics.ts --input photos/
 * ```
 *
 * @module
 */
import { pipeline } from "../mod.ts";

export default pipeline()
  .degrade({ noise: 15, seed: 1 })
  .metrics({ label: "rgb" })
  .metrics({ label: "y", yChannel: true, crop: 4 }); // SR evaluation: Y channel, crop 4 px
