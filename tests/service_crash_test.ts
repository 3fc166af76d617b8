/**
 * `kill -9` of a real `dipline serve` process in the middle of a job, then a restart on the same
 * `--data`: no submitted job is lost, the job that was running runs again and skips the output
 * it had already written, and no partial file is left to serve. Time-limited: the server
 * processes are killed when the test ends, whatever happens.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DiplineClient, type JobEvent } from "../service/client.ts";
import { cardPng, fitRecipe, QUICK_RECIPE } from "./service_helpers.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** Starts `dipline serve` on a free port; resolves once it prints its URL. */
async function spawnServer(
  data: string,
  root: string,
  signal: AbortSignal,
): Promise<{ child: Deno.ChildProcess; url: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "serve", "--port", "0", "--data", data, "--root", root],
    stdout: "piped",
    stderr: "null",
    stdin: "null",
    signal,
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server exited before listening: ${text}`);
    text += value;
  }
  const url = /listening on (http:\/\/\S+)/.exec(text)?.[1];
  if (url === undefined) throw new Error(`unexpected first line: ${text}`);
  // Keep draining stdout so the child never blocks on a full pipe.
  void (async () => {
    while (!(await reader.read().catch(() => ({ done: true }))).done) { /* drain */ }
  })();
  return { child, url };
}

Deno.test("kill -9 mid-job, then a restart: no job lost, the running one resumes and skips its written output", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-crash-" });
  const data = join(dir, "data");
  const root = join(dir, "root");
  await Deno.mkdir(root);
  await Deno.writeFile(join(root, "a.png"), await cardPng(16));
  await Deno.writeFile(join(root, "b.png"), await cardPng(16));
  const deadline = AbortSignal.timeout(60_000);
  const children: Deno.ChildProcess[] = [];
  try {
    const first = await spawnServer(data, root, deadline);
    children.push(first.child);
    let client = new DiplineClient(first.url);
    const running = await client.submit({ recipe: fitRecipe(1000), paths: ["a.png", "b.png"] });
    const waiting = await client.submit({ recipe: QUICK_RECIPE, paths: ["a.png"] });

    // Kill once input a is written and b's fit has started.
    let aDone = false;
    for await (const event of client.events(running.id, { signal: deadline })) {
      if (event.type === "input-done" && event.name === "a") aDone = true;
      if (aDone && event.type === "fit" && event.name === "b") break;
    }
    first.child.kill("SIGKILL");
    assert.equal((await first.child.status).signal, "SIGKILL");

    const outputs = join(data, "jobs", running.id, "outputs");
    const aBytes = await Deno.readFile(join(outputs, "a_restored.png"));
    await assert.rejects(Deno.stat(join(outputs, "b_restored.png")), Deno.errors.NotFound);
    const killedAt = (await Array.fromAsync(Deno.readDir(outputs))).map((e) => e.name);

    const second = await spawnServer(data, root, deadline);
    children.push(second.child);
    client = new DiplineClient(second.url);
    const resumed = await client.wait(running.id, deadline);
    assert.equal(resumed.status, "succeeded", resumed.error ?? "");
    assert.deepEqual(resumed.attempts, { made: 1, max: 3 }, "the killed attempt is not counted");
    assert.deepEqual(resumed.results.map((r) => r.status), ["skipped", "done"]);
    assert.deepEqual(resumed.results[0]!.files.map((f) => f.name), ["a_restored.png"]);
    assert.deepEqual(await Deno.readFile(join(outputs, "a_restored.png")), aBytes, "a kept");
    const names = (await Array.fromAsync(Deno.readDir(outputs))).map((e) => e.name).sort();
    // Hidden names (the executor's records and claims) are never served; no temp file is left.
    assert.deepEqual(names.filter((n) => !n.startsWith(".")), ["a_restored.png", "b_restored.png"]);
    assert.ok(!names.some((n) => n.endsWith(".tmp")), `after kill: ${killedAt}; now: ${names}`);

    const events: JobEvent[] = [];
    for await (const event of client.events(running.id)) events.push(event);
    const afterRestart = events.slice(events.findLastIndex((e) => e.type === "job-queued"));
    assert.equal(afterRestart[0]!.reason, "recovered after a restart");
    assert.ok(afterRestart.some((e) => e.type === "input-skipped" && e.name === "a"));

    const other = await client.wait(waiting.id, deadline);
    assert.equal(other.status, "succeeded", "the job queued behind it was not lost");
  } finally {
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
});
