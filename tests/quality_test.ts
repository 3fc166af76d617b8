import assert from "node:assert/strict";
import {
  EARLY_STOP_TOLERANCE_DB,
  earlyStopVerdict,
  meanOf,
  MIN_SEEDS,
  TORCH_TOLERANCE_DB,
  torchVerdicts,
} from "../bench/quality.ts";

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: expected ${expected}, got ${actual}`);

Deno.test("meanOf() averages and is NaN for no values", () => {
  close(meanOf([1, 2, 6]), 3, "mean");
  assert.ok(Number.isNaN(meanOf([])));
});

Deno.test("torchVerdicts() averages seeds per image, then images, per task", () => {
  const verdicts = torchVerdicts([
    { task: "denoise", oursPerSeed: [30, 31, 32], torchPerSeed: [30.5, 31.5, 32.5] },
    { task: "denoise", oursPerSeed: [20, 20, 23], torchPerSeed: [21, 21, 21] },
    { task: "sr", oursPerSeed: [25, 25, 25], torchPerSeed: [24, 24, 24] },
  ]);
  assert.deepEqual(verdicts.map((v) => v.task), ["denoise", "sr"]);
  const [denoise, sr] = verdicts as [(typeof verdicts)[0], (typeof verdicts)[0]];
  // image means: ours 31 and 21, torch 31.5 and 21
  close(denoise.ours, 26, "denoise ours");
  close(denoise.torch, 26.25, "denoise torch");
  close(denoise.diff, -0.25, "denoise diff");
  close(denoise.maxAbsDiff, 0.5, "denoise largest per-image difference");
  assert.equal(denoise.images, 2);
  assert.equal(denoise.seeds, 3);
  assert.equal(denoise.met, true, denoise.line);
  assert.match(denoise.line, /within the 0\.3 dB target — MET/);
  close(sr.diff, 1, "sr diff");
  assert.equal(sr.met, false);
  assert.match(sr.line, /outside the 0\.3 dB target — NOT MET/);
});

Deno.test("torchVerdicts() pairs only images with torch values and skips tasks without any", () => {
  const verdicts = torchVerdicts([
    { task: "denoise", oursPerSeed: [30, 30, 30], torchPerSeed: [30.1, 30.1, 30.1] },
    { task: "denoise", oursPerSeed: [10, 10, 10] }, // the twin did not run: not in the mean
    { task: "inpaint", oursPerSeed: [28, 28, 28] },
  ]);
  assert.equal(verdicts.length, 1);
  assert.equal(verdicts[0]!.images, 1);
  close(verdicts[0]!.ours, 30, "paired ours");
});

Deno.test("torchVerdicts() does not meet the target with fewer than MIN_SEEDS seeds", () => {
  const few = Array.from({ length: MIN_SEEDS - 1 }, () => 30);
  const [verdict] = torchVerdicts([{ task: "denoise", oursPerSeed: few, torchPerSeed: few }]);
  assert.equal(verdict!.seeds, MIN_SEEDS - 1);
  close(verdict!.diff, 0, "diff");
  assert.equal(verdict!.met, false);
  assert.match(verdict!.line, /fewer than 3 seeds/);
});

Deno.test("torchVerdicts() takes the tolerance as a bound on |ours − torch| either way", () => {
  const at = (diff: number) =>
    torchVerdicts([{
      task: "sr",
      oursPerSeed: [20 + diff, 20 + diff, 20 + diff],
      torchPerSeed: [20, 20, 20],
    }])[0]!;
  assert.equal(at(TORCH_TOLERANCE_DB - 0.01).met, true);
  assert.equal(at(-(TORCH_TOLERANCE_DB - 0.01)).met, true);
  assert.equal(at(TORCH_TOLERANCE_DB + 0.01).met, false);
  assert.equal(at(-(TORCH_TOLERANCE_DB + 0.01)).met, false);
  assert.equal(at(Number.NaN).met, false, "a failed fit (NaN) never meets the target");
});

Deno.test("earlyStopVerdict() reports the mean and largest gap against the 0.5 dB target", () => {
  const met = earlyStopVerdict([
    { gap: 0.1, stopStep: 700 },
    { gap: 0.7, stopStep: 900 },
    { gap: 0.4, stopStep: 650 },
  ]);
  close(met.meanGap, 0.4, "mean gap");
  close(met.maxGap, 0.7, "largest gap");
  assert.equal(met.stopped, 3);
  assert.equal(met.met, true, met.line);
  const wide = earlyStopVerdict([{ gap: EARLY_STOP_TOLERANCE_DB + 0.2, stopStep: 500 }]);
  assert.equal(wide.met, false);
  assert.match(wide.line, /outside the 0\.5 dB target/);
});

Deno.test("earlyStopVerdict() does not meet the target when a fit ran to the cap", () => {
  const verdict = earlyStopVerdict([{ gap: 0, stopStep: 400 }, { gap: 0.1 }]);
  assert.equal(verdict.stopped, 1);
  assert.equal(verdict.met, false);
  assert.match(verdict.line, /reached the cap/);
  assert.equal(earlyStopVerdict([]).met, false, "no fits: nothing tested");
});
