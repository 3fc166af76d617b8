/**
 * Learned ×4 and DIP ×4 side by side, scored: the ESRGAN slim model that ships on npm (run by
 * onnxruntime-web, weights read offline from the npm cache) and Deep Image Prior on the same
 * Lanczos ×4 low-resolution image, both scored on luma with a 4-pixel border (the SR papers'
 * protocol) as `esrgan.psnr` and `dip.psnr`.
 *
 * ```sh
 * deno run -A cli.ts run examples/learned-vs-dip.ts --input photos/ --out out/learned-vs-dip
 * ```
 *
 * @module
 */
import { pipeline } from "../mod.ts";

export default pipeline()
  .degrade({ downsample: 4 })
  .model({ name: "esrgan-slim", factor: 4, output: "learned" }) // keeps the LR in "image"
  .metrics({ target: "learned", yChannel: true, crop: 4, label: "esrgan" })
  .save("{name}_esrgan_x4.png", { slot: "learned" })
  .dipFit({ task: "sr", factor: 4 })
  .metrics({ yChannel: true, crop: 4, label: "dip" })
  .save("{name}_dip_x4.png");
