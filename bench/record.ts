/**
 * What recording a fit's run costs (dip/record.ts), against the step it rides on: the cpu
 * engine at 128² (issue 12: ≤ 2 % of a step).
 *
 * 1. The parts, timed alone: a check (five numbers appended), a preview (crop, shrink to
 *    128 px, PNG), the end-of-run thumbnails (three 80 px JPEGs).
 * 2. End to end: the same fit with previews off and with a preview at every check, the worst
 *    case (the service's default is about 40 per run), alternated, median ms/step.
 *
 * ```sh
 * flock /tmp/dipline-cpu.lock deno run -A bench/record.ts [--size 128] [--channels 32] [--steps 300] [--json]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { makeImage } from "../core/image.ts";
import { addGaussianNoise } from "../dip/degrade.ts";
import { fitImage, resolveFitOptions } from "../dip/fit.ts";
import { RunRecorder } from "../dip/record.ts";
import { channelsOverride } from "../dip/tasks.ts";
import { testCard } from "../image/testcard.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    size: { type: "string", default: "128" },
    channels: { type: "string", default: "32" },
    steps: { type: "string", default: "300" },
    "check-every": { type: "string", default: "50" },
    repeat: { type: "string", default: "2" },
    json: { type: "boolean", default: false },
  },
});
const size = Number(values.size);
const channels = Number(values.channels);
const steps = Number(values.steps);
const checkEvery = Number(values["check-every"]);
const repeat = Number(values.repeat);

function timeMs(run: () => void, times: number): number {
  const t0 = performance.now();
  for (let i = 0; i < times; i++) run();
  return (performance.now() - t0) / times;
}

// 1. The parts.
const clean = testCard(size, size);
const noisy = addGaussianNoise(clean, 25, 1);
const recorder = new RunRecorder({
  checkEvery,
  iterations: 1e9,
  ema: 0.99,
  fits: 1,
  previewEvery: 1,
  maxPreviews: 1e9,
});
let step = 0;
const checkMs = timeMs(() => {
  step += checkEvery;
  recorder.check(step, { loss: 0.01, psnrObserved: 20, psnr: 28, variance: 1e-4 });
}, 100_000);
const output = makeImage(3, size, size, new Float32Array(noisy.data), "card");
const previewMs = timeMs(() => recorder.preview(step, output), 20);
const t0 = performance.now();
await recorder.finish({
  steps: 3000,
  lr: 0.01,
  ms: 0,
  images: { observed: noisy, restored: clean, clean },
});
const finishMs = performance.now() - t0;

// 2. End to end on the cpu engine.
const base = resolveFitOptions({ task: "denoise" });
async function msPerStep(previewEvery: number): Promise<number> {
  const fit = resolveFitOptions({
    task: "denoise",
    engine: "cpu",
    iterations: steps,
    checkEvery,
    previewEvery,
    net: channelsOverride(base.arch, base.net, channels),
  });
  const result = await fitImage({ observation: noisy, clean }, fit, { emit: () => {} });
  return result.msPerStep;
}
await msPerStep(0); // warm-up: compile, wasm, threads
const off: number[] = [];
const on: number[] = [];
for (let r = 0; r < repeat; r++) {
  off.push(await msPerStep(0));
  on.push(await msPerStep(1));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const stepMs = median(off);
// Per step, at the default check interval: a check's record, a preview at every check (the
// worst case) and the thumbnails once per 3000-step run.
const perStep = (checkMs + previewMs) / checkEvery + finishMs / 3000;
const result = {
  size,
  channels,
  checkEvery,
  stepMs: +stepMs.toFixed(2),
  checkUs: +(checkMs * 1000).toFixed(3),
  previewMs: +previewMs.toFixed(3),
  thumbnailsMs: +finishMs.toFixed(2),
  partsPerStepMs: +perStep.toFixed(4),
  partsPercent: +((100 * perStep) / stepMs).toFixed(3),
  endToEnd: {
    previewsOffMsPerStep: off.map((v) => +v.toFixed(2)),
    previewEveryCheckMsPerStep: on.map((v) => +v.toFixed(2)),
    percent: +((100 * (median(on) - stepMs)) / stepMs).toFixed(2),
  },
};
if (values.json) console.log(JSON.stringify(result));
else {
  console.log(
    `cpu engine, ${channels} channels, ${size}²: ${result.stepMs} ms/step (check every ${checkEvery})\n` +
      `record a check: ${result.checkUs} µs · a preview: ${result.previewMs} ms · ` +
      `thumbnails at the end: ${result.thumbnailsMs} ms\n` +
      `per step (a preview at every check): ${result.partsPerStepMs} ms = ${result.partsPercent} % of a step\n` +
      `end to end, previews off vs at every check: ${off.join(", ")} vs ${
        on.join(", ")
      } ms/step (${result.endToEnd.percent} %, run-to-run noise included)`,
  );
}
