/**
 * Low-light (shot-noise) restoration: simulate a sensor that counts 10 photons at full white
 * (y = Poisson(10·x)/10), then restore with the poisson task, which fits the denoising network
 * on the Anscombe transform of the counts (where shot noise is nearly Gaussian with unit
 * variance) and maps the output back with the exact unbiased inverse. Scored before and after.
 *
 * ```sh
 * deno run -A cli.ts run examples/poisson.ts --input photos/ --out out/poisson
 * ```
 *
 * @module
 */
import { pipeline } from "../mod.ts";

/** Photons at full white: the degradation and the fit must agree. */
const PEAK = 10;

export default pipeline()
  .degrade({ poisson: PEAK, seed: 1 })
  .metrics({ label: "noisy" })
  .save("{name}_lowlight.png")
  .dipFit({ task: "poisson", peak: PEAK, earlyStop: true })
  .metrics()
  .save("{name}_restored.png");
