import assert from "node:assert/strict";
import { join } from "node:path";
import { makeImage } from "../core/image.ts";
import { saveImage } from "../image/save.ts";
import { testCard } from "../image/testcard.ts";
import { pipeline } from "../pipeline/dsl.ts";
import { InputError } from "../core/errors.ts";
import { execute, runPipeline } from "../pipeline/executor.ts";
import {
  formatDuration,
  formatProgress,
  jsonLinesReporter,
  updateProgress,
} from "../pipeline/progress.ts";
import { imageInput } from "../pipeline/sources.ts";
import { RECORD_SUFFIX } from "../pipeline/records.ts";
import type { Op, ProgressEvent } from "../core/types.ts";

/** A temp folder with small PNG inputs (and, optionally, a file that is not an image). */
async function inputs(names: string[], options: { bad?: string } = {}): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dipline-exec-" });
  for (const [i, name] of names.entries()) {
    const path = join(dir, name);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await saveImage(testCard(12 + i, 10), path);
  }
  if (options.bad) await Deno.writeTextFile(join(dir, options.bad), "not an image at all");
  return dir;
}

/** Files under `dir` (resume records left out). */
async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) {
      names.push(...await listTree(join(dir, entry.name), `${prefix}${entry.name}/`));
    } else if (!entry.name.endsWith(RECORD_SUFFIX)) names.push(prefix + entry.name);
  }
  return names.sort();
}

const recipe = (seed: number) => pipeline().degrade({ noise: 25, seed }).save("{name}_noisy.png");

Deno.test("execute() skips inputs whose outputs are up to date, and force reruns them", async () => {
  const dir = await inputs(["a.png", "b.png"]);
  const out = join(dir, "out");
  const first = await runPipeline(recipe(1), { input: dir, outDir: out });
  assert.deepEqual(first.done.map((r) => r.name), ["a", "b"]);
  const bytes = await Deno.readFile(join(out, "a_noisy.png"));

  const resumed = await runPipeline(recipe(1), { input: dir, outDir: out });
  assert.deepEqual(resumed.done, []);
  assert.deepEqual(resumed.skipped, ["a", "b"]);
  assert.deepEqual(
    await Deno.readFile(join(out, "a_noisy.png")),
    bytes,
    "a skipped input is not rewritten",
  );

  await Deno.remove(join(out, "b_noisy.png"));
  const partial = await runPipeline(recipe(1), { input: dir, outDir: out });
  assert.deepEqual(partial.skipped, ["a"]);
  assert.deepEqual(partial.done.map((r) => r.name), ["b"]);

  const forced = await runPipeline(recipe(2), { input: dir, outDir: out, force: true });
  assert.deepEqual(forced.done.map((r) => r.name), ["a", "b"]);
  assert.notDeepEqual(
    await Deno.readFile(join(out, "a_noisy.png")),
    bytes,
    "force overwrites with the new seed",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("execute() goes on past a failing input and reports it by name and file", async () => {
  const dir = await inputs(["a.png", "c.png"], { bad: "b.png" });
  const out = join(dir, "out");
  const summary = await runPipeline(recipe(1), { input: dir, outDir: out });
  assert.deepEqual(summary.done.map((r) => r.name), ["a", "c"]);
  assert.equal(summary.failed.length, 1);
  const [failure] = summary.failed;
  assert.equal(failure!.name, "b");
  assert.equal(failure!.file, join(dir, "b.png"));
  assert.match(failure!.error, /b\.png: /);
  assert.ok(!failure!.error.includes("\n"), "one line");
  assert.deepEqual(
    await listTree(out),
    ["a_noisy.png", "c_noisy.png"],
    "no output and no temp file for b",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("execute() names the op when an op throws, and keeps the batch going", async () => {
  let calls = 0;
  const flaky: Op = {
    kind: "flaky",
    reads: ["image"],
    writes: [],
    params: {},
    run(frame) {
      calls++;
      if (frame.meta.name === "one") throw new Error("Expected an even width but received 11");
      return Promise.resolve(frame);
    },
  };
  const summary = await pipeline().use(flaky).run({
    input: [imageInput(testCard(8, 11), "one"), imageInput(testCard(8, 12), "two")],
  });
  assert.equal(calls, 2);
  assert.deepEqual(summary.done.map((r) => r.name), ["two"]);
  assert.equal(
    summary.failed[0]?.error,
    "one: op #1 flaky failed: Expected an even width but received 11",
  );
});

Deno.test("execute() emits start, per-input, per-op and done events; JSON lines round-trip", async () => {
  const dir = await inputs(["a.png"], { bad: "z.png" });
  const lines: string[] = [];
  const report = jsonLinesReporter((line) => lines.push(line));
  await runPipeline(recipe(1), { input: dir, outDir: join(dir, "out"), onEvent: report });
  assert.ok(lines.every((l) => l.endsWith("\n") && !l.slice(0, -1).includes("\n")));
  const events = lines.map((l) => JSON.parse(l) as ProgressEvent);
  assert.deepEqual(events.map((e) => e.type), [
    "start",
    "input-start",
    "op",
    "op",
    "input-done",
    "input-start",
    "input-failed",
    "done",
  ]);
  assert.deepEqual(events[0], { type: "start", total: 2, skipped: 0 });
  const done = events.at(-1)!;
  assert.ok(done.type === "done" && done.done === 1 && done.failed === 1 && done.skipped === 0);
  const inputDone = events[4]!;
  assert.ok(inputDone.type === "input-done");
  assert.deepEqual(inputDone.outputs, [join(dir, "out", "a_noisy.png")]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("execute() refuses before any work when two inputs would write one file", async () => {
  const dir = await inputs(["one/a.png", "two/a.png"]);
  const out = join(dir, "out");
  await assert.rejects(() => runPipeline(recipe(1), { input: dir, outDir: out }), (e: Error) => {
    assert.ok(e instanceof InputError);
    assert.match(
      e.message,
      /one\/a\.png and two\/a\.png would both write .*a_noisy\.png; add \{dir\}/,
    );
    return true;
  });
  await assert.rejects(() => Deno.stat(out), Deno.errors.NotFound);
  const nested = pipeline().degrade({ noise: 25, seed: 1 }).save("{dir}/{name}_noisy.png");
  const summary = await runPipeline(nested, { input: dir, outDir: out });
  assert.equal(summary.done.length, 2);
  assert.deepEqual(await listTree(out), ["one/a_noisy.png", "two/a_noisy.png"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runPipeline() runs only its shard and the recipe's default input", async () => {
  const dir = await inputs(["a.png", "b.png", "c.png"]);
  const out = join(dir, "out");
  const shard = await runPipeline(recipe(1).input(dir), { outDir: out, shard: "1/2" });
  assert.deepEqual(shard.done.map((r) => r.name), ["b"]);
  await assert.rejects(() => runPipeline(recipe(1), { outDir: out }), /No input/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("execute() records per-op timings and the frame's metrics", async () => {
  const graph = pipeline().degrade({ noise: 10, seed: 1 }).metrics().compile();
  const summary = await execute(graph, [imageInput(testCard(16, 16), "card")]);
  const [result] = summary.done;
  assert.deepEqual(Object.keys(result!.timings).sort(), ["degrade", "metrics"]);
  assert.ok(result!.metrics.psnr! > 20 && result!.metrics.psnr! < 40);
  assert.deepEqual(result!.outputs, []);
});

Deno.test("execute() stops before the next input once its signal is aborted", async () => {
  const controller = new AbortController();
  const stopper: Op = {
    kind: "stopper",
    reads: ["image"],
    writes: [],
    params: {},
    run(frame) {
      controller.abort();
      return Promise.resolve(frame);
    },
  };
  const gray = (name: string) => imageInput(makeImage(1, 2, 2, new Float32Array(4), name));
  const summary = await pipeline().use(stopper).run({
    input: [gray("a"), gray("b")],
    signal: controller.signal,
  });
  assert.deepEqual(summary.done.map((r) => r.name), ["a"]);
});

Deno.test("the progress line shows counts, rate and ETA", () => {
  let state = { total: 0, done: 0, failed: 0, skipped: 0, startedAt: 0, current: "" };
  const events: ProgressEvent[] = [
    { type: "start", total: 5, skipped: 1 },
    { type: "input-start", name: "a", index: 1 },
    { type: "input-done", name: "a", index: 1, ms: 1000, outputs: [] },
    { type: "input-start", name: "b", index: 2 },
    { type: "input-failed", name: "b", error: "b.png: truncated PNG" },
    { type: "input-start", name: "c", index: 3 },
    { type: "fit", name: "c", step: 100, total: 3000, loss: 0.0123, stepsPerSecond: 25 },
  ];
  for (const event of events) state = updateProgress(state, event, 0);
  const line = formatProgress(state, 4000);
  assert.match(
    line,
    /^\[3\/5\] 1 done · 1 failed · 1 skipped · 0\.50 img\/s · ETA 4s · c fit 100\/3000/,
  );
  assert.match(line, /loss 0\.0123 ▄ 25\.0 steps\/s$/); // ▄: the sparkline of one check
  assert.equal(formatDuration(185), "3m05s");
  assert.equal(formatDuration(3720), "1h02m");
});
