/**
 * Adds Gaussian noise of σ = 25 (on the 0–255 scale, the paper's denoising setting) to every
 * input and saves the noisy copy and the PSNR/SSIM it costs.
 *
 * ```sh
 * deno run -A cli.ts run examples/degrade-noise.ts --input photos/ --out out/noisy
 * ```
 *
 * @module
 */
import { pipeline } from "../mod.ts";

export default pipeline()
  .degrade({ noise: 25, seed: 1 }) // denoising notebook: σ = 25/255
  .metrics({ label: "noisy" })
  .save("{name}_noisy.png");
