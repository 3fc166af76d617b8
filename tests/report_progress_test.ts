/** The terminal line's sparkline and the line a fit ends with (pipeline/progress.ts). */
import { equal, ok } from "node:assert/strict";
import type { RunRecord } from "../core/run_record.ts";
import {
  fitEndLine,
  type ProgressState,
  sparkline,
  SPARKLINE_CHECKS,
  updateProgress,
} from "../pipeline/progress.ts";

Deno.test("sparkline() scales values between their minimum and maximum", () => {
  equal(sparkline([1, 2, 3, 4, 5, 6, 7, 8]), "▁▂▃▄▅▆▇█");
  equal(sparkline([5, 5]), "▄▄");
  equal(sparkline([]), "");
});

Deno.test("the progress line shows the PSNR and a sparkline of the last checks", () => {
  let state: ProgressState = {
    total: 1,
    done: 0,
    failed: 0,
    skipped: 0,
    startedAt: 0,
    current: "",
  };
  state = updateProgress(state, { type: "input-start", name: "kodim03", index: 0 }, 0);
  for (let step = 50; step <= 2000; step += 50) {
    state = updateProgress(state, {
      type: "fit",
      name: "kodim03",
      step,
      total: 3000,
      loss: 0.01,
      stepsPerSecond: 10,
      psnr: 20 + step / 200,
    }, step);
  }
  equal(state.trend!.length, SPARKLINE_CHECKS);
  ok(state.current.includes("30.00 dB"), state.current);
  ok(state.current.includes("▁▁"), state.current);
  ok(state.current.includes("██"), state.current);
});

Deno.test("fitEndLine() names the step early stopping chose, else the best step", () => {
  const record = {
    version: 1,
    iterations: 3000,
    steps: 2600,
    stopStep: 2600,
    wmvArgmin: 1599,
    bestPsnr: 29.123,
    bestStep: 1500,
  } as unknown as RunRecord;
  equal(
    fitEndLine({ type: "record", name: "f16", record }),
    "f16: early stopping chose step 1599 (stopped at 2600 of 3000); best 29.12 dB at step 1500",
  );
  const plain = { ...record, stopStep: undefined, wmvArgmin: undefined, steps: 3000 };
  equal(
    fitEndLine({ type: "record", name: "f16", record: plain }),
    "f16: best 29.12 dB at step 1500 of 3000",
  );
  equal(
    fitEndLine({ type: "record", name: "x", record: { ...plain, bestPsnr: undefined } }),
    undefined,
  );
});
