/**
 * The pipeline's `dipFit` op: Deep Image Prior restoration of slot "image" (dip/fit.ts).
 *
 * @module
 */
import type { Image } from "../core/image.ts";
import type { Frame, Op, OpContext } from "../core/types.ts";
import { loadImage } from "../image/load.ts";
import { binaryMask, type DipFitOptions, fitImage, resolveFitOptions } from "../dip/fit.ts";

/**
 * The dipFit op: restores slot "image" (the observation) and writes the result back to
 * "image", keeping the other slots. meta.info gets `iterations`, `msPerStep`, `engine`,
 * `adapter`, `preset`, `restores` and (with early stopping) `stopStep`; with a "clean" slot
 * meta.metrics gets `psnr`, `bestPsnr` (the best seen at the checks) and `psnrGap` (best − final).
 *
 * @example
 * ```ts
 * import { dipFit } from "./fit.ts";
 * const op = dipFit({ task: "sr", factor: 4, iterations: 500 });
 * ```
 */
export function dipFit(options: DipFitOptions): Op {
  const fit = resolveFitOptions(options);
  const reads = ["image"];
  if (fit.task === "inpaint" && !fit.mask) reads.push("mask");
  if (fit.input === "image" && !fit.guide) reads.push("guide");
  return {
    kind: "dipFit",
    reads,
    writes: ["image"],
    params: Object.freeze({ ...options }),
    async run(frame: Frame, ctx: OpContext): Promise<Frame> {
      const observation = frame.slots.image!;
      let maskImage: Image | undefined;
      if (fit.task === "inpaint") {
        const file = fit.mask?.replaceAll("{name}", frame.meta.name);
        maskImage = binaryMask(file ? await loadImage(file) : frame.slots.mask!);
      }
      const guideFile = fit.guide?.replaceAll("{name}", frame.meta.name);
      const guide = guideFile ? await loadImage(guideFile) : frame.slots.guide;
      const result = await fitImage(
        { observation, mask: maskImage, guide, clean: frame.slots.clean },
        fit,
        { emit: (event) => ctx.emit(event), signal: ctx.signal, name: frame.meta.name },
      );
      const info: Record<string, unknown> = {
        ...frame.meta.info,
        task: fit.task,
        preset: fit.preset,
        iterations: result.iterations,
        msPerStep: result.msPerStep,
        engine: result.engine,
        adapter: result.adapter,
        runs: fit.runs,
        restores: result.restores,
      };
      if (fit.earlyStop) {
        info.stopStep = result.stopStep ?? null;
        info.wmvArgmin = result.wmvArgmin ?? null;
      }
      const metrics: Record<string, number> = { ...frame.meta.metrics };
      if (result.psnr !== undefined) {
        metrics.psnr = result.psnr;
        metrics.bestPsnr = result.bestPsnr!;
        metrics.psnrGap = result.bestPsnr! - result.psnr;
        info.bestStep = result.bestStep;
      }
      return {
        slots: { ...frame.slots, image: result.image },
        meta: { ...frame.meta, info, metrics },
      };
    },
  };
}
