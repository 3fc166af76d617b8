import { deepStrictEqual as deepEqual, ok, throws } from "node:assert/strict";
import { RecipeError } from "../core/errors.ts";
import { makeImage } from "../core/image.ts";
import { anscombe, inverseAnscombe } from "../dip/anscombe.ts";
import { addPoissonNoise, degradeImage } from "../dip/degrade.ts";
import { fitImage, resolveFitOptions } from "../dip/fit.ts";
import { psnr } from "../image/metrics.ts";
import { testCard } from "../image/testcard.ts";

const flat = (value: number, size = 64) =>
  makeImage(1, size, size, new Float32Array(size * size).fill(value), "flat");

function mean(data: Float32Array): number {
  return data.reduce((a, b) => a + b, 0) / data.length;
}

Deno.test("addPoissonNoise() has mean and variance λ in photon counts", () => {
  // λ well below the peak: clipping at white (1.0) does not bite
  for (const [x, peak] of [[0.1, 20], [0.3, 50], [0.5, 200]] as const) {
    const noisy = addPoissonNoise(flat(x), peak, 7);
    const counts = noisy.data.map((v) => v * peak);
    const m = mean(counts);
    const variance = mean(counts.map((c) => (c - m) ** 2));
    const lambda = x * peak;
    ok(Math.abs(m - lambda) < 0.05 * lambda + 0.1, `mean ${m} for λ ${lambda}`);
    ok(Math.abs(variance - lambda) < 0.1 * lambda + 0.2, `variance ${variance} for λ ${lambda}`);
    ok(counts.every((c) => Math.abs(c - Math.round(c)) < 1e-3), "whole photon counts");
  }
  deepEqual(addPoissonNoise(flat(0.4), 10, 3).data, addPoissonNoise(flat(0.4), 10, 3).data);
});

Deno.test("the Anscombe transform makes shot noise about unit-variance and its inverse unbiased", () => {
  const peak = 30;
  for (const x of [0.05, 0.2, 0.5]) {
    const transformed = anscombe(addPoissonNoise(flat(x, 128), peak, 11), peak);
    const span = 2 * Math.sqrt(peak + 3 / 8) - 2 * Math.sqrt(3 / 8);
    const m = mean(transformed.data);
    const sd = Math.sqrt(mean(transformed.data.map((v) => (v - m) ** 2))) * span;
    // Anscombe is variance-stabilising from about λ = 4 on (below, the std falls under 1).
    if (x * peak >= 4) ok(Math.abs(sd - 1) < 0.1, `std ${sd} in Anscombe units at x ${x}`);
    // The exact unbiased inverse of the mean recovers the intensity (the algebraic one would not).
    const back = inverseAnscombe(makeImage(1, 1, 1, new Float32Array([m]), "m"), peak).data[0]!;
    ok(Math.abs(back - x) < 0.02, `inverse ${back} for ${x}`);
  }
  const card = testCard(8, 8);
  const roundTrip = inverseAnscombe(anscombe(card, 1000), 1000);
  ok(psnr(roundTrip, card) > 45, "noise-free round trip at a high peak");
});

Deno.test("task poisson needs peak and is refused options of other tasks", () => {
  throws(() => resolveFitOptions({ task: "poisson" }), /task "poisson" needs peak/);
  throws(() => resolveFitOptions({ task: "denoise", peak: 5 }), RecipeError);
  const fit = resolveFitOptions({ task: "poisson", peak: 8 });
  deepEqual([fit.preset, fit.factor, fit.taskOptions], ["poisson", 1, { peak: 8 }]);
});

Deno.test("a short Poisson fit restores a low-light card better than the noisy one", async () => {
  const clean = testCard(16, 16);
  const peak = 8;
  const { image: observed } = await degradeImage(clean, { poisson: peak, seed: 5 });
  const fit = resolveFitOptions({
    task: "poisson",
    peak,
    net: { channelsDown: [8, 8], channelsUp: [8, 8], channelsSkip: [4, 4] },
    inputDepth: 8,
    iterations: 300,
    checkEvery: 100,
    engine: "cpu",
    threads: 1,
  });
  const result = await fitImage({ observation: observed, clean }, fit);
  const before = psnr(observed, clean);
  ok(result.psnr! > before + 2, `PSNR restored ${result.psnr} vs noisy ${before}`);
});
