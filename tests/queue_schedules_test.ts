/**
 * Scheduled runs: on Redis a `--every` schedule fires once per tick across two workers (never
 * once per worker) and stops when removed; in the embedded store a schedule survives a restart
 * of its scheduler, never fires one tick twice, makes up missed ticks with one run, and each run
 * only does the inputs that arrived since the last one.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { QueueEvent } from "../service/queue.ts";
import { defaultCodec } from "../service/recipes.ts";
import { RedisQueue } from "../service/redis_queue.ts";
import { type RunJobData, runJobProcessor, type RunJobResult } from "../service/run_jobs.ts";
import { checkTiming, nextTick } from "../service/schedules.ts";
import { sqliteScheduleStore, startEmbeddedScheduler } from "../service/schedules_sqlite.ts";
import { startWorker } from "../service/worker.ts";
import { spawnCli, writeCards } from "./queue_helpers.ts";
import { startRedis } from "./redis_helpers.ts";
import { QUICK_RECIPE, waitFor } from "./service_helpers.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("a --every 1s schedule on Redis fires once per tick across two workers, and stops when removed", async () => {
  const redis = await startRedis();
  const dir = await Deno.makeTempDir({ prefix: "dipline-sched-" });
  const data = join(dir, "data");
  await writeCards(join(data, "in"), ["a"]);
  await Deno.writeTextFile(join(dir, "quick.json"), JSON.stringify(QUICK_RECIPE));
  const observer = await RedisQueue.open<RunJobData, RunJobResult>({
    url: redis.url,
    name: "runs",
  });
  const events: QueueEvent[] = [];
  observer.subscribe((event) => events.push(event));
  const workers = [];
  try {
    for (let k = 0; k < 2; k++) {
      workers.push(await startWorker({ url: redis.url, data, codec: defaultCodec() }));
    }
    const common = ["--data", data, "--queue", redis.url];
    const before = Date.now();
    const add = spawnCli([
      "schedule",
      "add",
      "tick",
      "--every",
      "1s",
      join(dir, "quick.json"),
      "--input",
      join(data, "in"),
      "--out",
      join(data, "out"),
      ...common,
    ]);
    assert.equal((await add.status).code, 0, add.output());
    const list = spawnCli(["schedule", "list", "--json", ...common]);
    assert.equal((await list.status).code, 0, list.output());
    const listed = JSON.parse(list.output().slice(list.output().indexOf("[")));
    assert.equal(listed[0].name, "tick");
    assert.equal(listed[0].everyMs, 1000);
    assert.equal(listed[0].job.input, "in");
    await sleep(4500);
    const remove = spawnCli(["schedule", "remove", "tick", ...common]);
    assert.equal((await remove.status).code, 0, remove.output());
    const after = Date.now();
    await sleep(1500); // a tick already made may still run; none may be made after this

    const ticks = [...new Set(events.filter((e) => e.type === "job-running").map((e) => e.jobId))];
    const times = ticks.map((id) => Number(id.split(":").pop())).sort((a, b) => a - b);
    for (let k = 1; k < times.length; k++) {
      assert.equal((times[k]! - times[0]!) % 1000, 0, `ticks on the 1 s grid: ${times}`);
    }
    const expected = Math.floor((after - before) / 1000);
    assert.ok(
      times.length >= expected - 2 && times.length <= expected + 1,
      `${times.length} runs in ${after - before} ms of a 1 s schedule`,
    );
    assert.ok(times.every((t) => t <= after), "nothing fires after the schedule is removed");
    for (const id of ticks) {
      const mine = events.filter((e) => e.jobId === id);
      assert.equal(mine.filter((e) => e.type === "job-running").length, 1, `${id} ran once`);
      assert.equal(
        mine.filter((e) => e.type === "job-succeeded").length,
        1,
        `${id} succeeded once`,
      );
    }
    const results = await Promise.all(ticks.map((id) => observer.get(id)));
    const done = results.flatMap((job) => job?.result?.done ?? []);
    assert.deepEqual(done, ["a"], "the first run does the input; later ticks find it done");
  } finally {
    for (const worker of workers) await worker.close();
    await observer.close();
    await redis.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an embedded schedule survives a restart, fires each tick once, makes up missed ticks with one run, and does only new inputs", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "dipline-embedded-sched-" }));
  await writeCards(join(dir, "in"), ["a"]);
  const store = sqliteScheduleStore(dir);
  await store.add({
    name: "often",
    everyMs: 1000,
    job: { kind: "run", recipe: QUICK_RECIPE, recipeName: "quick.json", input: "in", out: "out" },
  });
  await store.close();
  const processor = runJobProcessor({ dataDir: dir, codec: defaultCodec() });
  const start = () => startEmbeddedScheduler({ dataDir: dir, processor, pollMs: 50 });
  let scheduler = start();
  try {
    const succeeded = async () => (await scheduler.queue.counts()).succeeded;
    await waitFor(async () => await succeeded() >= 2, 10_000);
    await scheduler.close();

    // Down for 2.5 ticks; an input arrives meanwhile.
    await sleep(2500);
    await writeCards(join(dir, "in"), ["b"]);
    scheduler = start();
    await waitFor(async () => await succeeded() >= 3, 10_000);
    await sleep(300);
    const counts = await scheduler.queue.counts();
    assert.equal(
      counts.queued + counts.running + counts.succeeded,
      3,
      "the 2–3 ticks missed while down became one run, the next tick is a period away",
    );
    await scheduler.close();

    const jobs = (await (scheduler = start()).queue.list({ limit: 100 })).jobs.reverse();
    await scheduler.close();
    const ids = jobs.map((job) => job.id);
    assert.equal(new Set(ids).size, ids.length, "each tick fired once");
    const results = jobs.filter((job) => job.status === "succeeded").map((job) => job.result!);
    assert.deepEqual(results[0]!.done, ["a"]);
    assert.deepEqual(results[1]!.done, [], "the second tick finds a done");
    const afterRestart = results.findIndex((r) => r.done.includes("b"));
    assert.ok(afterRestart >= 2, "b is done by the first run after the restart");
    assert.deepEqual(results[afterRestart]!.resumed, ["a"], "and a is not redone");
    const ticks = ids.map((id) => Number(id.split("-").pop()));
    const gaps = ticks.slice(1).map((t, k) => t - ticks[k]!);
    assert.ok(gaps.every((gap) => gap >= 1000), `ticks at least 1 s apart: ${gaps}`);
  } finally {
    await scheduler.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("schedule timings: cron patterns and periods are checked, and the next tick follows them", () => {
  assert.throws(() => checkTiming({}), /exactly one of --cron/);
  assert.throws(() => checkTiming({ cron: "0 3 * *" }), /Expected a cron pattern/);
  assert.throws(() => checkTiming({ cron: "61 3 * * *" }), /Expected a cron pattern/);
  assert.throws(() => checkTiming({ everyMs: 500 }), /at least 1s/);
  assert.throws(() => checkTiming({ everyMs: 60_000, tz: "UTC" }), /--tz applies to --cron/);
  const noon = Date.UTC(2026, 0, 1, 12);
  assert.equal(nextTick({ cron: "0 3 * * *", tz: "UTC" }, noon), Date.UTC(2026, 0, 2, 3));
  assert.equal(
    nextTick({ cron: "0 3 * * *", tz: "Europe/Paris" }, noon),
    Date.UTC(2026, 0, 2, 2),
  );
  assert.equal(nextTick({ everyMs: 600_000 }, noon), noon + 600_000);
});
