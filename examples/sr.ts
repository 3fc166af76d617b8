/**
 * Super-resolution ×4: downsample the input (Lanczos, as PIL's ANTIALIAS made the paper's LR
 * images), restore ×4 with Deep Image Prior (Lanczos2 data term, 2000 steps, input noise 0.03)
 * and score on the luma channel with a 4-pixel border, the SR papers' protocol.
 *
 * ```sh
 * deno run -A cli.ts run examples/sr.ts --input photos/ --out out/sr
 * ```
 *
 * @module
 */
import { pipeline } from "../mod.ts";

export default pipeline()
  .degrade({ downsample: 4 })
  .save("{name}_lr.png")
  .dipFit({ task: "sr", factor: 4 })
  .metrics({ yChannel: true, crop: 4 })
  .save("{name}_x4.png");
