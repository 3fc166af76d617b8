/**
 * Punches text into every input as missing pixels (the inpainting "kate" setting) and saves the
 * damaged image and its mask (255 known, 0 missing).
 *
 * ```sh
 * deno run -A cli.ts run examples/degrade-text.ts --input photos/ --out out/text
 * ```
 *
 * @module
 */
import { pipeline } from "../mod.ts";

export default pipeline()
  .degrade({ text: "hello world", seed: 1 }) // reference get_text_mask: "hello world"
  .save("{name}_text.png")
  .save("{name}_text_mask.png", { slot: "mask" });
