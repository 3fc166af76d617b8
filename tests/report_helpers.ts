/**
 * Report entries made without fitting: a realistic run record (a DIP curve that rises, peaks
 * and falls; 3000 steps checked every 50; ES-WMV; real 80 px JPEG thumbnails of a noisy test
 * card), so size and open time can be measured on 500 inputs in a second.
 *
 * @module
 */
import { type RunRecord, THUMBNAIL_QUALITY, THUMBNAIL_SIZE } from "../core/run_record.ts";
import { addGaussianNoise } from "../dip/degrade.ts";
import { observedPsnr } from "../dip/record.ts";
import { testCard } from "../image/testcard.ts";
import { jpegThumbnail } from "../image/thumbnail.ts";
import type { ReportEntry } from "../ops/report/html.ts";

/** A record of a 3000-step denoising run whose PSNR peaks at `peakStep`. */
export async function syntheticRecord(seed: number, peakStep = 1500): Promise<RunRecord> {
  const clean = testCard(256, 256);
  const noisy = addGaussianNoise(clean, 25, seed);
  const steps: number[] = [];
  const loss: number[] = [];
  const psnrObserved: number[] = [];
  const psnr: number[] = [];
  const variance: (number | null)[] = [];
  for (let step = 50; step <= 3000; step += 50) {
    const t = step / peakStep;
    steps.push(step);
    loss.push(+(0.02 * Math.exp(-t) + 0.0096).toPrecision(6));
    psnrObserved.push(+(14 + 6 * (1 - Math.exp(-t))).toPrecision(6));
    psnr.push(+(20 + 9 * t * Math.exp(1 - t) + (seed % 7) * 0.1).toPrecision(6));
    variance.push(step < 100 ? null : +(1e-3 * Math.exp(-t) + 2e-5).toPrecision(6));
  }
  const best = psnr.indexOf(Math.max(...psnr));
  return {
    version: 1,
    checkEvery: 50,
    iterations: 3000,
    steps: 3000,
    ema: 0.99,
    fits: 1,
    lr: 0.01,
    checks: { step: steps, loss, psnrObserved, psnr, variance },
    events: [{ step: 700, kind: "backtrack" }],
    thumbnails: {
      observed: await jpegThumbnail(noisy, THUMBNAIL_SIZE, THUMBNAIL_QUALITY),
      restored: await jpegThumbnail(clean, THUMBNAIL_SIZE, THUMBNAIL_QUALITY),
      clean: await jpegThumbnail(clean, THUMBNAIL_SIZE, THUMBNAIL_QUALITY),
    },
    previews: [],
    stopStep: 2600,
    wmvArgmin: 1600,
    bestPsnr: psnr[best]!,
    bestStep: steps[best]!,
    inputPsnr: observedPsnr(noisy, clean)!,
    ms: 60_000,
  };
}

/** `count` report entries (every 50th a failure), each with its own record. */
export async function syntheticEntries(count: number): Promise<ReportEntry[]> {
  const records = await Promise.all(Array.from({ length: 7 }, (_, i) => syntheticRecord(i + 1)));
  return Array.from({ length: count }, (_, i): ReportEntry => {
    const name = `img${String(i).padStart(4, "0")}`;
    if (i % 50 === 49) {
      return { name, status: "failed", error: `${name}.png: not a PNG`, metrics: {}, info: {} };
    }
    const record = records[i % records.length]!;
    return {
      name,
      status: "done",
      metrics: { psnr: record.bestPsnr! - 0.3 - (i % 13) * 0.05, ssim: 0.8 },
      info: { engine: "cpu", adapter: "wasm-simd ×2", iterations: 3000, msPerStep: 20, record },
      outputs: [`${name}_denoised.png`],
      input: `../photos/${name}.png`,
    };
  });
}
