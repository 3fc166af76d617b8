/**
 * Flash/no-flash: the input is the noisy no-flash photo; a `guide` slot holds the flash photo of
 * the same scene, which becomes the network's input z (the reference notebook: lr 0.1, 601
 * steps, no input noise). This recipe makes both from one image so it runs anywhere: the
 * "flash" guide is the clean image, the "no-flash" observation a noisy copy. With real pairs,
 * run over the no-flash photos with `.dipFit({ task: "flash", guide: "pairs/{name}_flash.jpg" })`,
 * or use `dipline restore-flash flash.jpg noflash.jpg -o out.png` for one pair.
 *
 * ```sh
 * deno run -A cli.ts run examples/flash.ts --input photos/ --out out/flash
 * ```
 *
 * @module
 */
import type { Frame, Op } from "../mod.ts";
import { pipeline } from "../mod.ts";

/** Copies one slot into another (here: the clean image into `guide`). */
function copySlot(from: string, to: string): Op {
  return {
    kind: "copySlot",
    reads: [from],
    writes: [to],
    params: { from, to },
    run: (frame: Frame) =>
      Promise.resolve({ ...frame, slots: { ...frame.slots, [to]: frame.slots[from]! } }),
  };
}

export default pipeline()
  .degrade({ noise: 25, seed: 1 })
  .use(copySlot("clean", "guide"))
  .dipFit({ task: "flash" })
  .metrics()
  .save("{name}_flash.png");
