/**
 * Per-image overhead of a folder run, with and without reusing the compiled trainer across
 * inputs of the same size (the run's TrainerPool). A folder of N same-size images is restored
 * with a short fit; the overhead of an input is its wall time minus the time its steps took
 * (iterations × msPerStep as the fit measured it): trainer creation (wasm workers or WebGPU
 * pipelines), arena allocation, and everything around the fit.
 *
 * ```sh
 * deno task bench:reuse --engine cpu --images 20 --size 64 --iterations 20
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { degradeImage } from "../dip/degrade.ts";
import { saveImage } from "../image/save.ts";
import { testCard } from "../image/testcard.ts";
import { pipeline } from "../pipeline/dsl.ts";
import type { RunSummary } from "../pipeline/executor.ts";

const { values } = parseArgs({
  options: {
    engine: { type: "string", default: "cpu" },
    images: { type: "string", default: "20" },
    size: { type: "string", default: "64" },
    iterations: { type: "string", default: "20" },
    channels: { type: "string", default: "32" },
    json: { type: "boolean", default: false },
  },
});
const engine = values.engine as "cpu" | "webgpu" | "reference" | "auto";
const images = Number(values.images);
const size = Number(values.size);
const iterations = Number(values.iterations);
const channels = Number(values.channels);

const dir = await Deno.makeTempDir({ prefix: "dipline-bench-reuse-" });
const inputs = join(dir, "in");
await Deno.mkdir(inputs);
try {
  for (let i = 0; i < images; i++) {
    const { image } = await degradeImage(testCard(size, size), { noise: 25, seed: i });
    await saveImage(image, join(inputs, `img${String(i).padStart(2, "0")}.png`));
  }
  const widths = [channels, channels, channels, channels, channels];
  const recipe = pipeline()
    .dipFit({
      task: "denoise",
      iterations,
      checkEvery: iterations,
      net: { channelsDown: widths, channelsUp: widths },
    })
    .save("{name}.png");

  const measure = async (reuse: boolean) => {
    const out = await Deno.makeTempDir({ dir, prefix: "out-" });
    const t0 = performance.now();
    const summary: RunSummary = await recipe.run({ input: inputs, outDir: out, engine, reuse });
    const wall = performance.now() - t0;
    if (summary.failed.length > 0) throw new Error(summary.failed[0]!.error);
    const fitMs = summary.done.reduce(
      (sum, r) => sum + (r.info.iterations as number) * (r.info.msPerStep as number),
      0,
    );
    const perImage = wall / summary.done.length;
    const overhead = (wall - fitMs) / summary.done.length;
    const firstOverhead = (summary.done[0]!.timings.dipFit ?? 0) -
      (summary.done[0]!.info.iterations as number) * (summary.done[0]!.info.msPerStep as number);
    return {
      reuse,
      images: summary.done.length,
      wallMs: wall,
      perImageMs: perImage,
      overheadMs: overhead,
      firstOverheadMs: firstOverhead,
      adapter: summary.done[0]!.info.adapter,
    };
  };
  // Alternate so that neither side always runs on a warmer machine.
  const rows = [];
  for (const reuse of [false, true, false, true]) rows.push(await measure(reuse));
  if (values.json) console.log(JSON.stringify(rows));
  else {
    console.log(
      `${images} images ${size}×${size}, denoise ${channels} channels, ${iterations} steps each, engine ${engine} (${
        rows[0]!.adapter
      })`,
    );
    console.log("reuse  wall s  per image ms  overhead/image ms  first input overhead ms");
    for (const r of rows) {
      console.log(
        `${String(r.reuse).padEnd(5)}  ${(r.wallMs / 1000).toFixed(2).padStart(6)}  ${
          r.perImageMs.toFixed(0).padStart(12)
        }  ${r.overheadMs.toFixed(0).padStart(17)}  ${r.firstOverheadMs.toFixed(0).padStart(23)}`,
      );
    }
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
