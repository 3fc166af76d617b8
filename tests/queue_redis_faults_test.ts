/**
 * Faults of the Redis queue, in one process (two queue instances stand for two hosts): Redis
 * killed and restarted mid-batch, a processor that asks to run later without spending an
 * attempt, and the data-folder binding that keeps workers on the shared storage.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { UsageError } from "../core/errors.ts";
import { bindDataFolder, DATA_MARKER } from "../service/data_folder.ts";
import { RedisQueue } from "../service/redis_queue.ts";
import { RetryLater } from "../service/retry_later.ts";
import { startRedis } from "./redis_helpers.ts";
import { waitFor } from "./service_helpers.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("Redis killed and restarted mid-batch: the workers reconnect and every job succeeds once", async () => {
  const redis = await startRedis({ persistent: true });
  type Data = { n: number };
  const open = () =>
    RedisQueue.open<Data, number>({ url: redis.url, name: "jobs", stallTimeoutMs: 5000 });
  const hosts = [await open(), await open()];
  const runs = new Map<string, number>();
  try {
    for (const host of hosts) {
      host.process(async (job) => {
        runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
        await sleep(80);
        return job.data.n * 2;
      }, { concurrency: 2 });
    }
    const jobs = [];
    for (let n = 0; n < 24; n++) jobs.push(await hosts[0]!.add({ n }, { attempts: 3 }));
    await waitFor(async () => (await hosts[0]!.counts()).succeeded >= 4, 20_000);
    await redis.restart({ downMs: 1000 }); // kill -9, a second down, back from its AOF
    await waitFor(async () => (await hosts[1]!.counts()).succeeded === jobs.length, 30_000);
    for (const job of jobs) {
      const done = (await hosts[1]!.get(job.id))!;
      assert.equal(done.status, "succeeded");
      assert.equal(done.result, job.data.n * 2);
      const types = (await hosts[1]!.events(job.id)).map((e) => e.type);
      assert.equal(types.filter((t) => t === "job-succeeded").length, 1, `${job.id}: ${types}`);
      assert.ok((runs.get(job.id) ?? 0) >= 1);
    }
  } finally {
    for (const host of hosts) await host.close();
    await redis.stop();
  }
});

Deno.test("RetryLater puts a job back after its delay without spending an attempt", async () => {
  const redis = await startRedis();
  const queue = await RedisQueue.open<Record<string, never>, string>({
    url: redis.url,
    name: "runs",
  });
  try {
    const starts: number[] = [];
    queue.process(() => {
      starts.push(Date.now());
      if (starts.length === 1) throw new RetryLater("a.png is being run by h pid 1", 300);
      return Promise.resolve("done");
    });
    const job = await queue.add({}, { attempts: 1 });
    await waitFor(async () => (await queue.get(job.id))?.status === "succeeded");
    const done = (await queue.get(job.id))!;
    assert.equal(done.attemptsMade, 1, "the deferred try is not counted (attempts: 1)");
    assert.ok(starts[1]! - starts[0]! >= 290, `ran again after ${starts[1]! - starts[0]!} ms`);
    const events = await queue.events(job.id);
    assert.ok(
      events.some((e) =>
        e.type === "job-queued" && e.data.reason === "a.png is being run by h pid 1"
      ),
    );
  } finally {
    await queue.close();
    await redis.stop();
  }
});

Deno.test("bindDataFolder() binds a queue to its first data folder and refuses any other", async () => {
  const redis = await startRedis();
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "dipline-bind-" }));
  const queue = await RedisQueue.open({ url: redis.url, name: "jobs" });
  try {
    const shared = join(dir, "shared");
    const local = join(dir, "local");
    const stranger = join(dir, "stranger");
    for (const folder of [shared, local, stranger]) await Deno.mkdir(folder);
    const bound = await bindDataFolder(queue.redis, shared, "serve", redis.url);
    const marker = JSON.parse(await Deno.readTextFile(join(shared, DATA_MARKER)));
    assert.equal(marker.id, bound.id);
    assert.equal((await bindDataFolder(queue.redis, shared, "worker", redis.url)).id, bound.id);
    await assert.rejects(
      bindDataFolder(queue.redis, local, "worker", redis.url),
      UsageError,
      `has no ${DATA_MARKER}`,
    );
    // A folder bound to another queue (its own marker) is refused too.
    await Deno.writeTextFile(
      join(stranger, DATA_MARKER),
      JSON.stringify({ ...marker, id: "x".repeat(36) }),
    );
    await assert.rejects(
      bindDataFolder(queue.redis, stranger, "worker", redis.url),
      UsageError,
      "belongs to another queue",
    );
  } finally {
    await queue.close();
    await redis.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
