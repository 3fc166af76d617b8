import { deepStrictEqual as deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import { type Image, makeImage } from "../core/image.ts";
import type { Frame, OpContext } from "../core/types.ts";
import { addGaussianNoise } from "../dip/degrade.ts";
import { fitImage, resolveFitOptions } from "../dip/fit.ts";
import {
  CheckRule,
  checkRule,
  CheckWindowVariance,
  DEFAULT_STOP_RULE,
  defaultStopRule,
  describeEarlyStop,
  holdoutMask,
  maskedMse,
  MinimumTracker,
  MovingVariance,
  stopsByDefault,
  TASK_STOPPING,
} from "../dip/stopping.ts";
import type { DipFitOptions } from "../dip/options.ts";
import { shortcutCommand } from "../cli/shortcuts.ts";
import { psnr } from "../image/metrics.ts";
import { dipFit } from "../ops/dip_fit.ts";
import { holdoutRule, replayMinimum, smooth } from "../bench/stopping/rules.ts";
import type { Trace } from "../bench/stopping/trace.ts";

/** A 2-level skip net with a few channels: fast on the cpu engine at 16². */
const TINY = {
  net: { channelsDown: [4, 4], channelsUp: [4, 4], channelsSkip: [2, 2] },
  inputDepth: 4,
  engine: "cpu",
  threads: 1,
  checkEvery: 5,
} as const;

function card(channels: 1 | 3, size: number): Image {
  const data = new Float32Array(channels * size * size);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        data[(c * size + y) * size + x] = 0.2 + 0.5 * (x / size) + 0.2 * (y / size) +
          (Math.hypot(x - size / 2, y - size / 2) < size / 4 ? 0.1 * (c + 1) : 0);
      }
    }
  }
  return makeImage(channels, size, size, data, "card");
}

function sameData(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

// ---- the pieces ------------------------------------------------------------------------------

Deno.test("holdoutMask() draws the fraction of the known pixels, the same for the same seed", () => {
  const known = new Float32Array(100).map((_, i) => (i % 2 === 0 ? 1 : 0));
  const held = holdoutMask(10, 10, 0.2, 7, known);
  equal(held.reduce((a, b) => a + b, 0), 10); // 20 % of the 50 known pixels
  ok(held.every((h, i) => h === 0 || known[i] === 1), "only known pixels are held out");
  deepEqual(holdoutMask(10, 10, 0.2, 7, known), held);
  ok(holdoutMask(10, 10, 0.2, 8, known).some((h, i) => h !== held[i]), "another seed differs");
  equal(holdoutMask(4, 4, 0.01, 0).reduce((a, b) => a + b, 0), 1); // at least one pixel
  throws(() => holdoutMask(4, 4, 0, 0), /expected a holdout fraction in \(0, 1\) but received 0/);
});

Deno.test("maskedMse() averages squared errors over the weighted pixels and channels", () => {
  const prediction = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]); // 2 channels × 4 pixels
  const target = new Float32Array(8);
  const weight = new Float32Array([1, 0, 0, 1]);
  equal(maskedMse(prediction, target, weight, 2), (1 + 16 + 25 + 64) / 4);
  ok(Number.isNaN(maskedMse(prediction, target, new Float32Array(4), 2)));
});

Deno.test("MinimumTracker stops once the minimum is patience steps old", () => {
  const tracker = new MinimumTracker();
  equal(tracker.shouldStop(100, 10), false); // nothing seen yet
  for (const [step, value] of [[10, 5], [20, 3], [30, 4], [40, 3.5]] as const) {
    tracker.observe(step, value);
  }
  deepEqual([tracker.argmin, tracker.min], [20, 3]);
  equal(tracker.shouldStop(29, 10), false);
  equal(tracker.shouldStop(30, 10), true);
  equal(tracker.observe(50, Number.NaN), false); // NaN is never a minimum
});

Deno.test("CheckWindowVariance and MovingVariance are zero on a constant output and grow with jitter", () => {
  const wv = new CheckWindowVariance(3);
  ok(Number.isNaN(wv.push(new Float32Array([1, 1]))));
  wv.push(new Float32Array([1, 1]));
  equal(wv.push(new Float32Array([1, 1])), 0);
  equal(wv.push(new Float32Array([1, 4])), 1); // {1, 1, 4} over one of two values: 6/3/2
  const emv = new MovingVariance(0.5);
  for (let i = 0; i < 3; i++) emv.push(new Float32Array([2]));
  equal(emv.push(new Float32Array([2])), 0);
  ok(emv.push(new Float32Array([3])) > 0);
});

Deno.test("CheckRule keeps each fit's output at its own minimum and stops when all are old", () => {
  // Two fits of 1 value; each scores its output value itself.
  const rule = new CheckRule("holdout", [(x) => x[0]!, (x) => x[0]!], 1, 20);
  const outputs = [[5, 9], [3, 8], [4, 2], [6, 7]];
  outputs.forEach((pair, i) => rule.observe((i + 1) * 10, new Float32Array(pair)));
  deepEqual(rule.chosenSteps, [20, 30]);
  deepEqual(Array.from(rule.chosen()!), [3, 2]);
  equal(rule.shouldStop(40), false); // fit 2's minimum is 10 steps old
  equal(rule.shouldStop(50), true);
});

Deno.test("the holdout rule scores the operator's prediction on the held-out pixels only", () => {
  const target = new Float32Array([0, 0, 0, 0]);
  const held = new Float32Array([0, 1, 0, 0]);
  const rule = checkRule("holdout", {
    fits: 1,
    outSize: 4,
    patience: 10,
    checkEvery: 5,
    window: 10,
    holdout: { target, channels: 1, held, apply: (x) => x.map((v) => 2 * v) },
  });
  rule.observe(5, new Float32Array([9, 1, 9, 9]));
  deepEqual(rule.last, [4]); // (2 · 1)²: the other pixels do not count
});

Deno.test("replayMinimum() matches the fit loop's decision and smooth() needs a full window", () => {
  const steps = [10, 20, 30, 40, 50, 60];
  deepEqual(replayMinimum(steps, [5, 3, 4, 4, 4, 4], () => 30), { index: 1, stopStep: 50 });
  deepEqual(replayMinimum(steps, [5, 4, 3, 2, 1, 0], () => 30), { index: 5, stopStep: 60 });
  // relative patience: the minimum at 20 waits max(10, 2 · 20) = 40 steps
  deepEqual(replayMinimum(steps, [5, 3, 4, 4, 4, 4], (a) => Math.max(10, 2 * a)), {
    index: 1,
    stopStep: 60,
  });
  deepEqual(smooth([1, 3, null, 5], 2), [null, 2, null, null]);
});

Deno.test("holdoutRule() replays a recorded trace and returns the fit's result kind", () => {
  const kind = (held: number[], psnr: number[]) => ({ psnr, held, fitted: held, wv: {}, emv: {} });
  const trace = {
    task: "denoise",
    step: [10, 20, 30, 40],
    emaDecay: 0.99,
    out: kind([4, 3, 2, 1], [20, 21, 22, 23]),
    ema: kind([3, 1, 2, 2], [24, 26, 25, 24]),
  } as unknown as Trace;
  deepEqual(holdoutRule(20).pick(trace), { index: 1, kind: "ema", stopStep: 40 });
});

// ---- options --------------------------------------------------------------------------------

Deno.test("each task's earlyStop: true is TASK_STOPPING's rule, on by default only where it says", () => {
  for (const [task, { rule, auto }] of Object.entries(TASK_STOPPING)) {
    const options = { task, ...(task === "inpaint" ? { mask: "m.png" } : {}) } as DipFitOptions;
    equal(resolveFitOptions({ ...options, earlyStop: true }).earlyStop!.rule, rule, task);
    equal(defaultStopRule(task), rule);
    equal(stopsByDefault(task), auto);
    equal(resolveFitOptions(options).earlyStop?.rule, auto ? rule : undefined, task);
    equal(resolveFitOptions({ ...options, iterations: 10 }).earlyStop, undefined, task);
  }
  // a task with no measured choice: the general default, off unless asked
  equal(defaultStopRule("deblur"), DEFAULT_STOP_RULE);
  equal(stopsByDefault("deblur"), false);
});

Deno.test("dipline <task> --no-early-stop turns the default off; --early-stop turns it on", () => {
  const denoise = shortcutCommand("denoise");
  const base = ["in.png", "-o", "out.png"];
  const resolved = (args: string[]) =>
    resolveFitOptions(denoise.parse([...base, ...args]).options).earlyStop;
  equal(resolved([])?.rule, "holdout");
  equal(denoise.parse([...base, "--no-early-stop"]).options.earlyStop, false);
  equal(resolved(["--no-early-stop"]), undefined);
  equal(resolved(["--iterations", "100"]), undefined);
  equal(resolved(["--iterations", "100", "--early-stop"])?.rule, "holdout");
  ok(denoise.usage.includes("--[no-]early-stop"), denoise.usage);
  const deblur = shortcutCommand("deblur");
  const deblurArgs = [...base, "--sigma", "1"];
  equal(resolveFitOptions(deblur.parse(deblurArgs).options).earlyStop, undefined);
  equal(
    resolveFitOptions(deblur.parse([...deblurArgs, "--early-stop"]).options).earlyStop?.rule,
    defaultStopRule("deblur"),
  );
});

Deno.test("earlyStop: true selects the holdout rule; a window without a rule is ES-WMV", () => {
  deepEqual(resolveFitOptions({ task: "denoise", earlyStop: true }).earlyStop, {
    rule: "holdout",
    patience: 500,
    holdout: 0.05,
  });
  deepEqual(resolveFitOptions({ task: "denoise", earlyStop: { window: 50 } }).earlyStop, {
    rule: "wmv",
    window: 50,
    patience: 1000,
  });
  deepEqual(
    resolveFitOptions({ task: "denoise", earlyStop: { rule: "wmv-ema", patience: 300 } })
      .earlyStop,
    { rule: "wmv-ema", patience: 300, window: 100 },
  );
  // Without earlyStop and iterations, denoising stops by its rule (the preset's steps a cap);
  // a step count given, or earlyStop: false, runs every step.
  deepEqual(resolveFitOptions({ task: "denoise" }).earlyStop, {
    rule: "holdout",
    patience: 500,
    holdout: 0.05,
  });
  equal(resolveFitOptions({ task: "denoise", iterations: 800 }).earlyStop, undefined);
  equal(resolveFitOptions({ task: "denoise", earlyStop: false }).earlyStop, undefined);
  throws(
    () => resolveFitOptions({ task: "denoise", earlyStop: { rule: "wmv", holdout: 0.1 } }),
    /earlyStop.holdout applies to rule "holdout" only, not "wmv"/,
  );
  throws(
    () => resolveFitOptions({ task: "denoise", earlyStop: { rule: "holdout", window: 10 } }),
    /earlyStop.window applies to rules "wmv" and "wmv-ema" only/,
  );
  throws(
    () => resolveFitOptions({ task: "denoise", earlyStop: { rule: "sure" } } as never),
    /earlyStop/,
  );
  equal(
    describeEarlyStop({ rule: "holdout", patience: 500, holdout: 0.05 }),
    "early stop: holdout 5 % of the pixels, patience 500",
  );
});

// ---- fits -------------------------------------------------------------------------------------

Deno.test("a holdout fit stops patience steps after the held-out minimum and returns the output there", async () => {
  const clean = card(3, 16);
  const observation = addGaussianNoise(clean, 25, 1);
  const fit = resolveFitOptions({
    task: "denoise",
    ...TINY,
    iterations: 400,
    lr: 0.05,
    ema: 0,
    earlyStop: { rule: "holdout", patience: 40, holdout: 0.2 },
  });
  const seen = new Map<number, Float32Array>();
  const result = await fitImage({ observation, clean }, fit, {
    onCheck: async (check) => void seen.set(check.step, (await check.read("output"))[0]!.data),
  });
  const chosen = result.chosenSteps![0]!;
  deepEqual(result.image.data, seen.get(chosen)); // the output at the chosen check
  ok(result.stopStep !== undefined && result.stopStep >= chosen + 40, `${result.stopStep}`);
  equal(result.stopStep! - 40 <= chosen, true);
  equal(result.iterations, result.stopStep);
  equal([...seen.keys()].at(-1), result.stopStep);
  ok(result.stopStep! < 400, "stopped before the cap");
  ok(psnr(result.image, clean) > psnr(observation, clean), "better than the noisy input");
});

Deno.test("an emv fit (inpainting's earlyStop: true) returns the output at its moving variance's minimum", async () => {
  const clean = card(3, 16);
  const observation = addGaussianNoise(clean, 25, 4);
  const fit = resolveFitOptions({
    task: "denoise",
    ...TINY,
    iterations: 300,
    lr: 0.05,
    ema: 0,
    earlyStop: { rule: "emv", patience: 40 },
  });
  const outputs = new Map<number, Float32Array>();
  const result = await fitImage({ observation, clean }, fit, {
    onCheck: async (check) => void outputs.set(check.step, (await check.read("output"))[0]!.data),
  });
  // The same moving variance, replayed on the outputs the checks saw, has its minimum there.
  const emv = new MovingVariance();
  let best = { step: -1, v: Infinity };
  for (const [step, x] of outputs) {
    const v = emv.push(x);
    if (v < best.v) best = { step, v };
  }
  const chosen = result.chosenSteps![0]!;
  equal(chosen, best.step);
  deepEqual(result.image.data, outputs.get(chosen));
  // It stops only once the minimum is patience steps old, else it runs to the cap.
  ok(result.stopStep === undefined || result.stopStep - chosen >= 40, `${result.stopStep}`);
});

Deno.test("a denoising fit without earlyStop or iterations stops by its rule and returns the EMA there", async () => {
  const clean = card(3, 16);
  const observation = addGaussianNoise(clean, 25, 3);
  const fit = resolveFitOptions({ task: "denoise", ...TINY, lr: 0.05 });
  equal(fit.iterations, 3000); // the preset's steps: the cap
  ok(fit.ema > 0, "the denoising preset returns the EMA");
  const seen = new Map<number, Float32Array>();
  const result = await fitImage({ observation, clean }, fit, {
    onCheck: async (check) => void seen.set(check.step, (await check.read("ema"))[0]!.data),
  });
  const chosen = result.chosenSteps![0]!;
  ok(result.stopStep !== undefined && result.stopStep < 3000, `stopped at ${result.stopStep}`);
  equal(result.stopStep! - chosen, fit.earlyStop!.patience);
  deepEqual(result.image.data, seen.get(chosen)); // the EMA at the chosen check, not the last
  ok(!sameData(result.image.data, seen.get(result.stopStep!)!), "not the output at the stop");
  equal(result.record.wmvArgmin, chosen); // reports and the progress line name that step
});

Deno.test("keepBest returns the output at the best-PSNR check and saveEvery writes a bounded set", async () => {
  const clean = card(1, 16);
  const observation = addGaussianNoise(clean, 25, 2);
  const dir = await Deno.makeTempDir();
  try {
    const op = dipFit({ task: "denoise", ...TINY, iterations: 60, keepBest: true, saveEvery: 20 });
    const frame: Frame = {
      slots: { image: observation, clean },
      meta: { name: "card", metrics: {}, timings: {}, info: {} },
    };
    const ctx: OpContext = { emit: () => {}, outDir: dir, overwrite: true };
    const out = await op.run(frame, ctx);
    const m = out.meta.metrics;
    equal(m.psnr, m.bestPsnr); // the returned image is the best seen
    equal(psnr(out.slots.image!, clean).toFixed(6), m.psnr!.toFixed(6));
    equal(out.meta.info.returnedStep, out.meta.info.bestStep);
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    deepEqual(files, ["card_step20.png", "card_step40.png", "card_step60.png"]);
    deepEqual(out.meta.info.saved, files.map((f) => join(dir, f)));
    // without a clean image keepBest is refused, not ignored
    await rejects(
      op.run({ ...frame, slots: { image: observation } }, ctx),
      /keepBest needs a clean reference/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
