import { deepStrictEqual as deepEqual, ok, throws } from "node:assert/strict";
import { compilePlan, downsampleTerm } from "../engine/compile.ts";
import type { Trainer } from "../engine/backend.ts";
import { createCpuTrainer } from "../engine/cpu/mod.ts";
import { createReferenceTrainer } from "../engine/reference.ts";
import { createWebGpuTrainer } from "../engine/webgpu/mod.ts";
import { skip } from "../models/skip.ts";
import {
  compose,
  gaussianBlur,
  gaussianTaps,
  identity,
  lanczosDown,
  mask,
  type Operator,
} from "../dip/operators.ts";
import { randomArray } from "./oracle.ts";

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-6): void {
  deepEqual(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    ok(
      Math.abs(actual[i]! - expected[i]!) <= tolerance,
      `index ${i}: expected ${expected[i]} but received ${actual[i]}`,
    );
  }
}

Deno.test("identity() and mask() map to their data terms and apply on the CPU", () => {
  const x = new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
  deepEqual(identity().dataTerm, { kind: "identity" });
  deepEqual(identity().apply(x, 2, 2, 2), x);
  const m = mask();
  deepEqual(m.dataTerm, { kind: "mask" });
  deepEqual(m.usesMask, true);
  // the 1-channel mask broadcasts over both channels
  close(m.apply(x, 2, 2, 2, new Float32Array([1, 0, 0, 1])), [0.1, 0, 0, 0.4, 0.5, 0, 0, 0.8]);
  throws(() => m.apply(x, 2, 2, 2), /expected a 1×2×2 mask for mask\(\) but received none/);
});

Deno.test("lanczosDown() keeps a constant image constant at exactly H/f × W/f", () => {
  for (const factor of [2, 4, 8]) {
    const op = lanczosDown(factor);
    deepEqual(op.dataTerm, downsampleTerm(factor));
    deepEqual(op.outputSize(16, 24), { height: 16 / factor, width: 24 / factor });
    const out = op.apply(new Float32Array(16 * 24).fill(0.25), 1, 16, 24);
    deepEqual(out.length, (16 / factor) * (24 / factor));
    close(out, new Float32Array(out.length).fill(0.25));
  }
  throws(() => lanczosDown(3), /expected 2, 4 or 8 for lanczosDown factor but received 3/);
  throws(() => lanczosDown(2).outputSize(5, 4), /divisible by 2/);
});

Deno.test("lanczosDown() of an impulse is the separable kernel with replicate padding", () => {
  const factor = 2;
  const term = downsampleTerm(factor);
  if (term.kind !== "downsample") throw new Error("expected a downsample term");
  const size = 16;
  const x = new Float32Array(size * size);
  const [y0, x0] = [7, 9];
  x[y0 * size + x0] = 1;
  const out = lanczosDown(factor).apply(x, 1, size, size);
  const half = size / factor;
  for (let oy = 0; oy < half; oy++) {
    for (let ox = 0; ox < half; ox++) {
      const ty = y0 - oy * factor + term.pad;
      const tx = x0 - ox * factor + term.pad;
      const expected = (term.taps[ty] ?? 0) * (term.taps[tx] ?? 0);
      close([out[oy * half + ox]!], [expected]);
    }
  }
  // an impulse on the border is replicated into the padding: its weight grows
  const edge = new Float32Array(size * size);
  edge[0] = 1;
  const corner = lanczosDown(factor).apply(edge, 1, size, size)[0]!;
  const weight = term.taps.slice(0, term.pad + 1).reduce((a, b) => a + b, 0);
  close([corner], [weight * weight]);
});

Deno.test("compose() applies left to right, flattens and keeps a mask last", () => {
  const op = compose(lanczosDown(2), mask());
  deepEqual(op.dataTerm, { kind: "compose", terms: [downsampleTerm(2), { kind: "mask" }] });
  deepEqual([op.usesMask, op.factor], [true, 2]);
  deepEqual(op.outputSize(8, 4), { height: 4, width: 2 });
  const x = new Float32Array(2 * 8 * 4).map((_, i) => (i % 7) / 7);
  const m = new Float32Array([1, 0, 1, 1, 0, 1, 1, 0]);
  const expected = mask().apply(lanczosDown(2).apply(x, 2, 8, 4), 2, 4, 2, m);
  close(op.apply(x, 2, 8, 4, m), expected);

  const twice = compose(compose(identity(), lanczosDown(2)), lanczosDown(2));
  deepEqual(twice.factor, 4);
  deepEqual(twice.dataTerm, { kind: "compose", terms: [downsampleTerm(2), downsampleTerm(2)] });
  deepEqual(twice.outputSize(16, 8), { height: 4, width: 2 });
  deepEqual(compose(identity(), lanczosDown(4)).dataTerm, downsampleTerm(4));
  deepEqual(compose().dataTerm, { kind: "identity" });
  throws(() => compose(mask(), lanczosDown(2)), /expected mask\(\) last in compose\(\)/);
});

Deno.test("gaussianTaps() is odd, symmetric, sums to 1 and follows exp(−i²/2σ²)", () => {
  for (const sigma of [0.5, 1, 1.6, 3]) {
    const taps = gaussianTaps(sigma);
    const radius = Math.ceil(3 * sigma);
    deepEqual(taps.length, 2 * radius + 1);
    close([taps.reduce((a, b) => a + b, 0)], [1], 1e-12);
    for (let i = 0; i < radius; i++) close([taps[i]!], [taps[taps.length - 1 - i]!], 1e-15);
    // neighbouring taps are in the ratio of the Gaussian: w(i)/w(0) = exp(−i²/2σ²)
    for (let i = 1; i <= radius; i++) {
      close([taps[radius + i]! / taps[radius]!], [Math.exp(-(i * i) / (2 * sigma * sigma))], 1e-12);
    }
  }
  deepEqual(gaussianTaps(2, 1).length, 3);
  deepEqual(gaussianBlur(1.5, { radius: 2 }).dataTerm, {
    kind: "downsample",
    factor: 1,
    taps: gaussianTaps(1.5, 2),
    pad: 2,
  });
  throws(() => gaussianBlur(0), /expected a finite sigma > 0 for gaussianBlur but received 0/);
  throws(() => gaussianBlur(-1), /expected a finite sigma > 0 for gaussianBlur but received -1/);
  throws(() => gaussianBlur(Infinity), /finite sigma > 0/);
  throws(
    () => gaussianBlur(1, { radius: 0 }),
    /integer radius ≥ 1 for gaussianBlur but received 0/,
  );
  throws(() => gaussianBlur(1, { radius: 1.5 }), /integer radius ≥ 1/);
});

Deno.test("gaussianBlur() keeps constants, spreads an impulse into the Gaussian, keeps the size", () => {
  const op = gaussianBlur(1.2);
  const taps = gaussianTaps(1.2);
  const radius = (taps.length - 1) / 2;
  deepEqual([op.factor, op.usesMask], [1, false]);
  deepEqual(op.outputSize(9, 13), { height: 9, width: 13 });
  const flat = op.apply(new Float32Array(2 * 9 * 13).fill(0.3), 2, 9, 13);
  close(flat, new Float32Array(2 * 9 * 13).fill(0.3));

  const size = 15;
  const x = new Float32Array(size * size);
  const [y0, x0] = [7, 6];
  x[y0 * size + x0] = 1;
  const out = op.apply(x, 1, size, size);
  deepEqual(out.length, size * size);
  for (let y = 0; y < size; y++) {
    for (let xx = 0; xx < size; xx++) {
      // correlation: out[y, x] = Σ taps[t]·x[y + t − r], so the impulse lands at tap y0 − y + r
      const expected = (taps[y0 - y + radius] ?? 0) * (taps[x0 - xx + radius] ?? 0);
      close([out[y * size + xx]!], [expected], 1e-7);
    }
  }
  // replicate padding: a corner impulse keeps the weight of every tap that falls outside
  const edge = new Float32Array(size * size);
  edge[0] = 1;
  const corner = op.apply(edge, 1, size, size)[0]!;
  const weight = taps.slice(0, radius + 1).reduce((a, b) => a + b, 0);
  close([corner], [weight * weight], 1e-7);
  // blurring keeps the total mass of an interior impulse
  close([out.reduce((a, b) => a + b, 0)], [1], 1e-6);
});

Deno.test("compose(gaussianBlur(), mask()) blurs, then masks at the same size", () => {
  const op = compose(gaussianBlur(1), mask());
  deepEqual(op.dataTerm, { kind: "compose", terms: [gaussianBlur(1).dataTerm, { kind: "mask" }] });
  deepEqual([op.usesMask, op.factor], [true, 1]);
  const x = new Float32Array(2 * 4 * 5).map((_, i) => (i % 7) / 7);
  const m = new Float32Array(20).map((_, i) => i % 3 === 0 ? 0 : 1);
  close(op.apply(x, 2, 4, 5, m), mask().apply(gaussianBlur(1).apply(x, 2, 4, 5), 2, 4, 5, m));
});

/**
 * Trains one step of a tiny net whose data term is `operator` on `trainer` with the target set
 * to the operator's CPU apply of the network output: the loss is ~0 only if the engine's data
 * term computes exactly that. Returns the loss and the loss against the unblurred output (a
 * control that must be clearly non-zero).
 */
async function engineMatchesApply(
  make: (plan: ReturnType<typeof compilePlan>) => Promise<Trainer>,
  operator: Operator,
): Promise<void> {
  const [height, width, channels] = [8, 12, 3];
  const net = skip({
    inputChannels: 2,
    outputChannels: channels,
    channelsDown: [4, 4],
    channelsSkip: [2, 2],
    pad: "reflection",
    upsampleMode: "bilinear",
  });
  const plan = compilePlan(net, {
    batch: 1,
    height,
    width,
    dataTerm: operator.dataTerm,
    lr: 0.01, // reference notebooks: LR 0.01
    regNoiseStd: 0, // so the trained step sees exactly the evaluated output
    emaDecay: 0,
  });
  const trainer = await make(plan);
  try {
    await trainer.reset([3]);
    trainer.setNoiseSeeds([4]);
    const z = plan.io.z0;
    trainer.upload("z0", randomArray(z.c * z.h * z.w, 5, 0.5));
    const m = new Float32Array(height * width).map((_, i) => (i * 7) % 5 === 0 ? 0 : 1);
    if (operator.usesMask) trainer.upload("mask", m);
    const y = await trainer.evaluate();
    const blurred = operator.apply(y, channels, height, width, operator.usesMask ? m : undefined);
    trainer.upload("target", blurred);
    trainer.run(1);
    const matched = (await trainer.readScalars()).loss[0]!;
    // the step's output is the evaluated one (no input noise), so the loss is about that output
    const output = (await trainer.read("output")).subarray(0, y.length);
    close(output, y, 1e-5);
    ok(matched < 1e-11, `${trainer.engine}: loss against the CPU blur ${matched}, expected ~0`);
    // control: the unblurred output as the target gives a clearly non-zero loss
    await trainer.reset([3]);
    trainer.upload("target", operator.usesMask ? mask().apply(y, channels, height, width, m) : y);
    trainer.run(1);
    const control = (await trainer.readScalars()).loss[0]!;
    ok(control > 1e-6, `${trainer.engine}: control loss ${control} should be > 1e-6`);
  } finally {
    trainer.dispose();
  }
}

for (
  const [engine, make] of [
    ["reference", createReferenceTrainer],
    ["cpu", (plan) => createCpuTrainer(plan, { threads: 1 })],
    ["webgpu", createWebGpuTrainer],
  ] as const satisfies readonly (readonly [
    string,
    (plan: ReturnType<typeof compilePlan>) => Promise<Trainer>,
  ])[]
) {
  Deno.test(
    `the ${engine} engine's blur data term equals gaussianBlur().apply${
      engine === "webgpu" ? " (masked)" : ", alone and masked"
    }`,
    async () => {
      // llvmpipe compiles every pipeline slowly: webgpu checks the masked composition only
      if (engine !== "webgpu") await engineMatchesApply(make, gaussianBlur(1.3));
      await engineMatchesApply(make, compose(gaussianBlur(0.8, { radius: 2 }), mask()));
    },
  );
}

Deno.test("the cpu engine trains through the blur term like the reference executor", async () => {
  const net = skip({ inputChannels: 2, outputChannels: 1, channelsDown: [4], channelsSkip: [2] });
  const plan = compilePlan(net, {
    batch: 1,
    height: 6,
    width: 10,
    dataTerm: gaussianBlur(1).dataTerm,
    lr: 0.01, // reference notebooks: LR 0.01
    regNoiseStd: 0.03, // reference SR ×4: reg_noise_std 0.03
    emaDecay: 0,
  });
  const trainers = [
    await createReferenceTrainer(plan),
    await createCpuTrainer(plan, { threads: 1 }),
  ];
  try {
    const z = plan.io.z0;
    for (const t of trainers) {
      await t.reset([9]);
      t.setNoiseSeeds([10]);
      t.upload("z0", randomArray(z.c * z.h * z.w, 11, 0.5));
      t.upload("target", randomArray(60, 12, 0.3).map((v) => v + 0.5));
      t.run(3);
    }
    const [ref, cpu] = await Promise.all(trainers.map((t) => t.read("output")));
    ok(
      Math.max(...ref!.map((v, i) => Math.abs(v - cpu![i]!))) < 1e-4,
      "outputs after 3 steps differ",
    );
    const [lr, lc] = await Promise.all(trainers.map(async (t) => (await t.readScalars()).loss[0]!));
    close([lc!], [lr!], 1e-5 * lr!);
  } finally {
    trainers.forEach((t) => t.dispose());
  }
});
