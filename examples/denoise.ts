/**
 * Denoising, the paper's main experiment: add σ = 25 noise, restore with Deep Image Prior (the
 * reference denoising notebook: skip net, EMA 0.99, backtracking, 3000 steps), average two
 * runs (the paper: 30.43 → 31.00 dB), and score against the clean image.
 *
 * ```sh
 * deno run -A cli.ts run examples/denoise.ts --input photos/ --out out/denoise
 * ```
 *
 * @module
 */
import { pipeline } from "../mod.ts";

export default pipeline()
  .degrade({ noise: 25, seed: 1 }) // denoising notebook: σ = 25/255
  .metrics({ label: "noisy" })
  .dipFit({ task: "denoise" })
  .average({ runs: 2 })
  .metrics()
  .save("{name}_denoised.png");
