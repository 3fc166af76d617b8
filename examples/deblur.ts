/**
 * Deblurring (not in the reference, whose notebooks have none): blur the input with a Gaussian
 * of σ = 2 pixels, add mild noise (σ = 5 on the 0–255 scale), restore with Deep Image Prior
 * whose data term is that same blur (dipline's deblur preset: the SR skip net, input noise
 * 0.03, EMA 0.99, 3000 steps), and score the observation and the result against the clean image.
 *
 * ```sh
 * deno run -A cli.ts run examples/deblur.ts --input photos/ --out out/deblur
 * ```
 *
 * @module
 */
import { pipeline } from "../mod.ts";

/** σ of the blur in pixels: the degradation and the fit's data term must agree. */
const SIGMA = 2;

export default pipeline()
  .degrade({ blur: SIGMA, noise: 5, seed: 1 }) // blur first, then noise (one spec)
  .metrics({ label: "blurred" })
  .save("{name}_blurred.png")
  .dipFit({ task: "deblur", sigma: SIGMA })
  .metrics()
  .save("{name}_deblurred.png");
