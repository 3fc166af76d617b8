/**
 * A fit that blows up never yields an image: the loop returns to the last finite snapshot (the
 * initial parameters always qualify), a retry starts over with a smaller learning rate, and
 * what cannot be saved fails with "fit diverged: non-finite loss at step N" and writes nothing.
 */
import { deepStrictEqual as deepEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import type { StepScalars, Trainer } from "../engine/backend.ts";
import type { Plan } from "../engine/plan.ts";
import { type DipFitOptions, fitImage, resolveFitOptions } from "../dip/fit.ts";
import {
  FitDivergedError,
  LR_RETRIES,
  MAX_DIVERGENCE_RESTORES,
  trainLoop,
  trainWithRetries,
} from "../dip/train_loop.ts";
import { testCard } from "../image/testcard.ts";
import { pipeline } from "../pipeline/dsl.ts";
import { imageInput } from "../pipeline/sources.ts";
import { saveImage } from "../image/save.ts";

const TINY = {
  net: { channelsDown: [4, 4], channelsUp: [4, 4], channelsSkip: [2, 2] },
  inputDepth: 4,
  engine: "reference",
} as const satisfies Partial<DipFitOptions>;

/**
 * A trainer that runs nothing: `lossAt(engineStep, restored)` scripts the loss, `output` the
 * values read back. Records snapshot/restore calls with the engine step.
 */
function scripted(
  lossAt: (step: number) => number,
  calls: string[],
  output = 0.5,
): Trainer {
  let step = 0;
  const size = 3 * 8 * 8;
  return {
    plan: {} as Plan, // trainLoop never looks at it
    engine: "reference",
    adapter: "scripted",
    reset: () => Promise.resolve(),
    upload: () => {},
    setNoiseSeeds: () => {},
    run: (count) => void (step += count),
    readScalars: (): Promise<StepScalars> => {
      const loss = lossAt(step);
      return Promise.resolve({
        step,
        loss: new Float32Array([loss]),
        psnrObserved: new Float32Array([Number.isFinite(loss) ? 20 : Number.NaN]),
      });
    },
    read: () => Promise.resolve(new Float32Array(size).fill(output)),
    snapshot: () => void calls.push(`snapshot@${step}`),
    restore: () => void calls.push(`restore@${step}`),
    evaluate: () => Promise.resolve(new Float32Array(size)),
    dispose: () => void calls.push("dispose"),
  };
}

const loopFit = (options: Partial<DipFitOptions> = {}) =>
  resolveFitOptions({
    task: "denoise",
    ...TINY,
    iterations: 40,
    checkEvery: 10,
    ema: 0,
    backtracking: false,
    ...options,
  });
const LOOP = { batch: 1, outSize: 3 * 8 * 8, hooks: {} };

Deno.test("trainLoop() returns to the last finite snapshot after a NaN loss and redoes those steps", async () => {
  const calls: string[] = [];
  // engine step 30 blows up once; the redo (engine steps 31–40) is finite again
  const trainer = scripted((step) => (step === 30 ? Number.NaN : 0.01), calls);
  const outcome = await trainLoop(trainer, loopFit(), LOOP);
  deepEqual(calls, [
    "snapshot@0",
    "snapshot@10",
    "snapshot@20",
    "restore@30",
    "snapshot@40",
    "snapshot@50",
  ]);
  equal(outcome.steps, 40);
  equal(outcome.divergenceRestores, 1);
});

Deno.test("trainLoop() never snapshots a non-finite first check: it returns to the initial parameters", async () => {
  const calls: string[] = [];
  const trainer = scripted(() => Number.POSITIVE_INFINITY, calls);
  await rejects(trainLoop(trainer, loopFit(), LOOP), FitDivergedError);
  deepEqual(calls, [
    "snapshot@0",
    ...Array.from({ length: MAX_DIVERGENCE_RESTORES }, (_, i) => `restore@${(i + 1) * 10}`),
  ]);
  await rejects(
    trainLoop(scripted(() => Number.NaN, []), loopFit(), LOOP),
    /^FitDivergedError: fit diverged: non-finite loss at step 10$/,
  );
});

Deno.test("trainLoop() gives up at once with an EMA (a NaN stays in it) and checks the final readback", async () => {
  const calls: string[] = [];
  await rejects(
    trainLoop(scripted((s) => (s >= 20 ? Number.NaN : 0.01), calls), loopFit({ ema: 0.99 }), LOOP),
    /fit diverged: non-finite loss at step 20/,
  );
  deepEqual(calls, ["snapshot@0", "snapshot@10"]);
  await rejects(
    trainLoop(scripted(() => 0.01, [], Number.NaN), loopFit(), LOOP),
    /fit diverged: non-finite output at step 40/,
  );
});

Deno.test("trainWithRetries() starts over with a smaller lr, a bounded number of times", async () => {
  const rates: number[] = [];
  const calls: string[] = [];
  // finite only once the lr is at most 1e-3
  const start = (lr: number) => {
    rates.push(lr);
    return Promise.resolve(scripted(() => (lr > 1.5e-3 ? Number.NaN : 0.01), calls));
  };
  const outcome = await trainWithRetries(start, loopFit({ lr: 0.1 }), LOOP);
  deepEqual(rates.map((r) => +r.toPrecision(3)), [0.1, 0.01, 0.001]);
  equal(outcome.steps, 40);
  equal(outcome.lrRetries, 2);
  equal(+outcome.lr.toPrecision(3), 0.001);
  equal(calls.filter((c) => c === "dispose").length, 3, "every trainer is disposed of");

  rates.length = 0;
  await rejects(
    trainWithRetries(start, loopFit({ lr: 1e30 }), LOOP),
    /^FitDivergedError: fit diverged: non-finite loss at step 10 \(lr 1e\+30, 1e\+29, 1e\+28\)$/,
  );
  equal(rates.length, LR_RETRIES + 1);
});

const FIVE_LEVELS = {
  channelsDown: [4, 4, 4, 4, 4],
  channelsUp: [4, 4, 4, 4, 4],
  channelsSkip: [2, 2, 2, 2, 2],
};

for (const engine of ["reference", "cpu"] as const) {
  Deno.test(`a diverging fit on the ${engine} engine fails instead of returning an image`, async () => {
    const base = { ...TINY, engine, threads: 1, iterations: 20, checkEvery: 10 } as const;
    const cases: [string, DipFitOptions, number][] = [
      ["denoise lr 1e30", { task: "denoise", ...base, lr: 1e30 }, 8],
      ["sr lr 1e30", { task: "sr", factor: 2, ...base, lr: 1e30 }, 8],
    ];
    // input noise of std 1e20 overflows a deep net (the 5-level net on the cpu engine)
    if (engine === "cpu") {
      cases.push([
        "regNoise 1e20",
        { task: "denoise", ...base, net: FIVE_LEVELS, iterations: 10, regNoise: 1e20 },
        16,
      ]);
    }
    for (const [label, options, size] of cases) {
      await rejects(
        fitImage({ observation: testCard(size, size) }, resolveFitOptions(options)),
        /^FitDivergedError: fit diverged: non-finite (loss|output) at step \d+/,
        label,
      );
    }
  });
}

Deno.test("a pipeline whose fit diverges writes nothing and lists the input as failed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-diverge-" });
  const summary = await pipeline()
    .dipFit({ task: "denoise", ...TINY, iterations: 20, checkEvery: 10, lr: 1e30 })
    .save("{name}.png")
    .run({ input: [imageInput(testCard(8, 8), "card")], outDir: dir });
  equal(summary.done.length, 0);
  equal(summary.failed.length, 1);
  ok(/fit diverged: non-finite loss at step \d+/.test(summary.failed[0]!.error));
  deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), []);
  // and saveImage refuses non-finite values outright
  const nan = testCard(8, 8);
  nan.data[3] = Number.NaN;
  await rejects(saveImage(nan, join(dir, "nan.png")), /non-finite value/);
  deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), []);
  await Deno.remove(dir, { recursive: true });
});
