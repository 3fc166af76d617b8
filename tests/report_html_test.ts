/**
 * The HTML report (ops/report/html.ts), the `report` step and `run --report/--record`: what it
 * shows, in which order, how small it stays, and that a recipe's report step round-trips.
 */
import { equal, ok } from "node:assert/strict";
import { testCard } from "../image/testcard.ts";
import { saveImage } from "../image/save.ts";
import { thin } from "../ops/report/chart.ts";
import { psnrGain, renderReport } from "../ops/report/html.ts";
import { Pipeline, pipeline } from "../pipeline/dsl.ts";
import { recordPath, writeRunRecords, writeRunReport } from "../pipeline/run_report.ts";
import { tempDir } from "./fixtures.ts";
import { syntheticEntries } from "./report_helpers.ts";

const TINY_FIT = {
  task: "denoise",
  engine: "reference",
  iterations: 6,
  checkEvery: 2,
  inputDepth: 4,
  net: { channelsDown: [4, 4], channelsUp: [4, 4], channelsSkip: [2, 2] },
} as const;

Deno.test("renderReport() sorts the summary by PSNR gain and lists failures with their reason", async () => {
  const entries = await syntheticEntries(60);
  const html = renderReport({ created: "2026-01-01T00:00:00Z", entries });
  const rows = [...html.matchAll(/<tr><td><a href="#in-\d+-(img\d+)">/g)].map((m) => m[1]!);
  equal(rows.length, 59, "one row per restored input");
  const byName = new Map(entries.map((e) => [e.name, e]));
  const gains = rows.map((name) => psnrGain(byName.get(name)!)!);
  ok(gains.every((g, i) => i === 0 || g <= gains[i - 1]!), "sorted by gain, largest first");
  ok(html.includes("<h2>Failures</h2>"));
  ok(html.includes("img0049.png: not a PNG"));
  // Every restored input has two charts with their lines, the best and ES marks.
  equal(html.match(/<svg /g)?.length, 59 * 2);
  ok(html.includes('data-series="vs clean"'));
  ok(html.includes(">best</text>") && html.includes(">ES</text>"));
});

Deno.test("renderReport() escapes names and errors", () => {
  const html = renderReport({
    created: "now",
    entries: [{ name: "<b>x</b>", status: "failed", error: "<script>", metrics: {}, info: {} }],
  });
  ok(!html.includes("<script>") && html.includes("&lt;script&gt;"));
  ok(!html.includes("<b>x</b>"));
});

Deno.test("a report of 500 inputs stays small: thumbnails and thinned curves only", async () => {
  const html = renderReport({ created: "now", entries: await syntheticEntries(500) });
  const bytes = new TextEncoder().encode(html).length;
  ok(bytes < 10 * 1024 * 1024, `${(bytes / 1024 / 1024).toFixed(2)} MiB`);
  ok(!/<script/i.test(html), "no script: the report opens without running code");
});

Deno.test("thin() keeps a curve's peak when it thins it", () => {
  const steps = Array.from({ length: 1000 }, (_, i) => i);
  const values = steps.map((s) => (s === 637 ? 40 : 20));
  const kept = thin(steps, values, 100);
  equal(kept.length, 100);
  ok(kept.some(([s, v]) => s === 637 && v === 40));
});

Deno.test("the report step round-trips as JSON and writes one report when the run ends", async () => {
  const dir = await tempDir();
  try {
    for (const name of ["a", "b"]) await saveImage(testCard(16, 16), `${dir}/in/${name}.png`);
    const recipe = pipeline()
      .degrade({ noise: 25, seed: 1 })
      .dipFit(TINY_FIT)
      .metrics()
      .save("{name}_restored.png")
      .report("report.html", { title: "Two cards", restored: "{name}_restored.png" });
    const doc = recipe.toJSON();
    equal(doc.steps.at(-1)!.op, "report");
    const again = Pipeline.fromJSON(JSON.parse(JSON.stringify(doc)));
    const summary = await again.run({ input: `${dir}/in`, outDir: `${dir}/out` });
    equal(summary.done.length, 2);
    const html = await Deno.readTextFile(`${dir}/out/report.html`);
    ok(html.includes("<title>Two cards</title>"));
    ok(html.includes('href="a_restored.png"'), "the restored thumbnail links to its file");
    equal(html.match(/<section class="input"/g)?.length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a report step refuses a path that is not .html", () => {
  let message = "";
  try {
    pipeline().report("report.txt");
  } catch (error) {
    message = (error as Error).message;
  }
  ok(message.startsWith("report(): "), message);
});

Deno.test("writeRunReport() and writeRunRecords() cover done, up-to-date and failed inputs", async () => {
  const dir = await tempDir();
  try {
    await saveImage(testCard(16, 16), `${dir}/in/card.png`);
    await Deno.writeTextFile(`${dir}/in/broken.png`, "not an image");
    const recipe = pipeline().dipFit(TINY_FIT).save("{name}_restored.png");
    const first = await recipe.run({ input: `${dir}/in`, outDir: `${dir}/out` });
    equal(first.failed.length, 1);
    const written = await writeRunRecords(first, `${dir}/out`);
    equal(written[0], recordPath(first.done[0]!, `${dir}/out`));
    ok(written[0]!.endsWith("card_restored.record.json"));
    const saved = JSON.parse(await Deno.readTextFile(written[0]!));
    equal(saved.record.checks.step.length, 3);

    // A second run is up to date: its report still has the curves (from the resume record).
    const second = await recipe.run({ input: `${dir}/in`, outDir: `${dir}/out` });
    equal(second.resumed.length, 1);
    const bytes = await writeRunReport({
      path: `${dir}/out/report.html`,
      summary: second,
      recipe,
      settings: { input: "in/" },
    });
    const html = await Deno.readTextFile(`${dir}/out/report.html`);
    equal(bytes, new TextEncoder().encode(html).length);
    ok(html.includes("up to date"));
    ok(html.includes('data-series="loss"'));
    ok(html.includes("broken"), "the failure is listed");
    ok(html.includes("&quot;dipFit&quot;"), "the recipe is shown");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
