/**
 * The deblurring task end to end: dipFit({ task: "deblur", sigma }) fits through the
 * gaussianBlur data term and restores a blurred generated card better than the observation;
 * its options are validated like the other tasks'.
 */
import { deepStrictEqual as deepEqual, ok, throws } from "node:assert/strict";
import { blur, degradeImage } from "../dip/degrade.ts";
import { fitImage, resolveFitOptions } from "../dip/fit.ts";
import { dipFit } from "../ops/dip_fit.ts";
import { makeImage } from "../core/image.ts";
import { psnr } from "../image/metrics.ts";
import { cropData } from "../dip/pad.ts";
import { PRESETS } from "../dip/tasks.ts";
import { testCard } from "../image/testcard.ts";
import { RecipeError } from "../core/errors.ts";

Deno.test("resolveFitOptions() takes sigma for deblur only, and the deblur preset", () => {
  const fit = resolveFitOptions({ task: "deblur", sigma: 1.5 });
  deepEqual([fit.task, fit.preset, fit.sigma, fit.factor], ["deblur", "deblur", 1.5, 1]);
  deepEqual([fit.iterations, fit.regNoise, fit.lr, fit.ema], [3000, 0.03, 0.01, 0.99]);
  deepEqual(fit.net, PRESETS.sr4!.net);
  deepEqual(resolveFitOptions({ task: "deblur", sigma: 2, preset: "sr4" }).ema, 0);
  deepEqual("sigma" in resolveFitOptions({ task: "denoise" }), false);

  throws(() => resolveFitOptions({ task: "deblur" }), RecipeError);
  throws(
    () => resolveFitOptions({ task: "deblur" }),
    /dipFit\(\): task "deblur" needs sigma but received none/,
  );
  for (const sigma of [0, -1, Infinity, "2" as unknown as number]) {
    throws(
      () => resolveFitOptions({ task: "deblur", sigma }),
      (e: unknown) =>
        e instanceof RecipeError &&
        /Expected (finite )?number( > 0)? for sigma but received/.test(e.message),
    );
  }
  throws(
    () => resolveFitOptions({ task: "denoise", sigma: 2 }),
    (e: unknown) =>
      e instanceof RecipeError &&
      e.message === `dipFit(): sigma applies to task "deblur" only, not "denoise"`,
  );
  throws(() => resolveFitOptions({ task: "sr", sigma: 2 }), /sigma applies to task "deblur" only/);
  throws(
    () => resolveFitOptions({ task: "deblur", sigma: 2, factor: 2 }),
    /factor applies to task "sr" only/,
  );
  throws(
    () => resolveFitOptions({ task: "deblur", sigma: 2, preset: "flash" }),
    /a preset of task "deblur"/,
  );
  throws(() => dipFit({ task: "deblur", sigma: -2 }), RecipeError);
});

Deno.test("a short deblurring fit restores a blurred card better than the observation", async () => {
  // the card's top-left quadrant (shapes with hard edges over a gradient): its 2-px stripes
  // would be beyond any deblurring at σ = 1.5
  const card = testCard(32, 32);
  const crop = { top: 0, left: 0, bottom: 16, right: 16 };
  const clean = makeImage(3, 16, 16, cropData(card.data, 3, 32, 32, crop), "card");
  const sigma = 1.5;
  const { image: observed } = await degradeImage(clean, { blur: sigma, noise: 2, seed: 3 });
  const fit = resolveFitOptions({
    task: "deblur",
    sigma,
    net: { channelsDown: [8, 8], channelsUp: [8, 8], channelsSkip: [4, 4] },
    inputDepth: 8,
    iterations: 600,
    checkEvery: 100,
    engine: "cpu",
    threads: 1,
  });
  const result = await fitImage({ observation: observed, clean }, fit);
  deepEqual([result.image.height, result.image.width], [16, 16]);
  const before = psnr(observed, clean);
  ok(result.psnr! > before + 2, `PSNR restored ${result.psnr} vs blurred ${before}`);
  // the fit matched the observation through the blur: re-blurring the result gets close to it
  ok(psnr(blur(result.image, sigma), observed) > before + 3);
});
