import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadImage } from "../image/load.ts";
import { cropBorder, lumaY, psnr, ssim } from "../image/metrics.ts";
import { encodeImage, saveImage } from "../image/save.ts";
import { testCard } from "../image/testcard.ts";
import { pngHeaderOnly } from "./fixtures.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Runs `deno run -A cli.ts …args` from the repository root. */
async function dipline(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "cli.ts"), ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
}

/** Asserts one stderr line, no stack trace. */
function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line but received:\n${stderr}`);
  assert.match(lines[0]!, pattern);
  assert.ok(!/\bat .*:\d+:\d+/.test(stderr), `no stack trace:\n${stderr}`);
}

/** Writes one file per bad-input kind into `dir`; returns name → path (the folder and a missing path included). */
async function badInputs(dir: string): Promise<Record<string, string>> {
  const card = testCard(16, 16);
  const png = await encodeImage(card, { format: "png" });
  const jpeg = await encodeImage(card, { format: "jpeg", quality: 90 });
  const damaged = png.slice();
  // Flip bytes inside the first chunk after IHDR (its CRC no longer matches).
  for (let i = 40; i < 48; i++) damaged[i] = damaged[i]! ^ 0xff;
  const files: Record<string, Uint8Array> = {
    "empty.png": new Uint8Array(),
    "notes.png": new TextEncoder().encode("these are notes, not pixels"),
    "cut.png": png.slice(0, Math.floor(png.length / 2)),
    "cut.jpg": jpeg.slice(0, Math.floor(jpeg.length / 2)),
    "damaged.png": damaged,
    "huge.png": pngHeaderOnly(100_000, 100_000),
  };
  const paths: Record<string, string> = {};
  for (const [name, bytes] of Object.entries(files)) {
    paths[name] = join(dir, name);
    await Deno.writeFile(paths[name], bytes);
  }
  paths["folder"] = join(dir, "a-folder");
  await Deno.mkdir(paths["folder"]);
  paths["missing"] = join(dir, "missing.png");
  return paths;
}

Deno.test("dipline --help and every subcommand's --help exit 0 with usage", async () => {
  const top = await dipline("--help");
  assert.equal(top.code, 0);
  for (const name of ["run", "degrade", "metrics"]) {
    assert.match(top.stdout, new RegExp(`\\n  ${name} `));
    const sub = await dipline(name, "--help");
    assert.equal(sub.code, 0, sub.stderr);
    assert.match(sub.stdout, new RegExp(`^Usage: dipline ${name} `));
  }
});

Deno.test("usage errors exit 2 with one line and a hint to --help", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-cli-" });
  const input = join(dir, "in.png");
  await saveImage(testCard(16, 16), input);
  const cases: [string[], RegExp][] = [
    [[], /Usage: dipline/],
    [["frobnicate"], /unknown command 'frobnicate'/],
    [
      ["degrade", input, "-o", join(dir, "o.png"), "--noise", "5", "--nosie", "5"],
      /unknown option '--nosie'.*--help/,
    ],
    [["degrade", input, "--noise", "5"], /Expected -o <out>/],
    [
      ["degrade", input, "-o", join(dir, "o.png")],
      /Expected exactly one of --noise.*received none/,
    ],
    [
      ["degrade", input, "-o", join(dir, "o.png"), "--noise", "5", "--jpeg", "50"],
      /received --noise --jpeg/,
    ],
    [["degrade", input, "-o", join(dir, "o.png"), "--drop", "0.5"], /--mask-out MASK with --drop/],
    [
      ["degrade", input, "-o", join(dir, "o.png"), "--noise", "abc"],
      /Expected number for --noise but received "abc"/,
    ],
    [["degrade", input, "-o", join(dir, "o.png"), "--downsample", "3"], /downsample/],
    [["metrics", input], /Expected <image> <reference> but received 1/],
    [["metrics", input, input, "--crop", "-1"], /--crop/],
    [["run"], /Expected <recipe.ts>/],
    [
      ["run", "examples/degrade-noise.ts", "--input", input, "--shard", "2/2"],
      /shard i\/n with 0 ≤ i < n/,
    ],
  ];
  await Promise.all(cases.map(async ([args, pattern]) => {
    const { code, stdout, stderr } = await dipline(...args);
    assert.equal(code, 2, `${args.join(" ")}\n${stderr}`);
    if (args.length === 0) assert.match(stdout, pattern);
    else assertOneLine(stderr, pattern);
  }));
  await assert.rejects(() => Deno.stat(join(dir, "o.png")), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("each kind of bad input exits 1 with one line naming the file, no stack trace", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-cli-bad-" });
  const good = join(dir, "good.png");
  await saveImage(testCard(16, 16), good);
  const bad = await badInputs(dir);
  await Promise.all(
    Object.entries(bad).map(async ([kind, path]) => {
      const out = join(dir, `out-${kind}.png`);
      const degraded = await dipline("degrade", path, "-o", out, "--noise", "10");
      assert.equal(degraded.code, 1, `${kind}: ${degraded.stderr}`);
      assertOneLine(
        degraded.stderr,
        new RegExp(path.replaceAll(/[.*+?^${}()|[\]\\]/g, "\\$&") + ": \\S"),
      );
      await assert.rejects(() => Deno.stat(out), Deno.errors.NotFound, `${kind}: no output`);
      const scored = await dipline("metrics", good, path);
      assert.equal(scored.code, 1, `${kind}: ${scored.stderr}`);
      assertOneLine(
        scored.stderr,
        new RegExp(kind === "folder" ? "a-folder" : path.split("/").at(-1)!.replace(".", "\\.")),
      );
    }),
  );
  const leftovers = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
    n.startsWith("out-") || n.includes("tmp")
  );
  assert.deepEqual(leftovers, [], "no output or temp file left behind");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("--max-pixels refuses larger inputs with one line; a bad value is a usage error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-cli-pixels-" });
  const input = join(dir, "in.png");
  await saveImage(testCard(16, 16), input);
  const refused = await dipline(
    "degrade",
    input,
    "-o",
    join(dir, "o.png"),
    "--noise",
    "5",
    "--max-pixels",
    "100",
  );
  assert.equal(refused.code, 1);
  assertOneLine(refused.stderr, /in\.png: .*256.*100/);
  const bad = await dipline("metrics", input, input, "--max-pixels", "1.5");
  assert.equal(bad.code, 2);
  assertOneLine(bad.stderr, /Expected positive integer for --max-pixels but received 1\.5/);
  const allowed = await dipline("metrics", input, input, "--max-pixels", "256");
  assert.equal(allowed.code, 0, allowed.stderr);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("--debug prints the stack of an input error", async () => {
  const { code, stderr } = await dipline(
    "metrics",
    "/nonexistent/a.png",
    "/nonexistent/b.png",
    "--debug",
  );
  assert.equal(code, 1);
  assert.match(stderr, /a\.png/);
  assert.ok(stderr.trim().split("\n").length > 1, "a stack trace follows");
});

Deno.test("metrics prints one JSON object with psnr and ssim of the two files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-cli-metrics-" });
  const [a, b] = [join(dir, "a.png"), join(dir, "b.png")];
  await saveImage(testCard(32, 24), a);
  const dark = testCard(32, 24);
  await saveImage({ ...dark, data: dark.data.map((v) => v * 0.9) }, b);
  const [imageA, imageB] = [await loadImage(a), await loadImage(b)];

  const plain = await dipline("metrics", a, b);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout.trim().split("\n").length, 1);
  assert.deepEqual(JSON.parse(plain.stdout), {
    psnr: psnr(imageA, imageB),
    ssim: ssim(imageA, imageB),
  });

  const luma = await dipline("metrics", a, b, "--y-channel", "--crop", "2");
  const [ya, yb] = [cropBorder(lumaY(imageA), 2), cropBorder(lumaY(imageB), 2)];
  assert.deepEqual(JSON.parse(luma.stdout), { psnr: psnr(ya, yb), ssim: ssim(ya, yb) });

  const same = await dipline("metrics", a, a);
  assert.deepEqual(JSON.parse(same.stdout), { psnr: null, ssim: 1 });

  const small = join(dir, "small.png");
  await saveImage(testCard(16, 16), small);
  const mismatch = await dipline("metrics", a, small);
  assert.equal(mismatch.code, 1);
  assertOneLine(
    mismatch.stderr,
    /a\.png to have the shape of .*small\.png \(3×16×16\) but received 3×32×24/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("degrade writes each mode's output, seeded and with masks where asked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-cli-degrade-" });
  const input = join(dir, "in.png");
  await saveImage(testCard(32, 24), input);
  const original = await loadImage(input);
  const run = async (out: string, ...flags: string[]) => {
    const result = await dipline("degrade", input, "-o", join(dir, out), ...flags);
    assert.equal(result.code, 0, result.stderr);
    return await loadImage(join(dir, out));
  };
  const noisy = await run("noisy.png", "--noise", "25", "--seed", "3");
  assert.deepEqual([noisy.channels, noisy.height, noisy.width], [3, 32, 24]);
  assert.ok(psnr(original, noisy) < 30);
  const again = await run("noisy2.png", "--noise", "25", "--seed", "3");
  assert.deepEqual(again.data, noisy.data, "same seed, same output");
  const other = await run("noisy3.png", "--noise", "25", "--seed", "4");
  assert.notDeepEqual(other.data, noisy.data);

  const small = await run("lr.png", "--downsample", "4");
  assert.deepEqual([small.height, small.width], [8, 6]);

  const dropped = await run("drop.png", "--drop", "0.5", "--mask-out", join(dir, "drop-mask.png"));
  const mask = await loadImage(join(dir, "drop-mask.png"));
  assert.equal(mask.channels, 1);
  assert.ok(mask.data.every((v) => v === 0 || v === 1));
  const kept = mask.data.reduce((n, v) => n + v, 0) / mask.data.length;
  assert.ok(kept > 0.3 && kept < 0.7, `kept fraction ${kept}`);
  const plane = 32 * 24;
  for (let i = 0; i < plane; i++) {
    if (mask.data[i] === 0) assert.equal(dropped.data[i], 0, "a dropped pixel is 0");
  }

  await run("text.png", "--text", "hi", "--mask-out", join(dir, "text-mask.png"));
  const textMask = await loadImage(join(dir, "text-mask.png"));
  assert.ok(textMask.data.some((v) => v === 0) && textMask.data.some((v) => v === 1));

  const jpeg = await run("q10.png", "--jpeg", "10");
  assert.deepEqual([jpeg.height, jpeg.width], [32, 24]);
  assert.ok(psnr(original, jpeg) < 40 && psnr(original, jpeg) > 10);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("run: a batch with one bad file goes on, lists it and exits 1; a rerun resumes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-cli-run-" });
  const photos = join(dir, "photos");
  await Deno.mkdir(photos);
  await saveImage(testCard(16, 16), join(photos, "a.png"));
  await saveImage(testCard(16, 12), join(photos, "c.png"));
  await Deno.writeTextFile(join(photos, "b.png"), "not a png");
  const out = join(dir, "out");
  const first = await dipline("run", "examples/degrade-noise.ts", "--input", photos, "--out", out);
  assert.equal(first.code, 1, first.stderr);
  assert.match(first.stderr, /2 done, 0 skipped, 1 failed/);
  assert.match(first.stderr, /Failed:\n {2}\S*b\.png: /);
  assert.match(first.stdout, /^a: noisy\.psnr \d+\.\d{4} · noisy\.ssim/m);
  // (resume records are hidden files beside the outputs)
  const visible = [...Deno.readDirSync(out)].map((e) => e.name).filter((n) => !n.startsWith("."));
  assert.deepEqual(visible.sort(), ["a_noisy.png", "c_noisy.png"]);

  await Deno.remove(join(photos, "b.png"));
  const second = await dipline(
    "run",
    "examples/degrade-noise.ts",
    "--input",
    photos,
    "--out",
    out,
    "--json",
  );
  assert.equal(second.code, 0, second.stderr);
  const events = second.stdout.trim().split("\n").map((line) => JSON.parse(line));
  assert.deepEqual(events[0], { type: "start", total: 2, skipped: 2 });
  const summary = events.at(-1);
  assert.equal(summary.type, "summary");
  assert.deepEqual(summary.skipped, ["a", "c"]);

  const dry = await dipline(
    "run",
    "examples/degrade-noise.ts",
    "--input",
    photos,
    "--out",
    join(dir, "dry"),
    "--dry-run",
  );
  assert.equal(dry.code, 0);
  assert.match(dry.stdout, /1\. degrade\s+image → image, clean/);
  assert.match(dry.stdout, /input: .*photos \(2 files\)\n {2}a\.png\n {2}c\.png\n/);
  await assert.rejects(
    () => Deno.stat(join(dir, "dry")),
    Deno.errors.NotFound,
    "a dry run writes nothing",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("run refuses a wrong recipe before touching the input", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-cli-recipe-" });
  const mod = new URL("../mod.ts", import.meta.url).href;
  try {
    const broken = join(dir, "broken.ts");
    await Deno.writeTextFile(
      broken,
      `import { pipeline } from "${mod}";\nexport default pipeline().metrics();\n`,
    );
    const wrong = await dipline("run", broken, "--input", "/nonexistent");
    assert.equal(wrong.code, 2);
    assertOneLine(
      wrong.stderr,
      /metrics reads slot "clean" but no earlier op writes it \(slots available: image\)/,
    );

    const notRecipe = join(dir, "not-recipe.ts");
    await Deno.writeTextFile(notRecipe, "export const x = 1;\n");
    const none = await dipline("run", notRecipe, "--input", "/nonexistent");
    assert.equal(none.code, 1);
    assertOneLine(
      none.stderr,
      /not-recipe\.ts: Expected a recipe whose default export is a pipeline/,
    );

    const missingInput = await dipline(
      "run",
      "examples/degrade-noise.ts",
      "--input",
      "/nonexistent/photos",
    );
    assert.equal(missingInput.code, 1);
    assertOneLine(missingInput.stderr, /\/nonexistent\/photos: no such file or folder/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
