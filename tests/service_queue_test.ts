/**
 * The queue's behaviour as one table of cases, run against every store factory: the embedded
 * SQLite queue on a file and in memory, and the BullMQ one on Redis (a redis-server of its own
 * per case, tests/redis_helpers.ts); the cases use only the {@link Queue} interface.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  JobStateError,
  type Queue,
  type QueueEvent,
  UnrecoverableError,
} from "../service/queue.ts";
import { SqliteQueue } from "../service/sqlite_queue.ts";
import { RedisQueue } from "../service/redis_queue.ts";
import { startRedis } from "./redis_helpers.ts";

/** A fresh, empty queue; `reopen` (durable stores only) opens the same store again. */
interface QueueFixture {
  readonly queue: Queue<Record<string, unknown>, unknown>;
  reopen?():
    | Queue<Record<string, unknown>, unknown>
    | Promise<Queue<Record<string, unknown>, unknown>>;
  cleanup(): Promise<void>;
}

const FACTORIES: Record<string, () => Promise<QueueFixture>> = {
  "sqlite file": async () => {
    const dir = await Deno.makeTempDir({ prefix: "dipline-queue-" });
    const path = join(dir, "queue.db");
    return {
      queue: SqliteQueue.open(path, "jobs"),
      reopen: () => SqliteQueue.open(path, "jobs"),
      cleanup: () => Deno.remove(dir, { recursive: true }),
    };
  },
  "sqlite memory": () =>
    Promise.resolve({ queue: SqliteQueue.open(":memory:", "jobs"), cleanup: async () => {} }),
  redis: async () => {
    const redis = await startRedis();
    // A worker silent for 1 s counts as dead, so a stalled job comes back within the case.
    const open = () =>
      RedisQueue.open<Record<string, unknown>, unknown>({
        url: redis.url,
        name: "jobs",
        stallTimeoutMs: 1000,
      });
    const queue = await open();
    const opened = [queue];
    return {
      queue,
      // Reopening Redis means another process: the first one dies as if killed (kill -9).
      async reopen() {
        await queue.kill();
        const again = await open();
        opened.push(again);
        return again;
      },
      async cleanup() {
        for (const each of opened) await each.close();
        await redis.stop();
      },
    };
  },
};

/** Polls `check` every 10 ms until it holds; fails after `ms`. */
async function waitFor(check: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const types = (events: QueueEvent[]) => events.map((e) => e.type);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Case {
  readonly name: string;
  readonly durable?: boolean;
  run(fixture: QueueFixture): Promise<void>;
}

const CASES: Case[] = [
  {
    name: "add() stores a queued job that get() returns with its data and a job-queued event",
    async run({ queue }) {
      const job = await queue.add({ recipe: "denoise", n: [1, 2] }, { attempts: 3 });
      assert.equal(job.status, "queued");
      assert.equal(job.attempts, 3);
      assert.equal(job.attemptsMade, 0);
      const got = await queue.get(job.id);
      assert.deepEqual(got?.data, { recipe: "denoise", n: [1, 2] });
      assert.deepEqual(types(await queue.events(job.id)), ["job-queued"]);
      assert.equal(await queue.get("no-such-job"), undefined);
      await assert.rejects(queue.add({}, { attempts: 0 }), RangeError);
    },
  },
  {
    name: "list() pages newest first and filters by status",
    async run({ queue }) {
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push((await queue.add({ i })).id);
      await queue.cancel(ids[1]!);
      const first = await queue.list({ limit: 2 });
      assert.deepEqual(first.jobs.map((j) => j.id), [ids[4], ids[3]]);
      const second = await queue.list({ limit: 2, cursor: first.next });
      assert.deepEqual(second.jobs.map((j) => j.id), [ids[2], ids[1]]);
      const third = await queue.list({ limit: 2, cursor: second.next });
      assert.deepEqual(third.jobs.map((j) => j.id), [ids[0]]);
      assert.equal(third.next, undefined);
      const canceled = await queue.list({ status: "canceled" });
      assert.deepEqual(canceled.jobs.map((j) => j.id), [ids[1]]);
      assert.equal((await queue.counts()).queued, 4);
    },
  },
  {
    name: "a worker runs a job to success with its progress, result and events in order",
    async run({ queue }) {
      const worker = queue.process((job, ctx) => {
        ctx.progress({ step: 1 });
        ctx.emit("fit", { step: 1, of: job.data.n });
        return Promise.resolve({ doubled: Number(job.data.n) * 2 });
      });
      const job = await queue.add({ n: 21 });
      await waitFor(async () => (await queue.get(job.id))?.status === "succeeded");
      const done = (await queue.get(job.id))!;
      assert.deepEqual(done.result, { doubled: 42 });
      assert.deepEqual(done.progress, { step: 1 });
      assert.equal(done.attemptsMade, 1);
      assert.ok(done.startedAt! >= done.createdAt && done.finishedAt! >= done.startedAt!);
      const events = await queue.events(job.id);
      assert.deepEqual(types(events), ["job-queued", "job-running", "fit", "job-succeeded"]);
      assert.deepEqual(events[2]!.data, { step: 1, of: 21 });
      assert.ok(events.every((e, k) => k === 0 || e.id > events[k - 1]!.id), "ids increase");
      await worker.close();
    },
  },
  {
    name: "a worker runs at most `concurrency` jobs at once",
    async run({ queue }) {
      let running = 0;
      let most = 0;
      const worker = queue.process(async () => {
        most = Math.max(most, ++running);
        await sleep(30);
        running--;
        return null;
      }, { concurrency: 2 });
      for (let i = 0; i < 6; i++) await queue.add({ i });
      await waitFor(async () => (await queue.counts()).succeeded === 6);
      assert.equal(most, 2);
      await worker.close();
    },
  },
  {
    name:
      "a failing job is retried after its backoff and fails after its attempts with the last error",
    async run({ queue }) {
      const tries = new Map<string, number[]>();
      const worker = queue.process((job) => {
        const times = tries.get(job.id) ?? [];
        times.push(Date.now());
        tries.set(job.id, times);
        if (job.data.heal && times.length === 2) return Promise.resolve("healed");
        throw new Error(`try ${times.length} broke`);
      });
      const backoff = { type: "fixed", delay: 60 } as const;
      const healing = await queue.add({ heal: true }, { attempts: 3, backoff });
      const doomed = await queue.add({}, {
        attempts: 3,
        backoff: { type: "exponential", delay: 20 },
      });
      await waitFor(async () =>
        (await queue.counts()).queued + (await queue.counts()).running === 0
      );
      const healed = (await queue.get(healing.id))!;
      assert.equal(healed.status, "succeeded");
      assert.equal(healed.attemptsMade, 2);
      const [t1, t2] = tries.get(healing.id)!;
      assert.ok(t2! - t1! >= 55, `retried after ${t2! - t1!} ms, backoff 60 ms`);
      const failed = (await queue.get(doomed.id))!;
      assert.equal(failed.status, "failed");
      assert.equal(failed.attemptsMade, 3);
      assert.equal(failed.error, "try 3 broke");
      const times = tries.get(doomed.id)!;
      assert.ok(times[2]! - times[1]! >= 35, "exponential: the second wait is twice the first");
      assert.deepEqual(types(await queue.events(doomed.id)), [
        "job-queued",
        "job-running",
        "job-retrying",
        "job-running",
        "job-retrying",
        "job-running",
        "job-failed",
      ]);
      await worker.close();
    },
  },
  {
    name: "an UnrecoverableError fails the job at once",
    async run({ queue }) {
      const worker = queue.process(() => Promise.reject(new UnrecoverableError("bad recipe")));
      const job = await queue.add({}, { attempts: 5 });
      await waitFor(async () => (await queue.get(job.id))?.status === "failed");
      const failed = (await queue.get(job.id))!;
      assert.equal(failed.attemptsMade, 1);
      assert.equal(failed.error, "bad recipe");
      await worker.close();
    },
  },
  {
    name: "a delayed job does not start before its delay",
    async run({ queue }) {
      const started = new Map<string, number>();
      const worker = queue.process((job) => {
        started.set(job.id, Date.now());
        return Promise.resolve(null);
      });
      const job = await queue.add({}, { delay: 150 });
      await waitFor(() => started.has(job.id));
      assert.ok(started.get(job.id)! - job.createdAt >= 145);
      await worker.close();
    },
  },
  {
    name: "cancel() stops a queued job at once and aborts a running one at its next check",
    async run({ queue }) {
      const worker = queue.process(async (_job, ctx) => {
        while (!ctx.signal.aborted) await sleep(5);
        throw ctx.signal.reason;
      });
      const running = await queue.add({ which: "running" });
      await waitFor(async () => (await queue.get(running.id))?.status === "running");
      const queued = await queue.add({ which: "queued" });
      assert.equal((await queue.cancel(queued.id))?.status, "canceled");
      const asked = await queue.cancel(running.id);
      assert.ok(asked?.status === "running" ? asked.cancelRequested : asked?.status === "canceled");
      await waitFor(async () => (await queue.get(running.id))?.status === "canceled");
      assert.deepEqual(types(await queue.events(queued.id)), ["job-queued", "job-canceled"]);
      assert.equal((await queue.cancel(queued.id))?.status, "canceled", "a finished job stays");
      assert.equal(await queue.cancel("no-such-job"), undefined);
      await worker.close();
    },
  },
  {
    name: "remove() deletes a finished job and its events, and refuses an unfinished one",
    async run({ queue }) {
      const job = await queue.add({});
      await assert.rejects(queue.remove(job.id), JobStateError);
      await queue.cancel(job.id);
      const seen: QueueEvent[] = [];
      const unsubscribe = queue.subscribe((event) => seen.push(event));
      assert.equal(await queue.remove(job.id), true);
      assert.equal(await queue.get(job.id), undefined);
      assert.deepEqual(await queue.events(job.id), []);
      assert.equal(await queue.remove(job.id), false);
      assert.deepEqual(types(seen), ["job-removed"]);
      unsubscribe();
    },
  },
  {
    name: "events() replays after an id and subscribe() follows live",
    async run({ queue }) {
      const live: QueueEvent[] = [];
      const unsubscribe = queue.subscribe((event) => live.push(event));
      const worker = queue.process((_job, ctx) => {
        for (let step = 1; step <= 3; step++) ctx.emit("fit", { step });
        return Promise.resolve(null);
      });
      const job = await queue.add({});
      await waitFor(async () => (await queue.get(job.id))?.status === "succeeded");
      const all = await queue.events(job.id);
      assert.deepEqual(live.filter((e) => e.jobId === job.id), all, "live = stored");
      const after = await queue.events(job.id, all[2]!.id);
      assert.deepEqual(after, all.slice(3));
      unsubscribe();
      await worker.close();
    },
  },
  {
    name: "closing a worker puts its running job back without spending an attempt",
    async run({ queue }) {
      const first = queue.process(async (_job, ctx) => {
        while (!ctx.signal.aborted) await sleep(5);
        throw ctx.signal.reason;
      });
      const job = await queue.add({}, { attempts: 1 });
      await waitFor(async () => (await queue.get(job.id))?.status === "running");
      await first.close();
      const back = (await queue.get(job.id))!;
      assert.equal(back.status, "queued");
      assert.equal(back.attemptsMade, 0);
      const second = queue.process(() => Promise.resolve("second time"));
      await waitFor(async () => (await queue.get(job.id))?.status === "succeeded");
      assert.equal((await queue.get(job.id))?.result, "second time");
      await second.close();
    },
  },
  {
    name: "a job survives reopening the store, and one left running is run again",
    durable: true,
    async run(fixture) {
      const { queue } = fixture;
      const kept = await queue.add({ kept: true });
      // A worker that never finishes, like a server killed mid-job.
      let release = () => {};
      const hung = new Promise<void>((resolve) => release = resolve);
      queue.process(async () => {
        await hung;
        return null;
      });
      await waitFor(async () => (await queue.get(kept.id))?.status === "running");
      const later = await queue.add({ later: true });
      const reopened = await fixture.reopen!();
      try {
        assert.deepEqual((await reopened.get(later.id))?.data, { later: true });
        const worker = reopened.process(() => Promise.resolve("ran again"));
        await waitFor(async () => (await reopened.counts()).succeeded === 2);
        const again = (await reopened.get(kept.id))!;
        assert.equal(again.result, "ran again");
        assert.equal(again.stalls, 1);
        assert.equal(again.attemptsMade, 1);
        assert.ok(types(await reopened.events(kept.id)).includes("job-queued"));
        await worker.close();
      } finally {
        release();
        await reopened.close();
      }
    },
  },
];

for (const [store, create] of Object.entries(FACTORIES)) {
  for (const testCase of CASES) {
    Deno.test(`queue (${store}): ${testCase.name}`, async () => {
      const fixture = await create();
      try {
        // A case about durability passes vacuously on a store that lives in memory.
        if (!testCase.durable || fixture.reopen !== undefined) await testCase.run(fixture);
      } finally {
        await fixture.queue.close();
        await fixture.cleanup();
      }
    });
  }
}
