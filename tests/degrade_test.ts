import assert from "node:assert/strict";
import {
  addGaussianNoise,
  applyMask,
  bernoulliDrop,
  blur,
  degradeImage,
  jpegDegrade,
  lanczosDownsample,
  textMask,
} from "../dip/degrade.ts";
import { degradeOp } from "../ops/degrade.ts";
import { type Image, makeImage } from "../core/image.ts";
import { psnr } from "../image/metrics.ts";
import { gaussianBlur } from "../dip/operators.ts";
import { testCard } from "../image/testcard.ts";
import { RecipeError } from "../core/errors.ts";
import type { Frame } from "../core/types.ts";

function constant(channels: 1 | 3, h: number, w: number, value: number): Image {
  return makeImage(channels, h, w, new Float32Array(channels * h * w).fill(value), "const");
}

function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return s / values.length;
}

Deno.test("addGaussianNoise() has the requested σ, is seeded, and clips to [0, 1]", () => {
  const gray = constant(3, 64, 64, 0.5);
  const noisy = addGaussianNoise(gray, 10, 1);
  const residual = noisy.data.map((v) => v - 0.5);
  const std = Math.sqrt(mean(residual.map((r) => r * r)));
  // 12,288 samples: the standard error of the σ estimate is about 0.6%.
  assert.ok(Math.abs(std - 10 / 255) < 0.03 * (10 / 255), `σ ${std * 255}`);
  assert.ok(Math.abs(mean(residual)) < 0.002);
  assert.deepEqual(addGaussianNoise(gray, 10, 1).data, noisy.data);
  assert.notDeepEqual(addGaussianNoise(gray, 10, 2).data, noisy.data);
  const white = addGaussianNoise(constant(1, 32, 32, 1), 50, 3);
  assert.ok(white.data.every((v) => v >= 0 && v <= 1));
  assert.ok(white.data.some((v) => v === 1) && white.data.some((v) => v < 0.9));
  assert.throws(() => addGaussianNoise(gray, -1, 0), /sigma255 >= 0/);
});

Deno.test("lanczosDownsample() outputs floor(H/f)×floor(W/f) and keeps constants constant", () => {
  for (
    const [h, w, f, oh, ow] of [[13, 18, 4, 3, 4], [16, 16, 2, 8, 8], [17, 9, 8, 2, 1]] as const
  ) {
    const out = lanczosDownsample(constant(3, h, w, 0.37), f);
    assert.deepEqual([out.channels, out.height, out.width], [3, oh, ow]);
    for (const v of out.data) assert.ok(Math.abs(v - 0.37) < 1e-6, `${v}`);
  }
  assert.throws(() => lanczosDownsample(constant(1, 3, 3, 0), 4), /at least 4×4/);
});

// A 6×12 gray image and Pillow 9.4's `Image.fromarray(a, "F").resize((w, h), Image.LANCZOS)`
// of it (float mode, no rounding or clipping), computed once outside the test suite.
const ROW = [0.2, 0.3, 0.9, 0.5, 0.4, 0.6, 0.7, 0.25, 0.35, 0.8, 0.45, 0.55];
const PIL_INPUT = [
  ROW,
  [...ROW].reverse(),
  ROW.map((v) => v * 0.5 + 0.2),
  ROW,
  [...ROW].reverse().map((v) => v * 0.8),
  ROW,
];
const PIL_HALF = [
  [
    0.44110727310180664,
    0.5662130117416382,
    0.49513304233551025,
    0.4922005534172058,
    0.5600785613059998,
    0.45208773016929626,
  ],
  [
    0.3910036087036133,
    0.538120448589325,
    0.47200673818588257,
    0.4539211690425873,
    0.5002874732017517,
    0.4587235152721405,
  ],
  [
    0.3756312429904938,
    0.5402965545654297,
    0.46154552698135376,
    0.44528287649154663,
    0.5062769651412964,
    0.4365253448486328,
  ],
];
const PIL_QUARTER = [[0.47247514128685, 0.4945875108242035, 0.47938770055770874]];

Deno.test("lanczosDownsample() matches Pillow's LANCZOS resize", () => {
  const input = makeImage(1, 6, 12, new Float32Array(PIL_INPUT.flat()), "pil");
  for (const [factor, expected] of [[2, PIL_HALF], [4, PIL_QUARTER]] as const) {
    const out = lanczosDownsample(input, factor);
    assert.deepEqual([out.height, out.width], [expected.length, expected[0]!.length]);
    const flat = expected.flat();
    for (let i = 0; i < flat.length; i++) {
      assert.ok(Math.abs(out.data[i]! - flat[i]!) < 2e-6, `×${factor} [${i}]`);
    }
  }
});

Deno.test("lanczosDownsample() weights an impulse by the stretched Lanczos-3 kernel", () => {
  // One bright column at x = 3 of an 8-wide image, ×2: output column i is centred at
  // 2i + 1 (input pixel-centre coordinates 2i + 1.5 − 0.5), taps span centre ± 6 clipped to
  // [0, 8), and each tap's weight is L3((x + 0.5 − centre·) / 2), normalised over the taps.
  const sinc = (x: number) => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));
  const l3 = (x: number) => (Math.abs(x) < 3 ? sinc(x) * sinc(x / 3) : 0);
  const taps: [number, number, number][] = [[1, 0, 7], [3, 0, 8], [5, 0, 8], [7, 1, 8]]; // centre, first, end
  const data = new Float32Array(2 * 8);
  data[3] = 1;
  data[8 + 3] = 1; // both rows identical, so the vertical pass is the identity
  const out = lanczosDownsample(makeImage(1, 2, 8, data, "impulse"), 2);
  for (let i = 0; i < 4; i++) {
    const [centre, first, end] = taps[i]!;
    let total = 0;
    for (let x = first; x < end; x++) total += l3((x + 0.5 - centre) / 2);
    const expected = Math.min(1, Math.max(0, l3((3 + 0.5 - centre) / 2) / total));
    assert.ok(
      Math.abs(out.data[i]! - expected) < 1e-6,
      `column ${i}: ${out.data[i]} vs ${expected}`,
    );
  }
});

Deno.test("bernoulliDrop() keeps about `keep` of the pixels, zeroes the rest, and is seeded", () => {
  const card = testCard(64, 64);
  for (const keep of [0.5, 0.1, 0.9]) {
    const { image, mask } = bernoulliDrop(card, keep, 5);
    assert.equal(mask.channels, 1);
    const fraction = mean(mask.data);
    // 4,096 draws: the standard deviation of the fraction is at most 0.8%.
    assert.ok(Math.abs(fraction - keep) < 0.03, `keep ${keep}: ${fraction}`);
    const plane = 64 * 64;
    for (let i = 0; i < plane; i++) {
      assert.ok(mask.data[i] === 0 || mask.data[i] === 1);
      for (let c = 0; c < 3; c++) {
        assert.equal(image.data[c * plane + i], mask.data[i] === 1 ? card.data[c * plane + i] : 0);
      }
    }
  }
  assert.deepEqual(bernoulliDrop(card, 0.5, 5).mask.data, bernoulliDrop(card, 0.5, 5).mask.data);
  assert.notDeepEqual(bernoulliDrop(card, 0.5, 6).mask.data, bernoulliDrop(card, 0.5, 5).mask.data);
  assert.throws(() => bernoulliDrop(card, 1.5, 0), /keep in \[0, 1\]/);
});

Deno.test("applyMask() multiplies every channel and checks the mask shape", () => {
  const image = constant(3, 2, 2, 0.5);
  const mask = makeImage(1, 2, 2, new Float32Array([1, 0, 0, 1]), "m");
  assert.deepEqual(Array.from(applyMask(image, mask).data), [
    0.5,
    0,
    0,
    0.5,
    0.5,
    0,
    0,
    0.5,
    0.5,
    0,
    0,
    0.5,
  ]);
  assert.throws(
    () => applyMask(image, constant(1, 3, 2, 1)),
    /applyMask: expected a 1×2×2 mask but received 1×3×2/,
  );
});

Deno.test("textMask() covers part of the image with text, reproducibly per seed", async () => {
  const mask = await textMask(96, 128);
  assert.deepEqual([mask.channels, mask.height, mask.width], [1, 96, 128]);
  assert.ok(mask.data.every((v) => v === 0 || v === 1));
  const hidden = 1 - mean(mask.data);
  assert.ok(hidden > 0.03 && hidden < 0.4, `hidden fraction ${hidden}`);
  // Text lies in bands: some rows are fully known, some rows have holes.
  const rowHidden = Array.from(
    { length: 96 },
    (_, y) => mask.data.subarray(y * 128, (y + 1) * 128).some((v) => v === 0),
  );
  assert.ok(rowHidden.some((r) => r) && rowHidden.some((r) => !r));
  assert.deepEqual((await textMask(96, 128)).data, mask.data);
  assert.notDeepEqual((await textMask(96, 128, undefined, { seed: 1 })).data, mask.data);
  // A larger font gives taller bands of rows with holes.
  const tallestBand = (m: Image) => {
    let [best, run] = [0, 0];
    for (let y = 0; y < m.height; y++) {
      run = m.data.subarray(y * m.width, (y + 1) * m.width).some((v) => v === 0) ? run + 1 : 0;
      best = Math.max(best, run);
    }
    return best;
  };
  const big = await textMask(96, 128, "hello world", { fontSize: 30 });
  assert.ok(tallestBand(big) > tallestBand(mask), `${tallestBand(big)} vs ${tallestBand(mask)}`);
  await assert.rejects(textMask(10, 10, "   "), /non-empty text/);
});

Deno.test("jpegDegrade() compresses with real loss and keeps the channel count", async () => {
  const card = testCard(32, 32);
  const low = await jpegDegrade(card, 10);
  const high = await jpegDegrade(card, 95);
  assert.deepEqual([low.channels, low.height, low.width], [3, 32, 32]);
  assert.ok(psnr(card, high) > psnr(card, low) + 3);
  assert.ok(Number.isFinite(psnr(card, high)));
  const gray = await jpegDegrade(testCard(32, 32, 1), 50);
  assert.equal(gray.channels, 1);
  await assert.rejects(jpegDegrade(card, 0), /quality in 1–100/);
});

Deno.test("degradeImage() composes downsample, noise and masks reproducibly", async () => {
  const card = testCard(32, 48);
  const sr = await degradeImage(card, { downsample: 4, noise: 5, seed: 3 });
  assert.deepEqual([sr.image.height, sr.image.width, sr.mask], [8, 12, undefined]);
  assert.deepEqual(
    (await degradeImage(card, { downsample: 4, noise: 5, seed: 3 })).image.data,
    sr.image.data,
  );
  const holes = await degradeImage(card, { drop: 0.5, text: "hi", seed: 1 });
  assert.ok(holes.mask !== undefined);
  const plane = 32 * 48;
  for (let i = 0; i < plane; i++) {
    if (holes.mask.data[i] === 0) assert.equal(holes.image.data[i], 0);
  }
  await assert.rejects(degradeImage(card, { downsample: 3 as 2 }), RecipeError);
});

Deno.test("degradeOp() keeps the original in clean and writes the mask when it masks", async () => {
  const card = testCard(16, 16);
  const frame: Frame = {
    slots: { image: card },
    meta: { name: "c", metrics: {}, timings: {}, info: {} },
  };
  const ctx = { emit: () => {}, outDir: ".", overwrite: true };
  const noise = degradeOp({ noise: 25, seed: 0 });
  assert.deepEqual([noise.kind, noise.reads, noise.writes], ["degrade", ["image"], [
    "image",
    "clean",
  ]]);
  assert.deepEqual(noise.params, { noise: 25, seed: 0 });
  const noisy = await noise.run(frame, ctx);
  assert.equal(noisy.slots.clean, card);
  assert.deepEqual(noisy.slots.image!.data, addGaussianNoise(card, 25, 0).data);
  const drop = degradeOp({ drop: 0.5 });
  assert.deepEqual(drop.writes, ["image", "clean", "mask"]);
  const dropped = await drop.run(frame, ctx);
  assert.equal(dropped.slots.mask!.channels, 1);
  assert.throws(
    () => degradeOp({ noise: -5 }),
    /degrade\(\): Expected number ≥ 0 for noise but received -5 of type number/,
  );
  assert.throws(() => degradeOp({ sharpen: 2 } as never), /Unknown option "sharpen"/);
});

Deno.test("blur() is exactly the deblurring operator's forward model on an image", () => {
  const card = testCard(20, 24);
  const blurred = blur(card, 1.5);
  assert.deepEqual([blurred.channels, blurred.height, blurred.width], [3, 20, 24]);
  assert.deepEqual(blurred.data, gaussianBlur(1.5).apply(card.data, 3, 20, 24));
  assert.deepEqual(
    blur(card, 1.5, { radius: 2 }).data,
    gaussianBlur(1.5, { radius: 2 }).apply(card.data, 3, 20, 24),
  );
  // it loses detail, and more with a wider Gaussian
  assert.ok(psnr(blurred, card) < 40);
  assert.ok(psnr(blur(card, 3), card) < psnr(blurred, card));
  const gray = constant(1, 5, 7, 0.4);
  for (const v of blur(gray, 2).data) assert.ok(Math.abs(v - 0.4) < 1e-6);
  assert.throws(
    () => blur(card, 0),
    /blur: expected a finite sigma > 0 for gaussianBlur but received 0/,
  );
});

Deno.test("degradeImage() blurs before adding noise, and validates blur", async () => {
  const card = testCard(16, 16);
  const spec = { blur: 1, noise: 10, seed: 2 };
  const observed = await degradeImage(card, spec);
  assert.deepEqual(observed.image.data, addGaussianNoise(blur(card, 1), 10, 2).data);
  assert.deepEqual(observed.mask, undefined);
  const op = degradeOp(spec);
  assert.deepEqual([op.writes, op.params], [["image", "clean"], spec]);
  await assert.rejects(
    degradeImage(card, { blur: -1 }),
    /degrade\(\): Expected number > 0 for blur but received -1 of type number/,
  );
  assert.throws(() => degradeOp({ blur: "2" as unknown as number }), RecipeError);
});
