import { deepStrictEqual as deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import type { StepScalars, Trainer } from "../engine/backend.ts";
import type { Plan } from "../engine/plan.ts";
import { ReferenceTrainer } from "../engine/reference.ts";
import { average } from "../ops/average.ts";
import { WindowedVariance } from "../dip/early_stop.ts";
import { addGaussianNoise } from "../dip/degrade.ts";
import { dipFit } from "../ops/dip_fit.ts";
import { type DipFitOptions, type FitHooks, fitImage, resolveFitOptions } from "../dip/fit.ts";
import { type Image, makeImage } from "../core/image.ts";
import { psnr } from "../image/metrics.ts";
import { saveImage } from "../image/save.ts";
import { compileSteps } from "../core/graph.ts";
import type { Frame, OpContext, ProgressEvent } from "../core/types.ts";

/** A 2-level skip net with a few channels: sizeMultiple 4, fast on the reference engine. */
const TINY = {
  net: { channelsDown: [4, 4], channelsUp: [4, 4], channelsSkip: [2, 2] },
  inputDepth: 4,
  engine: "reference",
  checkEvery: 1,
} as const satisfies Partial<DipFitOptions>;

/** A smooth generated image: gradients plus a soft disc (deterministic). */
function smoothImage(channels: 1 | 3, height: number, width: number, name = "card"): Image {
  const data = new Float32Array(channels * height * width);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const disc = Math.hypot(y - height / 2, x - width / 2) < Math.min(height, width) / 3
          ? 0.3
          : 0;
        data[(c * height + y) * width + x] = 0.2 + 0.4 * (x / width) * (1 - c * 0.2) +
          0.2 * (y / height) +
          disc;
      }
    }
  }
  return makeImage(channels, height, width, data, name);
}

function frameOf(slots: Record<string, Image>): Frame {
  return { slots, meta: { name: "card", metrics: {}, timings: {}, info: {} } };
}

function context(events: ProgressEvent[] = []): OpContext {
  return { emit: (event) => events.push(event), outDir: ".", overwrite: true };
}

// ---- options and presets ------------------------------------------------------------------

Deno.test("resolveFitOptions() applies each task's reference preset", () => {
  const denoise = resolveFitOptions({ task: "denoise" });
  deepEqual(
    [
      denoise.preset,
      denoise.iterations,
      denoise.lr,
      denoise.ema,
      denoise.backtracking,
      denoise.inputDepth,
    ],
    ["denoise", 3000, 0.01, 0.99, true, 32],
  );
  equal(denoise.regNoise, 1 / 30);
  deepEqual(denoise.net.channelsSkip, [4, 4, 4, 4, 4]);
  const sr8 = resolveFitOptions({ task: "sr", factor: 8 });
  deepEqual([sr8.preset, sr8.factor, sr8.regNoise, sr8.iterations, sr8.ema], [
    "sr8",
    8,
    0.05,
    4000,
    0,
  ]);
  const sr = resolveFitOptions({ task: "sr" });
  deepEqual([sr.preset, sr.factor, sr.regNoise, sr.iterations], ["sr4", 4, 0.03, 2000]);
  const inpaint = resolveFitOptions({ task: "inpaint" });
  deepEqual([inpaint.iterations, inpaint.net.upsampleMode], [6001, "nearest"]);
  deepEqual(inpaint.net.channelsSkip, [128, 128, 128, 128, 128]);
  const barbara = resolveFitOptions({ task: "inpaint", preset: "inpaint-bernoulli" });
  deepEqual([barbara.lr, barbara.iterations], [0.001, 11000]);
  const jpeg = resolveFitOptions({ task: "jpeg" });
  deepEqual([jpeg.inputDepth, jpeg.iterations], [3, 2400]);
  deepEqual(jpeg.net.channelsSkip, [0, 0, 0, 4, 4]);
  const flash = resolveFitOptions({ task: "flash" });
  deepEqual([flash.input, flash.lr, flash.iterations, flash.regNoise], ["image", 0.1, 601, 0]);
  deepEqual(flash.net.upsampleMode, ["nearest", "nearest", "bilinear", "bilinear", "bilinear"]);
});

Deno.test("resolveFitOptions() lets the user override any field of the preset", () => {
  const fit = resolveFitOptions({
    task: "denoise",
    iterations: 10,
    lr: 0.02,
    ema: 0,
    backtracking: false,
    regNoise: 0,
    net: { channelsDown: [8, 8] },
    earlyStop: { patience: 50 },
  });
  deepEqual([fit.iterations, fit.lr, fit.ema, fit.backtracking, fit.regNoise], [
    10,
    0.02,
    0,
    false,
    0,
  ]);
  deepEqual(fit.net.channelsDown, [8, 8]);
  deepEqual(fit.net.upsampleMode, "bilinear"); // the rest of the preset stays
  deepEqual(fit.net.channelsSkip, [4, 4]); // per-level lists follow the new level count
  const flash = resolveFitOptions({ task: "flash", net: { channelsDown: [8, 8, 8, 8, 8, 8] } });
  deepEqual(flash.net.upsampleMode, [
    "nearest",
    "nearest",
    "bilinear",
    "bilinear",
    "bilinear",
    "bilinear",
  ]);
  // earlyStop's default rule (dip/stopping.ts) with the patience given
  deepEqual(fit.earlyStop, { rule: "holdout", patience: 50, holdout: 0.05 });
  // another arch keeps only the preset options it understands
  const hourglass = resolveFitOptions({ task: "denoise", arch: "hourglass" });
  equal(hourglass.net.channelsSkip, undefined);
  deepEqual(hourglass.net.channelsDown, [128, 128, 128, 128, 128]);
  deepEqual(resolveFitOptions({ task: "denoise", arch: "resnet" }).net, { pad: "reflection" });
});

Deno.test("resolveFitOptions() refuses unknown and out-of-range options with a clear message", () => {
  throws(
    () => resolveFitOptions({ task: "denoise", iteration: 5 } as unknown as DipFitOptions),
    /dipFit\(\): Unknown option "iteration" \(expected one of task, preset/,
  );
  throws(
    () => resolveFitOptions({ task: "denoise", net: { channelz: 3 } as never }),
    /Unknown net option "channelz" for arch "skip"/,
  );
  throws(
    () => resolveFitOptions({ task: "dehaze" as never }),
    /Expected one of "denoise", "jpeg", "sr", "inpaint", "flash", "deblur", "poisson" for task but received "dehaze"/,
  );
  throws(
    () => resolveFitOptions({ task: "sr", factor: 3 as 4 }),
    /Expected 2, 4 or 8 for factor but received 3/,
  );
  throws(
    () => resolveFitOptions({ task: "denoise", factor: 2 }),
    /factor applies to task "sr" only/,
  );
  throws(() => resolveFitOptions({ task: "sr", preset: "denoise" }), /preset of task "sr"/);
  throws(
    () => resolveFitOptions({ task: "denoise", iterations: -2 }),
    /Expected integer ≥ 1 for iterations but received -2 of type number/,
  );
  throws(
    () => resolveFitOptions({ task: "denoise", input: "image" }),
    /needs a task with a guide image/,
  );
});

// ---- the loop with a scripted trainer ------------------------------------------------------

interface Script {
  psnrObserved?: (check: number) => number;
  wmvArgmin?: (stepsRun: number) => number;
}

/** A trainer that runs nothing: it scripts the scalars and records the calls it gets. */
function scriptedTrainer(script: Script, calls: string[]): FitHooks["createTrainer"] {
  return (plan: Plan) => {
    let steps = 0;
    let checks = 0;
    const outSize = plan.batch * plan.io.output.c * plan.height * plan.width;
    const trainer: Trainer = {
      plan,
      engine: "reference",
      adapter: "scripted",
      reset: () => Promise.resolve(),
      upload: (name) => void calls.push(`upload ${name}`),
      setNoiseSeeds: () => {},
      run: (count) => void (steps += count),
      readScalars(): Promise<StepScalars> {
        const check = checks++;
        const fill = (v: number) => new Float32Array(plan.batch).fill(v);
        return Promise.resolve({
          step: steps,
          loss: fill(0.01),
          psnrObserved: fill(script.psnrObserved?.(check) ?? 20),
          ...(script.wmvArgmin
            ? { wmvMin: fill(0.001), wmvArgmin: fill(script.wmvArgmin(steps)) }
            : {}),
        });
      },
      read: (name) => {
        calls.push(`read ${name}@${steps}`);
        return Promise.resolve(new Float32Array(outSize).fill(name === "best" ? 0.25 : 0.5));
      },
      snapshot: () => void calls.push(`snapshot@${steps}`),
      restore: () => void calls.push(`restore@${steps}`),
      evaluate: () => Promise.resolve(new Float32Array(outSize)),
      dispose: () => {},
    };
    return Promise.resolve(trainer);
  };
}

Deno.test("backtracking restores the last snapshot when the observed PSNR drops by more than 5 dB", async () => {
  const calls: string[] = [];
  // PSNR per check: 20, 22, 15 (a 7 dB collapse), 21
  const psnrs = [20, 22, 15, 21];
  const fit = resolveFitOptions({
    task: "denoise",
    ...TINY,
    iterations: 40,
    checkEvery: 10,
    backtracking: true,
  });
  const result = await fitImage(
    { observation: smoothImage(3, 8, 8) },
    fit,
    { createTrainer: scriptedTrainer({ psnrObserved: (i) => psnrs[i]! }, calls) },
  );
  const decisions = calls.filter((c) => c.startsWith("snapshot") || c.startsWith("restore"));
  // snapshot@0: the initial parameters, the state a blow-up can always return to
  deepEqual(decisions, ["snapshot@0", "snapshot@10", "snapshot@20", "restore@30", "snapshot@40"]);
  equal(result.restores, 1);
  equal(result.iterations, 40);
});

Deno.test("without backtracking the loop never restores on a PSNR drop (it still snapshots finite checks)", async () => {
  const calls: string[] = [];
  const fit = resolveFitOptions({
    task: "denoise",
    ...TINY,
    iterations: 20,
    checkEvery: 10,
    backtracking: false,
  });
  await fitImage({ observation: smoothImage(1, 8, 8) }, fit, {
    createTrainer: scriptedTrainer({ psnrObserved: (i) => [20, 5][i]! }, calls),
  });
  deepEqual(calls.filter((c) => c.startsWith("snapshot") || c.startsWith("restore")), [
    "snapshot@0",
    "snapshot@10",
    "snapshot@20",
  ]);
});

Deno.test("ES-WMV stops once the variance minimum is older than the patience and returns the output there", async () => {
  const calls: string[] = [];
  const fit = resolveFitOptions({
    task: "denoise",
    ...TINY,
    iterations: 500,
    checkEvery: 5,
    backtracking: false,
    earlyStop: { window: 3, patience: 40 },
  });
  // The minimum variance is reached at step 23 and never improves afterwards.
  const result = await fitImage({ observation: smoothImage(3, 8, 8) }, fit, {
    createTrainer: scriptedTrainer({ wmvArgmin: (steps) => (steps <= 23 ? steps - 1 : 23) }, calls),
  });
  // 23 + 40 = step 63 is the first that is patience steps later; checks fall every 5 steps → 65
  equal(result.stopStep, 65);
  equal(result.iterations, 65);
  equal(result.wmvArgmin, 23);
  ok(calls.includes("read best@65"), calls.join(", "));
  ok(result.image.data.every((v) => v === 0.25)); // the "best" buffer, not the last output
});

Deno.test("an automatic batch the engine cannot hold is halved until it fits", async () => {
  const calls: string[] = [];
  const batches: number[] = [];
  const scripted = scriptedTrainer({}, calls)!;
  const fit = resolveFitOptions({ task: "denoise", ...TINY, iterations: 2, runs: 3 });
  const result = await fitImage({ observation: smoothImage(1, 8, 8) }, fit, {
    createTrainer: (plan, options) => {
      batches.push(plan.batch);
      if (plan.batch > 1) return Promise.reject(new Error("out of device memory"));
      return scripted(plan, options);
    },
  });
  deepEqual(batches, [3, 2, 1, 1, 1]);
  equal(result.runs.length, 3);
  // an explicit batch is the user's word: no retry
  await rejects(
    fitImage(
      { observation: smoothImage(1, 8, 8) },
      resolveFitOptions({ task: "denoise", ...TINY, iterations: 2, runs: 3, batch: 2 }),
      {
        createTrainer: () => Promise.reject(new Error("out of device memory")),
      },
    ),
    /out of device memory/,
  );
});

// ---- the op and average ---------------------------------------------------------------------

Deno.test("average() replaces the preceding dipFit by one batched fit with runs seeds", () => {
  const graph = compileSteps([
    dipFit({ task: "denoise", seed: 7, iterations: 5 }),
    average({ runs: 3 }),
  ]);
  equal(graph.nodes.length, 1);
  const op = graph.nodes[0]!.op;
  equal(op.kind, "dipFit");
  deepEqual(op.params, { task: "denoise", seed: 7, iterations: 5, runs: 3 });
  throws(
    () => compileSteps([average({ runs: 2 })]),
    /average\(\) must follow dipFit\(\) but follows nothing/,
  );
  throws(
    () => average({ runs: 0 }),
    /average\(\): Expected integer ≥ 1 for runs but received 0 of type number/,
  );
  throws(() => average({ runs: 2, seeds: 3 } as never), /Unknown option "seeds"/);
});

Deno.test("dipFit() declares the slots each task reads", () => {
  deepEqual(dipFit({ task: "denoise" }).reads, ["image"]);
  deepEqual(dipFit({ task: "inpaint" }).reads, ["image", "mask"]);
  deepEqual(dipFit({ task: "inpaint", mask: "m.png" }).reads, ["image"]);
  deepEqual(dipFit({ task: "flash" }).reads, ["image", "guide"]);
  throws(() => dipFit({ task: "denoise", guide: "f.png" }), /guide applies to task "flash" only/);
  deepEqual(dipFit({ task: "sr" }).writes, ["image"]);
});

Deno.test("the fit loop reports progress and the PSNR of the result against a reference", async () => {
  const calls: string[] = [];
  const clean = smoothImage(3, 8, 8);
  const fit = resolveFitOptions({ task: "denoise", ...TINY, iterations: 4, checkEvery: 2 });
  const events: ProgressEvent[] = [];
  const result = await fitImage({ observation: clean, clean }, fit, {
    createTrainer: scriptedTrainer({}, calls),
    emit: (e) => events.push(e),
    name: "card",
  });
  deepEqual(events.map((e) => (e.type === "fit" ? [e.name, e.step, e.total] : [e.type])), [
    ["card", 2, 4],
    ["card", 4, 4],
    ["record"], // the run's record (dip/record.ts) ends the fit's events
  ]);
  // the scripted EMA buffer is 0.5 everywhere, so the PSNR is known in closed form
  let mse = 0;
  for (const v of clean.data) mse += (v - 0.5) ** 2;
  mse /= clean.data.length;
  ok(Math.abs(result.psnr! - 10 * Math.log10(1 / mse)) < 1e-3);
  ok(calls.includes("read ema@4"));
});

// ---- real fits on the reference engine (tiny nets, tiny odd-sized images) --------------------

Deno.test("every task restores to exactly the input size (odd sizes, gray and RGB)", async () => {
  const cases: {
    options: DipFitOptions;
    slots: Record<string, Image>;
    size: [number, number, number];
  }[] = [
    { options: { task: "denoise" }, slots: { image: smoothImage(3, 9, 11) }, size: [3, 9, 11] },
    { options: { task: "jpeg" }, slots: { image: smoothImage(1, 7, 5) }, size: [1, 7, 5] },
    // SR: the LR observation is 5×7, the output ×2
    {
      options: { task: "sr", factor: 2 },
      slots: { image: smoothImage(1, 5, 7) },
      size: [1, 10, 14],
    },
    {
      options: { task: "inpaint" },
      slots: {
        image: smoothImage(3, 9, 7),
        mask: makeImage(1, 9, 7, new Float32Array(63).map((_, i) => (i % 3 === 0 ? 0 : 1))),
      },
      size: [3, 9, 7],
    },
    {
      options: { task: "flash" },
      slots: { image: smoothImage(3, 6, 9, "noflash"), guide: smoothImage(3, 6, 9, "flash") },
      size: [3, 6, 9],
    },
  ];
  for (const { options, slots, size } of cases) {
    const op = dipFit({ ...options, ...TINY, iterations: 2 } as DipFitOptions);
    const frame = await op.run(frameOf(slots), context());
    const image = frame.slots.image!;
    deepEqual([image.channels, image.height, image.width], size, options.task);
    ok(image.data.every((v) => Number.isFinite(v) && v >= 0 && v <= 1), options.task);
    deepEqual([frame.meta.info.iterations, frame.meta.info.engine], [2, "reference"]);
    for (const [name, slot] of Object.entries(slots)) {
      if (name !== "image") equal(frame.slots[name], slot); // other slots are kept
    }
  }
});

Deno.test("every architecture and input kind fits an odd-sized image to its exact size", async () => {
  const observation = smoothImage(3, 9, 11);
  const variants: Partial<DipFitOptions>[] = [
    { arch: "hourglass", net: { channelsDown: [4, 4], channelsUp: [4, 4] } },
    { arch: "resnet", net: { blocks: 1, channels: 4 } },
    { arch: "deep-decoder", net: { channels: 4, upsamplings: 2 } },
    { input: "meshgrid", net: { channelsDown: [4, 4], channelsUp: [4, 4], channelsSkip: [0, 0] } },
  ];
  for (const variant of variants) {
    const fit = resolveFitOptions({
      task: "denoise",
      engine: "reference",
      iterations: 2,
      ...variant,
    } as DipFitOptions);
    const result = await fitImage({ observation }, fit);
    const label = String(variant.arch ?? variant.input);
    deepEqual([result.image.channels, result.image.height, result.image.width], [3, 9, 11], label);
    ok(result.image.data.every((v) => v >= 0 && v <= 1), label);
  }
});

Deno.test("inpainting and flash read their mask and guide from files named after the input", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await saveImage(
      makeImage(1, 6, 6, new Float32Array(36).map((_, i) => (i < 18 ? 1 : 0))),
      `${dir}/card_mask.png`,
    );
    await saveImage(smoothImage(3, 6, 6), `${dir}/card_flash.png`);
    const flash = dipFit({
      task: "flash",
      guide: `${dir}/{name}_flash.png`,
      ...TINY,
      iterations: 1,
    });
    deepEqual(flash.reads, ["image"]);
    const lit = await flash.run(frameOf({ image: smoothImage(3, 6, 6) }), context());
    deepEqual([lit.slots.image!.height, lit.slots.image!.width], [6, 6]);
    const op = dipFit({ task: "inpaint", mask: `${dir}/{name}_mask.png`, ...TINY, iterations: 1 });
    const frame = await op.run(frameOf({ image: smoothImage(1, 6, 6) }), context());
    deepEqual([frame.slots.image!.height, frame.slots.image!.width], [6, 6]);
    await rejects(
      dipFit({ task: "inpaint", mask: `${dir}/absent.png`, ...TINY, iterations: 1 }).run(
        frameOf({ image: smoothImage(1, 6, 6) }),
        context(),
      ),
      /absent\.png/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("average of n runs equals the mean of the n single fits with those seeds", async () => {
  const observation = smoothImage(3, 8, 8);
  const base = { task: "denoise", ...TINY, iterations: 3, seed: 11 } as const;
  const averaged = await fitImage({ observation }, resolveFitOptions({ ...base, runs: 2 }));
  const first = await fitImage({ observation }, resolveFitOptions({ ...base, seed: 11 }));
  const second = await fitImage({ observation }, resolveFitOptions({ ...base, seed: 12 }));
  equal(averaged.runs.length, 2);
  let differs = false;
  for (let i = 0; i < observation.data.length; i++) {
    const mean = (first.image.data[i]! + second.image.data[i]!) / 2;
    ok(Math.abs(averaged.image.data[i]! - mean) < 1e-5, `pixel ${i}`);
    differs ||= Math.abs(first.image.data[i]! - second.image.data[i]!) > 1e-4;
  }
  ok(differs, "two seeds should give two different fits");
  // batching one at a time gives the same average
  const sequential = await fitImage(
    { observation },
    resolveFitOptions({ ...base, runs: 2, batch: 1 }),
  );
  for (let i = 0; i < observation.data.length; i++) {
    ok(Math.abs(sequential.image.data[i]! - averaged.image.data[i]!) < 1e-5);
  }
});

Deno.test("backtracking on the reference engine puts back the parameters of the last snapshot", async () => {
  const observation = smoothImage(1, 8, 8);
  const fit = resolveFitOptions({
    task: "denoise",
    ...TINY,
    iterations: 8,
    checkEvery: 2,
    backtracking: true,
  });
  const events: string[] = [];
  let checks = 0;
  const result = await fitImage({ observation }, fit, {
    createTrainer: async (plan) => {
      const trainer = new ReferenceTrainer(plan);
      let snapshot: Float32Array | undefined;
      const { snapshot: take, restore, readScalars } = trainer;
      trainer.snapshot = () => {
        take.call(trainer);
        snapshot = trainer.arenas.param.slice();
        events.push("snapshot");
      };
      trainer.restore = () => {
        const before = trainer.arenas.param.slice();
        restore.call(trainer);
        const back = trainer.arenas.param.every((v, i) => v === snapshot![i]);
        const moved = before.some((v, i) => v !== snapshot![i]);
        events.push(`restore ${back && moved ? "to the snapshot" : "wrong"}`);
      };
      // The third check reports a 30 dB collapse of the observed PSNR.
      trainer.readScalars = async () => {
        const s = await readScalars.call(trainer);
        if (checks++ === 2) s.psnrObserved[0] = s.psnrObserved[0]! - 30;
        return s;
      };
      return await Promise.resolve(trainer);
    },
  });
  // the initial parameters are snapshotted at step 0 (a diverged fit can always go back there)
  deepEqual(events, ["snapshot", "snapshot", "snapshot", "restore to the snapshot", "snapshot"]);
  equal(result.restores, 1);
});

Deno.test("ES-WMV on the reference engine agrees with the CPU windowed variance", async () => {
  const observation = smoothImage(1, 8, 8); // no padding: the output is the image itself
  const fit = resolveFitOptions({
    task: "denoise",
    ...TINY,
    iterations: 40,
    checkEvery: 1,
    lr: 0.05,
    ema: 0,
    backtracking: false,
    earlyStop: { window: 4, patience: 6 },
  });
  const cpu = new WindowedVariance(4, observation.data.length);
  let stepsSeen = 0;
  const result = await fitImage({ observation }, fit, {
    createTrainer: async (plan) => {
      const trainer = new ReferenceTrainer(plan);
      const { readScalars } = trainer;
      trainer.readScalars = async () => {
        cpu.push(await trainer.read("output")); // checkEvery 1: every step's output
        stepsSeen++;
        return await readScalars.call(trainer);
      };
      return await Promise.resolve(trainer);
    },
  });
  equal(result.wmvArgmin, cpu.argmin);
  // the fit stopped early, patience steps after the minimum (the loop checks every step here)
  ok(result.stopStep !== undefined && result.stopStep < 40, `stopStep ${result.stopStep}`);
  equal(result.stopStep, cpu.argmin + 6 + 1);
  equal(stepsSeen, result.stopStep);
  ok(cpu.argmin >= 3);
  for (let i = 0; i < cpu.best.length; i++) {
    ok(Math.abs(result.image.data[i]! - cpu.best[i]!) < 1e-6);
  }
});

Deno.test("a short denoising fit beats the noisy input on a generated image", async () => {
  const clean = smoothImage(3, 16, 16);
  const noisy = addGaussianNoise(clean, 50, 1);
  const fit = resolveFitOptions({
    task: "denoise",
    ...TINY,
    iterations: 60,
    checkEvery: 20,
    ema: 0,
  });
  const result = await fitImage({ observation: noisy, clean }, fit);
  const before = psnr(noisy, clean);
  ok(result.psnr! > before + 5, `PSNR ${result.psnr} vs noisy ${before}`);
  ok(result.bestPsnr! >= result.psnr!);
});
