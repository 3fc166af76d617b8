import assert from "node:assert/strict";
import { type Image, makeImage } from "../core/image.ts";
import { cropBorder, lumaY, psnr, psnrY, ssim } from "../image/metrics.ts";
import { metricsOp } from "../ops/metrics.ts";
import { testCard } from "../image/testcard.ts";
import type { Frame } from "../core/types.ts";

function constant(channels: 1 | 3, h: number, w: number, value: number): Image {
  return makeImage(channels, h, w, new Float32Array(channels * h * w).fill(value), "const");
}

function map(image: Image, f: (v: number, i: number) => number): Image {
  return makeImage(image.channels, image.height, image.width, image.data.map(f), image.name);
}

/** Deterministic pseudo-random values in [0, 1) (an LCG), independent of dip/degrade.ts. */
function randomImage(channels: 1 | 3, h: number, w: number, seed: number): Image {
  let s = seed;
  const data = new Float32Array(channels * h * w).map(() => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  });
  return makeImage(channels, h, w, data, "random");
}

/**
 * SSIM the slow, direct way: for every valid 11×11 window position, Gaussian-weighted means,
 * variances and covariance summed over the 121 taps (Wang et al. 2004, eqs. 13–14).
 */
function slowSsim(a: Image, b: Image): number {
  const g: number[] = [];
  for (let i = 0; i < 11; i++) g.push(Math.exp(-((i - 5) ** 2) / (2 * 1.5 * 1.5)));
  const total = g.reduce((s, v) => s + v, 0);
  const weight = (i: number, j: number) => (g[i]! / total) * (g[j]! / total);
  const [c1, c2] = [0.01 ** 2, 0.03 ** 2];
  const { height: h, width: w } = a;
  let sum = 0;
  for (let c = 0; c < a.channels; c++) {
    let channelSum = 0;
    for (let y = 0; y + 11 <= h; y++) {
      for (let x = 0; x + 11 <= w; x++) {
        const at = (i: number, j: number) => c * h * w + (y + i) * w + x + j;
        let [mx, my] = [0, 0];
        for (let i = 0; i < 11; i++) {
          for (let j = 0; j < 11; j++) {
            mx += weight(i, j) * a.data[at(i, j)]!;
            my += weight(i, j) * b.data[at(i, j)]!;
          }
        }
        let [vx, vy, cov] = [0, 0, 0];
        for (let i = 0; i < 11; i++) {
          for (let j = 0; j < 11; j++) {
            const dx = a.data[at(i, j)]! - mx;
            const dy = b.data[at(i, j)]! - my;
            vx += weight(i, j) * dx * dx;
            vy += weight(i, j) * dy * dy;
            cov += weight(i, j) * dx * dy;
          }
        }
        channelSum += ((2 * mx * my + c1) * (2 * cov + c2)) /
          ((mx * mx + my * my + c1) * (vx + vy + c2));
      }
    }
    sum += channelSum / ((h - 10) * (w - 10));
  }
  return sum / a.channels;
}

Deno.test("psnr() of a constant 0.1 offset is 20 dB, identical images give Infinity", () => {
  const a = constant(3, 4, 6, 0.25);
  const b = constant(3, 4, 6, 0.35);
  assert.ok(Math.abs(psnr(a, b) - 20) < 1e-5, `${psnr(a, b)}`);
  assert.equal(psnr(a, a), Infinity);
  // Half the values off by 0.2: MSE = 0.02, PSNR = 10·log10(50).
  const half = map(a, (v, i) => (i % 2 === 0 ? v + 0.2 : v));
  assert.ok(Math.abs(psnr(a, half) - 10 * Math.log10(50)) < 1e-4);
});

Deno.test("psnr() names both shapes when they differ", () => {
  assert.throws(
    () => psnr(constant(3, 4, 4, 0), constant(1, 4, 4, 0)),
    /psnr: expected images of the same shape but received 3×4×4 and 1×4×4/,
  );
});

Deno.test("psnrY() scores BT.601 luma on [16, 235]/255 and crops borders", () => {
  const a = constant(3, 12, 12, 0.5);
  const b = constant(3, 12, 12, 0.6);
  // ΔY = 0.1·(65.481 + 128.553 + 24.966)/255 = 0.1·219/255.
  const expected = -20 * Math.log10((0.1 * 219) / 255);
  assert.ok(Math.abs(psnrY(a, b) - expected) < 1e-4, `${psnrY(a, b)} vs ${expected}`);
  assert.ok(Math.abs(lumaY(constant(3, 1, 1, 0)).data[0]! - 16 / 255) < 1e-7);
  assert.ok(Math.abs(lumaY(constant(3, 1, 1, 1)).data[0]! - 235 / 255) < 1e-6);
  // Gray images use their channel: a 0.1 offset is 20 dB.
  assert.ok(Math.abs(psnrY(constant(1, 12, 12, 0.2), constant(1, 12, 12, 0.3)) - 20) < 1e-4);
  // Differences only in a 2-pixel border vanish with crop 2 but not with crop 1.
  const border = map(a, (v, i) => {
    const y = Math.floor((i % 144) / 12);
    const x = i % 12;
    return y < 2 || x < 2 || y >= 10 || x >= 10 ? 0 : v;
  });
  assert.equal(psnrY(a, border, 2), Infinity);
  assert.ok(Number.isFinite(psnrY(a, border, 1)));
  assert.deepEqual([cropBorder(a, 3).height, cropBorder(a, 3).width], [6, 6]);
  assert.throws(() => psnrY(a, b, 6), /cropBorder: a crop of 6 px per side leaves nothing/);
});

Deno.test("ssim() is 1 for identical images and matches the closed form for constants", () => {
  const card = testCard(24, 24);
  assert.ok(Math.abs(ssim(card, card) - 1) < 1e-12);
  // Constant images: variances vanish, so SSIM = (2ab + C1)/(a² + b² + C1).
  const [a, b] = [0.3, 0.5];
  const c1 = 0.01 ** 2;
  const expected = (2 * a * b + c1) / (a * a + b * b + c1);
  const got = ssim(constant(1, 16, 16, a), constant(1, 16, 16, b));
  assert.ok(Math.abs(got - expected) < 1e-6, `${got} vs ${expected}`);
  assert.throws(() => ssim(constant(1, 10, 20, 0), constant(1, 10, 20, 0)), /at least 11×11/);
});

Deno.test("ssim() matches a direct windowed computation for shifted, scaled and noisy images", () => {
  const x = randomImage(3, 16, 18, 7);
  const cases: [string, Image][] = [
    ["shifted", map(x, (v) => v * 0.8 + 0.1)],
    ["scaled", map(x, (v) => v * 0.5)],
    ["independent", randomImage(3, 16, 18, 99)],
    ["card", testCard(16, 18)],
  ];
  for (const [label, y] of cases) {
    const fast = ssim(x, y);
    const slow = slowSsim(x, y);
    assert.ok(Math.abs(fast - slow) < 1e-9, `${label}: ${fast} vs ${slow}`);
  }
  assert.ok(ssim(x, cases[2]![1]) < 0.2);
});

function frame(slots: Record<string, Image>): Frame {
  return { slots, meta: { name: "f", metrics: { old: 1 }, timings: {}, info: {} } };
}

Deno.test("metricsOp() adds psnr and ssim to meta.metrics from the chosen slots", async () => {
  const clean = testCard(24, 24);
  const image = map(clean, (v) => Math.min(1, v + 0.1));
  const op = metricsOp();
  assert.deepEqual([op.kind, op.reads, op.writes], ["metrics", ["clean", "image"], []]);
  const out = await op.run(frame({ clean, image }), {
    emit: () => {},
    outDir: ".",
    overwrite: true,
  });
  assert.equal(out.meta.metrics.old, 1);
  assert.equal(out.meta.metrics.psnr, psnr(clean, image));
  assert.equal(out.meta.metrics.ssim, ssim(clean, image));
  const yOp = metricsOp({ reference: "clean", target: "restored", yChannel: true, crop: 4 });
  const yOut = await yOp.run(frame({ clean, restored: image }), {
    emit: () => {},
    outDir: ".",
    overwrite: true,
  });
  assert.equal(yOut.meta.metrics.psnr, psnrY(clean, image, 4));
  await assert.rejects(
    op.run(frame({ clean, image: testCard(12, 12) }), {
      emit: () => {},
      outDir: ".",
      overwrite: true,
    }),
    /metrics: expected "image" to have the shape of "clean"/,
  );
});
