/**
 * Blind JPEG-artifact removal: compress at quality 10 and restore with the reference's "snail"
 * setting (a small skip net [8, 16, 32, 64, 128] with skips only at the two deepest levels,
 * input depth 3, EMA 0.99, 2400 steps). Blind: the fit never sees the JPEG model, only the
 * image. Early stopping (ES-WMV) picks the step instead of a fixed count.
 *
 * ```sh
 * deno run -A cli.ts run examples/jpeg.ts --input photos/ --out out/jpeg
 * ```
 *
 * @module
 */
import { pipeline } from "../mod.ts";

export default pipeline()
  .degrade({ jpeg: 10 })
  .metrics({ label: "jpeg" })
  .dipFit({ task: "jpeg", earlyStop: true })
  .metrics()
  .save("{name}_dejpeg.png");
