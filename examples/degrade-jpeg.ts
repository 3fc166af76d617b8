/**
 * Compresses every input as a low-quality JPEG (blocking and ringing artifacts for a blind
 * JPEG restoration) and scores what the compression cost. Saved as PNG so that saving adds no
 * second compression.
 *
 * ```sh
 * deno run -A cli.ts run examples/degrade-jpeg.ts --input photos/ --out out/jpeg
 * ```
 *
 * @module
 */
import { pipeline } from "../mod.ts";

export default pipeline()
  .degrade({ jpeg: 10 })
  .metrics({ label: "jpeg10" })
  .save("{name}_jpeg10.png");
