import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadImage } from "../image/load.ts";
import { saveImage } from "../image/save.ts";
import { testCard } from "../image/testcard.ts";
import { isPipeline, type Pipeline } from "../pipeline/dsl.ts";
import type { RunSummary } from "../pipeline/executor.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const EXAMPLES = join(ROOT, "examples");

async function recipe(file: string): Promise<Pipeline> {
  const module = await import(new URL(`../examples/${file}`, import.meta.url).href);
  assert.ok(isPipeline(module.default), `${file} default-exports a pipeline`);
  return module.default;
}

/** Runs an example recipe on a generated 30×22 PNG in a temp dir. */
async function runExample(
  file: string,
): Promise<{ summary: RunSummary; out: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "dipline-example-" });
  await saveImage(testCard(30, 22), join(dir, "card.png"));
  const out = join(dir, "out");
  const summary = await (await recipe(file)).run({ input: join(dir, "card.png"), outDir: out });
  assert.deepEqual(summary.failed, []);
  assert.equal(summary.done.length, 1);
  return { summary, out, dir };
}

Deno.test("every example recipe default-exports a pipeline that compiles", async () => {
  const files = [...Deno.readDirSync(EXAMPLES)].map((e) => e.name).filter((n) =>
    n.endsWith(".ts") && n !== "demo.ts"
  );
  assert.ok(files.length >= 6, files.join(", "));
  for (const file of files) {
    const graph = (await recipe(file)).compile();
    assert.ok(graph.nodes.length > 0, file);
  }
});

Deno.test("examples/degrade-noise.ts writes a noisy copy and scores it", async () => {
  const { summary, out, dir } = await runExample("degrade-noise.ts");
  const noisy = await loadImage(join(out, "card_noisy.png"));
  assert.deepEqual([noisy.height, noisy.width], [30, 22]);
  const psnr = summary.done[0]!.metrics["noisy.psnr"]!;
  assert.ok(psnr > 15 && psnr < 25, `σ = 25 noise gives about 20 dB, received ${psnr}`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("examples/degrade-downsample.ts writes the ×4 low-resolution image", async () => {
  const { out, dir } = await runExample("degrade-downsample.ts");
  const lr = await loadImage(join(out, "card_lr4.png"));
  assert.deepEqual([lr.height, lr.width], [Math.floor(30 / 4), Math.floor(22 / 4)]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("examples/degrade-drop.ts and degrade-text.ts write the image and its mask", async () => {
  for (
    const [file, image, mask] of [
      ["degrade-drop.ts", "card_dropped.png", "card_mask.png"],
      ["degrade-text.ts", "card_text.png", "card_text_mask.png"],
    ]
  ) {
    const { out, dir } = await runExample(file!);
    const damaged = await loadImage(join(out, image!));
    const holes = await loadImage(join(out, mask!));
    assert.equal(holes.channels, 1);
    assert.deepEqual([holes.height, holes.width, damaged.height, damaged.width], [30, 22, 30, 22]);
    const missing = holes.data.filter((v) => v === 0).length;
    assert.ok(missing > 0 && missing < holes.data.length, `${file}: some pixels are holes`);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/degrade-jpeg.ts and metrics.ts score what they did", async () => {
  const jpeg = await runExample("degrade-jpeg.ts");
  assert.ok(jpeg.summary.done[0]!.metrics["jpeg10.psnr"]! < 40);
  await Deno.remove(jpeg.dir, { recursive: true });

  const scored = await runExample("metrics.ts");
  const metrics = scored.summary.done[0]!.metrics;
  assert.deepEqual(Object.keys(metrics).sort(), ["rgb.psnr", "rgb.ssim", "y.psnr", "y.ssim"]);
  assert.deepEqual(scored.summary.done[0]!.outputs, [], "metrics.ts writes no files");
  await Deno.remove(scored.dir, { recursive: true });
});

Deno.test("the demo runs under its -P=demo permission set and writes out/demo", async () => {
  const written = ["testcard_clean.png", "testcard_noisy.png", "testcard_restored.png"].map((
    name,
  ) => join(ROOT, "out", "demo", name));
  for (const path of written) await Deno.remove(path).catch(() => {});
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-P=demo", "examples/demo.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    // A few steps check the wiring; whether DIP improves PSNR is dipFit's own test.
    env: { NO_COLOR: "1", DIPLINE_DEMO_ITERATIONS: "4" },
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const noisy = /PSNR noisy: +(\d+\.\d+) dB/.exec(stdout);
  assert.ok(noisy && Number(noisy[1]) > 15 && Number(noisy[1]) < 25, stdout);
  assert.match(stdout, /PSNR restored: +\d+\.\d+ dB/);
  for (const path of written) assert.ok((await Deno.stat(path)).isFile, path);
});

Deno.test("examples/deblur.ts blurs, then adds noise, and deblurs with the same σ", async () => {
  const nodes = (await recipe("deblur.ts")).compile().nodes.map((n) => n.op);
  const degrade = nodes.find((op) => op.kind === "degrade")!;
  const fit = nodes.find((op) => op.kind === "dipFit")!;
  assert.ok((degrade.params.noise as number) > 0, "the observation is noisy");
  assert.equal(fit.params.task, "deblur");
  assert.equal(fit.params.sigma, degrade.params.blur);
});
