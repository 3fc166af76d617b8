import { deepStrictEqual as deepEqual, throws } from "node:assert/strict";
import { Backtracker, WindowedVariance, wmvShouldStop } from "../dip/early_stop.ts";

/** An output sequence whose step-to-step jitter shrinks until `turn`, then grows. */
function syntheticOutput(step: number, turn: number, size: number): Float32Array {
  const amplitude = 0.01 + 0.001 * Math.abs(step - turn);
  const x = new Float32Array(size);
  for (let i = 0; i < size; i++) x[i] = 0.5 + amplitude * ((step + i) % 2 === 0 ? 1 : -1);
  return x;
}

Deno.test("WindowedVariance computes the windowed variance of the last W outputs", () => {
  const wmv = new WindowedVariance(2, 1);
  deepEqual(wmv.push(new Float32Array([0])), undefined);
  // window {0, 1}: mean 0.5, mean squared deviation 0.25
  deepEqual(wmv.push(new Float32Array([1])), 0.25);
  // window {1, 3}: mean 2, deviation² 1 each
  deepEqual(wmv.push(new Float32Array([3])), 1);
  deepEqual(wmv.argmin, 1);
  deepEqual(wmv.minVariance, 0.25);
  throws(() => wmv.push(new Float32Array(2)), /expected 1 values but received 2/);
});

Deno.test("ES-WMV stops patience steps after the variance minimum and keeps the output there", () => {
  const window = 5;
  const patience = 20;
  const turn = 30;
  const size = 4;
  const wmv = new WindowedVariance(window, size);
  let stoppedAt = -1;
  for (let step = 0; step < 200; step++) {
    wmv.push(syntheticOutput(step, turn, size));
    if (wmv.shouldStop(patience)) {
      stoppedAt = step;
      break;
    }
  }
  // The variance over a window is smallest for the window centred on the turn.
  const expectedArgmin = turn + Math.floor(window / 2);
  deepEqual(wmv.argmin, expectedArgmin);
  deepEqual(stoppedAt, expectedArgmin + patience);
  deepEqual(wmv.best, syntheticOutput(expectedArgmin, turn, size));
});

Deno.test("wmvShouldStop() waits for the first variance and for the full patience", () => {
  deepEqual(wmvShouldStop(5000, -1, 1000), false);
  deepEqual(wmvShouldStop(5000, Number.NaN, 1000), false);
  deepEqual(wmvShouldStop(1100, 100, 1000), false);
  deepEqual(wmvShouldStop(1101, 100, 1000), true);
});

Deno.test("Backtracker restores on a drop of more than 5 dB and snapshots otherwise", () => {
  const bt = new Backtracker();
  deepEqual(bt.check([20]), "snapshot");
  deepEqual(bt.check([24]), "snapshot");
  deepEqual(bt.check([19.5]), "snapshot"); // 4.5 dB drop: accepted
  deepEqual(bt.check([14]), "restore"); // 5.5 dB below the last accepted check
  deepEqual(bt.check([14.2]), "restore"); // still compared with 19.5, not with 14
  deepEqual(bt.check([18]), "snapshot");
  deepEqual(bt.restores, 2);
  const batch = new Backtracker();
  deepEqual(batch.check([20, 30]), "snapshot");
  deepEqual(batch.check([25, 24]), "restore"); // the second fit collapsed
  // a NaN PSNR is a divergence, never a snapshot, even at the first check
  deepEqual(new Backtracker().check([Number.NaN]), "diverged");
  const nan = new Backtracker();
  nan.check([20]);
  deepEqual(nan.check([20, Number.NaN]), "diverged");
  deepEqual(nan.restores, 0);
});
