/**
 * Shot-noise (Poisson) denoising, measured: centre crops of photos get Poisson noise at a given
 * peak, then DIP restores them twice with the same network, steps and seed — the `poisson` task
 * (the fit runs on the Anscombe transform, the output goes through the exact unbiased inverse)
 * and the plain `denoise` task on the raw noisy image (a squared error that ignores that shot
 * noise grows with brightness). PSNR against the clean crop, at the end of the run and the best
 * seen along it.
 *
 * ```sh
 * deno run -A bench/poisson.ts --images ../shared/data/paper-benchmarks/denoise-color \
 *   --names F16,kodim03,peppers --peak 10 --size 128 --channels 32 --iterations 1500
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeImage } from "../core/image.ts";
import { degradeImage } from "../dip/degrade.ts";
import { fitImage, resolveFitOptions } from "../dip/fit.ts";
import { cropData } from "../dip/pad.ts";
import { loadImage } from "../image/load.ts";
import { psnr } from "../image/metrics.ts";

const { values } = parseArgs({
  options: {
    images: { type: "string" },
    names: { type: "string", default: "F16,kodim03,peppers" },
    peak: { type: "string", default: "10" },
    size: { type: "string", default: "128" },
    channels: { type: "string", default: "32" },
    iterations: { type: "string", default: "1500" },
    engine: { type: "string", default: "cpu" },
  },
});
if (values.images === undefined) throw new Error("--images DIR is required");
const peak = Number(values.peak);
const size = Number(values.size);
const channels = Number(values.channels);
const iterations = Number(values.iterations);
const widths = Array(5).fill(channels);

console.log(
  `peak ${peak}, ${size}² centre crops, skip ${channels} channels, ${iterations} steps, seed 0`,
);
console.log("image      noisy  poisson(final/best)  denoise(final/best)");
const rows: number[][] = [];
for (const name of values.names.split(",")) {
  const full = await loadImage(join(values.images, `${name}.png`));
  const top = Math.floor((full.height - size) / 2);
  const left = Math.floor((full.width - size) / 2);
  const clean = makeImage(
    full.channels,
    size,
    size,
    cropData(full.data, full.channels, full.height, full.width, {
      top,
      left,
      bottom: full.height - size - top,
      right: full.width - size - left,
    }),
    name,
  );
  const { image: noisy } = await degradeImage(clean, { poisson: peak, seed: 1 });
  const common = {
    iterations,
    checkEvery: 50,
    net: { channelsDown: widths, channelsUp: widths },
    engine: values.engine as "cpu",
  };
  const poisson = await fitImage(
    { observation: noisy, clean },
    resolveFitOptions({ task: "poisson", peak, ...common }),
  );
  const plain = await fitImage(
    { observation: noisy, clean },
    resolveFitOptions({ task: "denoise", ...common }),
  );
  const row = [psnr(noisy, clean), poisson.psnr!, poisson.bestPsnr!, plain.psnr!, plain.bestPsnr!];
  rows.push(row);
  const f = (v: number) => v.toFixed(2);
  console.log(
    `${name.padEnd(9)} ${f(row[0]!)}  ${f(row[1]!)} / ${f(row[2]!)}        ${f(row[3]!)} / ${
      f(row[4]!)
    }`,
  );
}
const mean = (i: number) => rows.reduce((a, r) => a + r[i]!, 0) / rows.length;
console.log(
  `mean      ${mean(0).toFixed(2)}  ${mean(1).toFixed(2)} / ${mean(2).toFixed(2)}        ${
    mean(3).toFixed(2)
  } / ${mean(4).toFixed(2)}`,
);
