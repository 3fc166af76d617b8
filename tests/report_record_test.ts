/**
 * The run record (dip/record.ts): what a fit records at its checks, its previews and their
 * bound, and where it goes (meta.info.record, progress events).
 */
import { deepStrictEqual as deepEqual, equal, ok } from "node:assert/strict";
import { type Image, makeImage } from "../core/image.ts";
import type { ProgressEvent } from "../core/types.ts";
import { addGaussianNoise } from "../dip/degrade.ts";
import { type DipFitOptions, fitImage, resolveFitOptions } from "../dip/fit.ts";
import { MAX_PREVIEWS, RunRecorder } from "../dip/record.ts";
import { decodePng } from "../image/png.ts";
import { testCard } from "../image/testcard.ts";
import { dipFit } from "../ops/dip_fit.ts";

const TINY = {
  net: { channelsDown: [4, 4], channelsUp: [4, 4], channelsSkip: [2, 2] },
  inputDepth: 4,
  engine: "reference",
} as const satisfies Partial<DipFitOptions>;

function card(size = 16): Image {
  return testCard(size, size);
}

Deno.test("RunRecorder keeps at most 50 previews of a 10,000-step run, spread over it", () => {
  const recorder = new RunRecorder({
    checkEvery: 10,
    iterations: 10_000,
    ema: 0,
    fits: 1,
    previewEvery: 1,
  });
  const image = makeImage(1, 4, 4, new Float32Array(16).fill(0.5), "x");
  recorder.start();
  for (let step = 10; step <= 10_000; step += 10) {
    recorder.check(step, { loss: 1 / step, psnrObserved: 20 });
    if (recorder.wantsPreview()) recorder.preview(step, image);
  }
  return recorder.finish({ steps: 10_000, lr: 0.01, ms: 1 }).then((record) => {
    ok(record.previews.length <= MAX_PREVIEWS, `${record.previews.length} previews`);
    ok(record.previews.length >= MAX_PREVIEWS / 2, `${record.previews.length} previews`);
    ok(record.previews.at(-1)!.step >= 9_000, "the last preview is near the end");
    equal(record.checks.step.length, 1000);
    equal(record.checks.psnr, undefined, "no clean image: no psnr column");
  });
});

Deno.test("RunRecorder thins its previews when a run takes more checks than planned", async () => {
  const recorder = new RunRecorder({
    checkEvery: 1,
    iterations: 10,
    ema: 0,
    fits: 1,
    previewEvery: 1,
    maxPreviews: 4,
  });
  const image = makeImage(1, 2, 2, new Float32Array(4), "x");
  for (let step = 1; step <= 40; step++) {
    recorder.check(step, { loss: 1, psnrObserved: 1 });
    if (recorder.wantsPreview()) recorder.preview(step, image);
  }
  const record = await recorder.finish({ steps: 40, lr: 1, ms: 0 });
  ok(record.previews.length <= 4, `${record.previews.length} previews`);
});

Deno.test("a fit records loss, PSNRs, variance and previews at its checks", async () => {
  const clean = card();
  const noisy = addGaussianNoise(clean, 25, 1);
  const events: ProgressEvent[] = [];
  const fit = resolveFitOptions({
    task: "denoise",
    ...TINY,
    iterations: 12,
    checkEvery: 2,
    previewEvery: 2,
    earlyStop: { window: 3, patience: 100 },
  });
  const result = await fitImage({ observation: noisy, clean }, fit, {
    emit: (event) => events.push(event),
    name: "card",
  });
  const record = result.record;
  deepEqual(record.checks.step, [2, 4, 6, 8, 10, 12]);
  equal(record.checks.loss.length, 6);
  ok(record.checks.loss.every(Number.isFinite));
  ok(record.checks.psnrObserved.every(Number.isFinite));
  equal(record.checks.psnr?.length, 6);
  ok(record.checks.psnr!.every((v) => v !== null && Number.isFinite(v)));
  // ES-WMV: the variance exists once the window (3 steps) filled.
  equal(record.checks.variance?.[0], null);
  ok(record.checks.variance!.slice(2).every((v) => v !== null && v >= 0));
  equal(record.ema, fit.ema);
  equal(record.bestStep, result.bestStep);
  deepEqual(record.previews.map((p) => p.step), [4, 8, 12]);
  const png = decodePng(
    Uint8Array.from(atob(record.previews[0]!.png), (c) => c.charCodeAt(0)),
    "preview",
    { maxPixels: 1e6 },
  );
  equal(png.width, 16);
  ok(record.thumbnails?.clean && record.thumbnails.observed && record.thumbnails.restored);
  ok(record.thumbnails.restored.src.startsWith("data:image/jpeg;base64,"));

  const fits = events.filter((e) => e.type === "fit");
  equal(fits.length, 6);
  ok(fits.every((e) => e.type === "fit" && e.psnrObserved !== undefined));
  const previews = events.filter((e) => e.type === "preview");
  deepEqual(previews.map((e) => e.type === "preview" && e.step), [4, 8, 12]);
  const last = events.at(-1)!;
  equal(last.type, "record");
  if (last.type === "record") {
    deepEqual(last.record.checks, record.checks);
    deepEqual(last.record.previews, [], "previews came as events already");
  }
});

Deno.test("previews are off by default and the op puts the record in meta.info", async () => {
  const op = dipFit({ task: "denoise", ...TINY, iterations: 4, checkEvery: 2 });
  const image = card();
  const frame = await op.run(
    { slots: { image }, meta: { name: "card", metrics: {}, timings: {}, info: {} } },
    { emit: () => {}, outDir: ".", overwrite: true },
  );
  const record = frame.meta.info.record as Awaited<ReturnType<typeof fitImage>>["record"];
  deepEqual(record.checks.step, [2, 4]);
  deepEqual(record.previews, []);
  equal(record.checks.psnr, undefined);
  // JSON-safe: the executor writes info into the resume record as JSON.
  deepEqual(JSON.parse(JSON.stringify(record)), record);
});

Deno.test("a backtracking restore is an event of the record", async () => {
  const { RunRecorder: Recorder } = await import("../dip/record.ts");
  const recorder = new Recorder({ checkEvery: 1, iterations: 3, ema: 0, fits: 1, previewEvery: 0 });
  recorder.check(1, { loss: 1, psnrObserved: 30 });
  recorder.event(2, "backtrack");
  recorder.event(3, "retry", "lr 0.001");
  const record = await recorder.finish({ steps: 3, lr: 0.001, ms: 0 });
  deepEqual(record.events, [{ step: 2, kind: "backtrack" }, {
    step: 3,
    kind: "retry",
    detail: "lr 0.001",
  }]);
});
