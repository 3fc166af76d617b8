import { deepStrictEqual as deepEqual, equal, ok } from "node:assert/strict";
import { degradeImage } from "../dip/degrade.ts";
import { makeImage } from "../core/image.ts";
import { loadImage } from "../image/load.ts";
import { saveImage } from "../image/save.ts";

/** Tiny fits: 4 channels per level, 2 steps, the plain-TypeScript reference engine. */
const FAST = ["--engine", "reference", "--channels", "4", "--iterations", "2"];

async function dipline(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const cli = new URL("../cli.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

function ramp(channels: 1 | 3, height: number, width: number) {
  const data = new Float32Array(channels * height * width).map((_, i) => ((i * 7) % 101) / 101);
  return makeImage(channels, height, width, data, "ramp");
}

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("dipline denoise --json prints one summary object and writes the input's size", async () => {
  await withDir(async (dir) => {
    await saveImage(ramp(3, 21, 19), `${dir}/in.png`);
    const { code, stdout, stderr } = await dipline([
      "denoise",
      `${dir}/in.png`,
      "-o",
      `${dir}/out.png`,
      ...FAST,
      "--reference",
      `${dir}/in.png`,
      "--json",
    ]);
    equal(code, 0, stderr);
    const lines = stdout.trim().split("\n");
    equal(lines.length, 1);
    const summary = JSON.parse(lines[0]!);
    deepEqual([summary.iterations, summary.engine, summary.task], [2, "reference", "denoise"]);
    ok(typeof summary.msPerStep === "number" && summary.msPerStep > 0);
    ok(typeof summary.adapter === "string");
    ok(Number.isFinite(summary.psnr) && summary.ssim <= 1);
    const out = await loadImage(`${dir}/out.png`);
    deepEqual([out.channels, out.height, out.width], [3, 21, 19]);
  });
});

Deno.test("dipline sr writes an image factor times larger; inpaint and restore-flash keep the size", async () => {
  await withDir(async (dir) => {
    await saveImage(ramp(1, 17, 15), `${dir}/gray.png`);
    const sr = await dipline([
      "sr",
      `${dir}/gray.png`,
      "-o",
      `${dir}/sr.png`,
      "--factor",
      "2",
      ...FAST,
    ]);
    equal(sr.code, 0, sr.stderr);
    const big = await loadImage(`${dir}/sr.png`);
    deepEqual([big.channels, big.height, big.width], [1, 34, 30]);

    await saveImage(ramp(3, 13, 9), `${dir}/rgb.png`);
    const mask = makeImage(1, 13, 9, new Float32Array(117).map((_, i) => (i % 4 === 0 ? 0 : 1)));
    await saveImage(mask, `${dir}/mask.png`);
    const inpaint = await dipline([
      "inpaint",
      `${dir}/rgb.png`,
      "--mask",
      `${dir}/mask.png`,
      "-o",
      `${dir}/filled.png`,
      ...FAST,
    ]);
    equal(inpaint.code, 0, inpaint.stderr);
    const filled = await loadImage(`${dir}/filled.png`);
    deepEqual([filled.height, filled.width], [13, 9]);

    const flash = await dipline([
      "restore-flash",
      `${dir}/rgb.png`,
      `${dir}/rgb.png`,
      "-o",
      `${dir}/flash.png`,
      ...FAST,
    ]);
    equal(flash.code, 0, flash.stderr);
    const restored = await loadImage(`${dir}/flash.png`);
    deepEqual([restored.height, restored.width], [13, 9]);
  });
});

Deno.test("fit shortcuts refuse bad command lines with exit 2 and bad files with exit 1", async () => {
  await withDir(async (dir) => {
    await saveImage(ramp(3, 8, 8), `${dir}/in.png`);
    const noMask = await dipline(["inpaint", `${dir}/in.png`, "-o", `${dir}/o.png`]);
    equal(noMask.code, 2);
    ok(noMask.stderr.includes("Expected --mask FILE"), noMask.stderr);
    const unknown = await dipline([
      "denoise",
      `${dir}/in.png`,
      "-o",
      `${dir}/o.png`,
      "--iters",
      "3",
    ]);
    equal(unknown.code, 2);
    ok(unknown.stderr.includes("--iters"), unknown.stderr);
    const factor = await dipline(["sr", `${dir}/in.png`, "-o", `${dir}/o.png`, "--factor", "3"]);
    equal(factor.code, 2);
    ok(factor.stderr.includes("Expected 2, 4 or 8 for factor but received 3"), factor.stderr);
    const preset = await dipline([
      "sr",
      `${dir}/in.png`,
      "-o",
      `${dir}/o.png`,
      "--preset",
      "flash",
    ]);
    equal(preset.code, 2);
    const noOut = await dipline(["denoise", `${dir}/in.png`]);
    equal(noOut.code, 2);
    const missing = await dipline(["denoise", `${dir}/absent.png`, "-o", `${dir}/o.png`, ...FAST]);
    equal(missing.code, 1);
    ok(missing.stderr.includes("absent.png"), missing.stderr);
    equal(missing.stderr.trim().split("\n").length, 1);
  });
});

Deno.test("dipline degrade --blur --noise, then deblur, keeps the size; bad --sigma exits 2", async () => {
  await withDir(async (dir) => {
    await saveImage(ramp(3, 11, 14), `${dir}/clean.png`);
    // the natural recipe: blur, then noise, in one degrade call
    const blurred = await dipline([
      "degrade",
      `${dir}/clean.png`,
      "-o",
      `${dir}/in.png`,
      "--blur",
      "1.5",
      "--noise",
      "3",
      "--seed",
      "2",
    ]);
    equal(blurred.code, 0, blurred.stderr);
    const clean = await loadImage(`${dir}/clean.png`);
    const expected = (await degradeImage(clean, { blur: 1.5, noise: 3, seed: 2 })).image.data;
    const written = (await loadImage(`${dir}/in.png`)).data;
    ok(written.every((v, i) => Math.abs(v - expected[i]!) <= 0.5 / 255 + 1e-6), "8-bit rounding");
    const ok1 = await dipline([
      "deblur",
      `${dir}/in.png`,
      "-o",
      `${dir}/sharp.png`,
      "--sigma",
      "1.5",
      ...FAST,
      "--json",
    ]);
    equal(ok1.code, 0, ok1.stderr);
    const summary = JSON.parse(ok1.stdout.trim());
    deepEqual([summary.task, summary.preset, summary.iterations], ["deblur", "deblur", 2]);
    const out = await loadImage(`${dir}/sharp.png`);
    deepEqual([out.channels, out.height, out.width], [3, 11, 14]);

    const noSigma = await dipline(["deblur", `${dir}/in.png`, "-o", `${dir}/o.png`, ...FAST]);
    equal(noSigma.code, 2);
    ok(noSigma.stderr.includes("Expected --sigma SIGMA"), noSigma.stderr);
    const zero = await dipline(["deblur", `${dir}/in.png`, "-o", `${dir}/o.png`, "--sigma", "0"]);
    equal(zero.code, 2);
    ok(zero.stderr.includes("Expected number > 0 for sigma but received 0"), zero.stderr);
    const missing = await dipline([
      "deblur",
      `${dir}/absent.png`,
      "-o",
      `${dir}/o.png`,
      "--sigma",
      "1",
      ...FAST,
    ]);
    equal(missing.code, 1);
    ok(missing.stderr.includes("absent.png"), missing.stderr);
  });
});
