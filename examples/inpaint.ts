/**
 * Inpainting: punch "hello world" into the image as holes (as the reference's text mask) and
 * fill them with Deep Image Prior (the reference inpainting notebook: skip net with 128-channel
 * skips, nearest upsampling, 6001 steps). For random missing pixels use
 * `.degrade({ drop: 0.5 })` and `preset: "inpaint-bernoulli"`; for your own mask, load the
 * damaged image and pass `mask: "mask.png"` (white = known, black = missing).
 *
 * ```sh
 * deno run -A cli.ts run examples/inpaint.ts --input photos/ --out out/inpaint
 * ```
 *
 * @module
 */
import { pipeline } from "../mod.ts";

export default pipeline()
  .degrade({ text: "hello world", seed: 1 })
  .save("{name}_holes.png")
  .dipFit({ task: "inpaint" })
  .metrics()
  .save("{name}_inpainted.png");
