import assert from "node:assert/strict";
import {
  type CompileOptions,
  compilePlan,
  describePlan,
  downsampleTerm,
  type GradientRegion,
  gradientRegions,
  lanczosTaps,
  stepLabel,
} from "../engine/compile.ts";
import type { Plan, Step, View } from "../engine/plan.ts";
import { ReferenceTrainer } from "../engine/reference.ts";
import { inputNoise } from "../engine/init.ts";
import {
  countParams,
  deepDecoder,
  denoisingNet,
  type Network,
  resnet,
  skip,
} from "../models/mod.ts";

const base: Omit<CompileOptions, "height" | "width"> = {
  batch: 2,
  dataTerm: { kind: "identity" },
  lr: 0.01,
  regNoiseStd: 0,
  emaDecay: 0,
};

/** The half-kernel from the centre outwards, rounded to 4 decimals. */
function halfKernel(taps: number[]): number[] {
  return taps.slice(taps.length / 2).map((t) => Math.round(t * 1e4) / 1e4);
}

Deno.test("lanczosTaps() matches the reference Downsampler kernel for factors 4 and 2", () => {
  // REFERENCE.md §1b, lanczos2 at phase 0.5.
  assert.deepEqual(halfKernel(lanczosTaps(4)), [
    0.2397,
    0.1831,
    0.0987,
    0.0246,
    -0.0149,
    -0.0204,
    -0.0098,
    -0.0011,
  ]);
  assert.deepEqual(halfKernel(lanczosTaps(2)), [0.4343, 0.1165, -0.0419, -0.0089]);
  for (
    const [f, kind, length] of [[2, "lanczos2", 8], [4, "lanczos2", 16], [8, "lanczos2", 32], [
      2,
      "lanczos3",
      12,
    ]] as const
  ) {
    const taps = lanczosTaps(f, kind);
    assert.equal(taps.length, length);
    assert.ok(Math.abs(taps.reduce((a, b) => a + b, 0) - 1) < 1e-12, "taps sum to 1");
    taps.forEach((t, i) =>
      assert.ok(Math.abs(t - taps[taps.length - 1 - i]!) < 1e-15, "symmetric")
    );
  }
  assert.equal(lanczosTaps(2, "lanczos2", 0).length, 9);
});

Deno.test("downsampleTerm() pads (K − f)/2 so the output is exactly H/f", () => {
  const t = downsampleTerm(4);
  assert.ok(t.kind === "downsample");
  assert.equal(t.pad, 6); // REFERENCE.md §1b: 6 for f = 4
  const t8 = downsampleTerm(8);
  assert.ok(t8.kind === "downsample" && t8.pad === 12);
  const plan = compilePlan(skip({ channelsDown: [4, 4], channelsSkip: [1, 1], inputChannels: 2 }), {
    ...base,
    height: 16,
    width: 24,
    dataTerm: t,
  });
  assert.deepEqual([plan.io.target.c, plan.io.target.h, plan.io.target.w], [3, 4, 6]);
});

function smallSkip(): Network {
  return skip({ inputChannels: 2, channelsDown: [4, 4], channelsSkip: [2, 2], outputChannels: 3 });
}

function steps(plan: Plan): Step[] {
  return [...plan.forward, ...plan.loss, ...plan.backward, ...plan.update];
}

Deno.test("compilePlan() infers PyTorch shapes on an odd size and centre-crops at the concat", () => {
  const plan = compilePlan(smallSkip(), { ...base, height: 37, width: 53 });
  const byLabel = (label: string, kind: Step["kind"]) =>
    plan.forward.find((s) => stepLabel(s) === label && s.kind === kind);
  const down = byLabel("l0.down.conv1", "conv");
  assert.ok(down?.kind === "conv");
  assert.deepEqual([down.y.h, down.y.w], [19, 27]); // floor((37 + 2 - 3)/2) + 1, floor((53 + 2 - 3)/2) + 1
  const up = byLabel("l0.up.upsample", "upsample");
  assert.ok(up?.kind === "upsample");
  assert.deepEqual([up.y.h, up.y.w], [38, 54]);
  const crops = plan.forward.filter((s) => s.kind === "crop_copy");
  assert.equal(crops.length, 2, "both levels' upsampled branches need a crop");
  const crop = crops.find((s) => stepLabel(s) === "l0.concat");
  assert.ok(crop?.kind === "crop_copy");
  assert.deepEqual([crop.x.h, crop.x.w, crop.y.h, crop.y.w], [38, 54, 37, 53]);
  assert.equal(plan.backward.filter((s) => s.kind === "crop_copy_bwd").length, 2);
  assert.deepEqual([plan.io.output.c, plan.io.output.h, plan.io.output.w], [3, 37, 53]);
});

Deno.test("compilePlan() writes concat inputs straight into channel slices of the concat output", () => {
  const plan = compilePlan(smallSkip(), { ...base, height: 16, width: 16 });
  assert.equal(
    plan.forward.filter((s) => s.kind === "crop_copy").length,
    0,
    "no copies when no crop is needed",
  );
  const bn0 = plan.forward.find((s) => stepLabel(s) === "l0.up.bn0");
  const skipBn = plan.forward.find((s) => stepLabel(s) === "l0.skip.bn");
  const up = plan.forward.find((s) => stepLabel(s) === "l0.up.upsample");
  assert.ok(bn0?.kind === "bn_act" && skipBn?.kind === "bn_act" && up?.kind === "upsample");
  const concat = bn0.x;
  assert.equal(concat.c, 2 + 4);
  const slice = (v: View, channel: number) => {
    assert.equal(v.arena, concat.arena);
    assert.equal(v.batchStride, concat.batchStride);
    assert.equal(v.offset, concat.offset + channel * concat.h * concat.w);
  };
  slice(skipBn.y, 0);
  slice(up.y, 2);
  // The gradient side aliases the same way: the producers read slices of the concat gradient.
  const bn0Bwd = plan.backward.find((s) => stepLabel(s) === "l0.up.bn0");
  const skipBwd = plan.backward.find((s) => stepLabel(s) === "l0.skip.bn");
  assert.ok(bn0Bwd?.kind === "bn_act_bwd" && skipBwd?.kind === "bn_act_bwd");
  assert.equal(skipBwd.dy.offset, bn0Bwd.dx.offset);
  assert.equal(skipBwd.dy.batchStride, bn0Bwd.dx.batchStride);
});

Deno.test("compilePlan() derives the backward schedule: reverse order, accumulation, no dz", () => {
  const plan = compilePlan(smallSkip(), { ...base, height: 16, width: 16 });
  const labels = plan.backward.map((s) => stepLabel(s));
  assert.equal(labels[0], "head.sigmoid");
  assert.equal(labels.at(-1), "l0.skip.conv");
  assert.ok(
    plan.backward.every((s) => !("dx" in s) || s.dx.arena === "dact"),
    "no gradient is written to z",
  );
  const firstConvs = plan.backward.filter((s) =>
    stepLabel(s) === "l0.down.conv1" || stepLabel(s) === "l0.skip.conv"
  );
  assert.deepEqual(firstConvs.map((s) => s.kind), ["conv_bwd_weight", "conv_bwd_weight"]);
  // l0.down.bn2 feeds two convs (level 1's skip and down): the first writer overwrites, the next adds.
  const writers = plan.backward.filter((s) =>
    s.kind === "conv_bwd_data" &&
    (stepLabel(s) === "l1.skip.conv" || stepLabel(s) === "l1.down.conv1")
  );
  assert.equal(writers.length, 2);
  assert.deepEqual(writers.map((s) => s.kind === "conv_bwd_data" && s.accumulate), [false, true]);
  assert.ok(writers[0]!.kind === "conv_bwd_data" && writers[1]!.kind === "conv_bwd_data");
  assert.equal(writers[0]!.dx.offset, writers[1]!.dx.offset);
  // ResNet: a block input gets the skip add's gradient first (overwrite), then its conv's (add).
  const res = compilePlan(resnet({ blocks: 1, channels: 4 }), { ...base, height: 8, width: 8 });
  const addBwd = res.backward.filter((s) => stepLabel(s) === "block0.add");
  assert.deepEqual(addBwd.map((s) => s.kind === "copy_grad" && s.accumulate), [false, false]);
  const convData = res.backward.find((s) =>
    stepLabel(s) === "block0.conv1" && s.kind === "conv_bwd_data"
  );
  assert.ok(convData?.kind === "conv_bwd_data" && convData.accumulate);
  assert.ok(addBwd[1]?.kind === "copy_grad");
  assert.equal(convData.dx.offset, addBwd[1].dx.offset);
});

Deno.test("compilePlan() lays parameters out packed, one copy per fit", () => {
  const net = smallSkip();
  const plan = compilePlan(net, { ...base, height: 16, width: 16 });
  assert.equal(plan.paramsPerFit, countParams(net));
  assert.equal(plan.arenaSizes.param, 2 * plan.paramsPerFit);
  let next = 0;
  for (const p of plan.params) {
    assert.equal(p.ref.offset, next, `${p.name} follows the previous tensor`);
    next += p.ref.size;
  }
  assert.equal(next, plan.paramsPerFit);
});

Deno.test("compilePlan() reuses gradient regions by liveness without changing any gradient", async () => {
  const options = {
    ...base,
    height: 13,
    width: 11,
    dataTerm: { kind: "compose", terms: [downsampleTerm(2), { kind: "mask" }] },
    regNoiseStd: 0.05,
  } as const;
  const shared = compilePlan(smallSkip(), options);
  const separate = compilePlan(smallSkip(), { ...options, shareGradients: false });
  assert.ok(shared.arenaSizes.dact < separate.arenaSizes.dact / 2, "liveness shares most of dact");
  // Every dact view any step touches lies inside the arena.
  for (const s of steps(shared)) {
    for (
      const v of Object.values(s).filter((x): x is View =>
        typeof x === "object" && x !== null && "arena" in x
      )
    ) {
      const extent = v.offset + (shared.batch - 1) * v.batchStride + v.c * v.h * v.w;
      assert.ok(extent <= shared.arenaSizes[v.arena], `${s.kind} stays inside ${v.arena}`);
    }
  }
  const grads = [];
  for (const plan of [shared, separate]) {
    const t = new ReferenceTrainer(plan);
    await t.reset([3, 4]);
    const z = new Float32Array(2 * 2 * 13 * 11);
    z.set(inputNoise("noise", 2, 13, 11, 1));
    z.set(inputNoise("noise", 2, 13, 11, 2), 2 * 13 * 11);
    t.upload("z0", z);
    t.upload("target", inputNoise("noise", 3, 12, 5, 9, 1)); // 2 fits × 3 × 6 × 5
    t.upload("mask", inputNoise("noise", 1, 12, 5, 8, 1).map((u) => u < 0.7 ? 1 : 0));
    t.run(1);
    grads.push(t.arenas.grad.slice());
  }
  assert.ok(grads[0]!.some((g) => g !== 0));
  assert.deepEqual(grads[0], grads[1]);
});

/** Every view a step reads or writes. */
function viewsOf(step: Step): View[] {
  return Object.values(step).filter((x): x is View =>
    typeof x === "object" && x !== null && "arena" in x
  );
}

Deno.test("compilePlan() plans dact so that no two live regions overlap and every gradient view is live", () => {
  const plans = [
    compilePlan(smallSkip(), {
      ...base,
      height: 37,
      width: 53,
      dataTerm: { kind: "compose", terms: [downsampleTerm(2), { kind: "mask" }] },
    }),
    compilePlan(denoisingNet(), { ...base, batch: 1, height: 64, width: 64 }),
    compilePlan(resnet({ blocks: 3, channels: 4 }), { ...base, height: 8, width: 8 }),
  ];
  for (const plan of plans) {
    const regions = gradientRegions(plan);
    assert.ok(regions && regions.length > 0);
    for (let i = 0; i < regions.length; i++) {
      for (let j = i + 1; j < regions.length; j++) {
        // Explicit types: the whole suite's type check has found these circular (TS7022), inferred
        // through assert.ok's narrowing inside the loop.
        const a: GradientRegion = regions[i]!, b: GradientRegion = regions[j]!;
        const bothLive: boolean = a.first <= b.last && b.first <= a.last;
        const disjoint: boolean = a.offset + a.size <= b.offset || b.offset + b.size <= a.offset;
        assert.ok(!bothLive || disjoint, `${a.tensor} and ${b.tensor} overlap while both live`);
      }
      assert.ok(regions[i]!.offset + regions[i]!.size <= plan.arenaSizes.dact);
    }
    [...plan.loss, ...plan.backward].forEach((step, i) => {
      for (const v of viewsOf(step).filter((v) => v.arena === "dact")) {
        const lo = v.offset, hi = v.offset + (plan.batch - 1) * v.batchStride + v.c * v.h * v.w;
        assert.ok(
          regions.some((r) =>
            r.first <= i && i <= r.last && r.offset <= lo && hi <= r.offset + r.size
          ),
          `${step.kind} ${stepLabel(step)} touches dact outside a live region`,
        );
      }
    });
    for (const step of [...plan.forward, ...plan.update]) {
      assert.ok(viewsOf(step).every((v) => v.arena !== "dact"), `${step.kind} does not touch dact`);
    }
  }
});

Deno.test("compilePlan() counts the reference forward cost of the denoising net", () => {
  const plan = compilePlan(denoisingNet(), { ...base, batch: 1, height: 512, width: 512 });
  // REFERENCE.md §1a: ≈ 77.5 GMAC at 512².
  assert.ok(Math.abs(plan.forwardMacs / 1e9 - 77.5) < 0.1, `${plan.forwardMacs}`);
});

Deno.test("compilePlan() builds the update steps the options ask for", () => {
  const plan = compilePlan(smallSkip(), {
    ...base,
    height: 16,
    width: 16,
    emaDecay: 0.99,
    earlyStopWindow: 5,
  });
  assert.deepEqual(plan.update.map((s) => s.kind), ["adam", "ema", "psnr", "wmv"]);
  assert.ok(plan.io.best && plan.scalars.wmv);
  const plain = compilePlan(smallSkip(), { ...base, height: 16, width: 16 });
  assert.deepEqual(plain.update.map((s) => s.kind), ["adam", "psnr"]);
  assert.equal(plain.forward[0]!.kind, "input_noise");
  const adam = plain.update[0]!;
  assert.ok(adam.kind === "adam");
  assert.deepEqual([adam.beta1, adam.beta2, adam.eps, adam.size], [
    0.9,
    0.999,
    1e-8,
    plain.arenaSizes.param,
  ]);
});

Deno.test("compilePlan() gives the Deep Decoder a small z", () => {
  const plan = compilePlan(deepDecoder({ channels: 4, upsamplings: 2 }), {
    ...base,
    height: 16,
    width: 12,
  });
  assert.deepEqual([plan.io.z0.c, plan.io.z0.h, plan.io.z0.w], [4, 4, 3]);
});

Deno.test("compilePlan() rejects sizes the network cannot take, naming the reason", () => {
  assert.throws(
    () =>
      compilePlan(skip({ inputChannels: 2, channelsDown: [4, 4, 4], channelsSkip: [0, 0, 0] }), {
        ...base,
        height: 20,
        width: 16,
      }),
    /expected the output to be 20×16 but it is 24×16; use a size that is a multiple of 8/,
  );
  assert.throws(
    () =>
      compilePlan(skip({ inputChannels: 2, channelsDown: [4, 4, 4], channelsSkip: [1, 1, 1] }), {
        ...base,
        height: 4,
        width: 4,
      }),
    /needs reflection padding 1 but its input is 1×1/,
  );
  assert.throws(
    () => compilePlan(smallSkip(), { ...base, height: 0, width: 4 }),
    /positive integer for height but received 0/,
  );
  assert.throws(
    () =>
      compilePlan(smallSkip(), {
        ...base,
        height: 8,
        width: 8,
        dataTerm: { kind: "compose", terms: [{ kind: "mask" }, downsampleTerm(2)] },
      }),
    /expected the mask last in a compose data term but received it at position 1 of 2/,
  );
});

Deno.test("describePlan() lists arenas and every step", () => {
  const plan = compilePlan(smallSkip(), { ...base, height: 16, width: 16 });
  const text = describePlan(plan);
  assert.match(text, /param\s+\d+/);
  assert.match(text, new RegExp(`backward \\(${plan.backward.length} steps\\)`));
  assert.equal(text.split("\n").length, 2 + 9 + 4 + steps(plan).length);
});
