/**
 * Reruns that can be trusted: resume is keyed on the recipe and the input (a record beside the
 * outputs), a changed recipe or input is redone and said so, and inputs skipped as up to date
 * still report the scores they were written with.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { saveImage } from "../image/save.ts";
import { testCard } from "../image/testcard.ts";
import { pipeline } from "../pipeline/dsl.ts";
import { runPipeline } from "../pipeline/executor.ts";
import { readRecord, recordPathFor } from "../pipeline/records.ts";
import type { ProgressEvent } from "../core/types.ts";

async function folder(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dipline-resume-" });
  await saveImage(testCard(12, 12), join(dir, "a.png"));
  await saveImage(testCard(10, 14), join(dir, "b.png"));
  return dir;
}

const noisy = (noise: number) =>
  pipeline().degrade({ noise, seed: 1 }).metrics({ label: "noisy" }).save("{name}_noisy.png");

Deno.test("a changed recipe redoes every input and says why; the same recipe skips with its scores", async () => {
  const dir = await folder();
  const out = join(dir, "out");
  const first = await runPipeline(noisy(25), { input: dir, outDir: out });
  assert.deepEqual(first.done.map((r) => r.name), ["a", "b"]);
  const record = await readRecord(join(out, "a_noisy.png"));
  assert.equal(record?.outputs[0], "a_noisy.png");
  assert.equal(record?.metrics["noisy.psnr"], first.done[0]!.metrics["noisy.psnr"]);

  const again = await runPipeline(noisy(25), { input: dir, outDir: out });
  assert.deepEqual(again.done, []);
  assert.deepEqual(again.skipped, ["a", "b"]);
  assert.deepEqual(
    again.resumed.map((r) => [r.name, r.metrics]),
    first.done.map((r) => [r.name, r.metrics]),
    "skipped inputs report the scores they were written with",
  );

  const before = await Deno.readFile(join(out, "a_noisy.png"));
  const events: ProgressEvent[] = [];
  const changed = await runPipeline(noisy(50), {
    input: dir,
    outDir: out,
    onEvent: (e) => events.push(e),
  });
  assert.deepEqual(changed.done.map((r) => r.name), ["a", "b"]);
  assert.deepEqual(changed.redone, ["a", "b"]);
  assert.notDeepEqual(await Deno.readFile(join(out, "a_noisy.png")), before);
  const start = events.find((e) => e.type === "input-start");
  assert.ok(start?.type === "input-start");
  assert.equal(start.reason, "the recipe changed since its outputs were written");
  assert.ok(changed.done[0]!.metrics["noisy.psnr"]! < first.done[0]!.metrics["noisy.psnr"]!);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a changed input, a lost record or --force redoes it; records: false keeps name-only resume", async () => {
  const dir = await folder();
  const out = join(dir, "out");
  await runPipeline(noisy(25), { input: dir, outDir: out });
  // the input is replaced by another image
  await saveImage(testCard(16, 16), join(dir, "a.png"));
  const touched = await runPipeline(noisy(25), { input: dir, outDir: out });
  assert.deepEqual(touched.done.map((r) => r.name), ["a"]);
  assert.deepEqual(touched.skipped, ["b"]);
  // outputs without a record (an older dipline, or killed before the record): redone
  await Deno.remove(recordPathFor(join(out, "b_noisy.png")));
  const lost = await runPipeline(noisy(25), { input: dir, outDir: out });
  assert.deepEqual(lost.redone, ["b"]);
  const forced = await runPipeline(noisy(25), { input: dir, outDir: out, force: true });
  assert.deepEqual(forced.done.map((r) => r.name), ["a", "b"]);
  assert.deepEqual(forced.redone, []);
  await Deno.remove(recordPathFor(join(out, "a_noisy.png")));
  const nameOnly = await runPipeline(noisy(50), { input: dir, outDir: out, records: false });
  assert.deepEqual(nameOnly.skipped, ["a", "b"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a failing input leaves no record, so the next run redoes it", async () => {
  const dir = await folder();
  const out = join(dir, "out");
  await runPipeline(noisy(25), { input: dir, outDir: out });
  let fail = true;
  const flaky = pipeline().degrade({ noise: 30, seed: 1 }).use({
    kind: "flaky",
    reads: ["image"],
    writes: [],
    params: {},
    run: (frame) => (fail ? Promise.reject(new Error("disk hiccup")) : Promise.resolve(frame)),
  }).save("{name}_noisy.png");
  const failed = await runPipeline(flaky, { input: dir, outDir: out });
  assert.equal(failed.failed.length, 2);
  assert.equal(await readRecord(join(out, "a_noisy.png")), undefined);
  fail = false;
  const rerun = await runPipeline(flaky, { input: dir, outDir: out });
  assert.deepEqual(rerun.done.map((r) => r.name), ["a", "b"]);
  await Deno.remove(dir, { recursive: true });
});
