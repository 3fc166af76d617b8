/**
 * Many hosts on one Redis, as real processes: `dipline serve --queue` plus three `dipline worker`
 * processes; one worker is killed with `kill -9` in the middle of a fit, and every job still
 * succeeds exactly once with whole outputs, the killed one finished by another worker after the
 * stalled check. Also: `run --queue` fans a folder out and follows the batch, SIGTERM drains a
 * worker (finish within the grace period, else hand the job back), and a worker whose `--data`
 * is not the queue's is refused. Tiny fits (24² cards, the cpu engine); every process is killed
 * at the end whatever happens.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadImage } from "../image/load.ts";
import { DiplineClient, type JobEvent } from "../service/client.ts";
import type { JobData, JobProgress } from "../service/jobs.ts";
import type { QueueEvent } from "../service/queue.ts";
import { RedisQueue } from "../service/redis_queue.ts";
import type { RunJobData, RunJobResult } from "../service/run_jobs.ts";
import {
  type CliProcess,
  listFiles,
  spawnCli,
  spawnServer,
  spawnWorker,
  writeCards,
} from "./queue_helpers.ts";
import { startRedis } from "./redis_helpers.ts";
import { fitRecipe, QUICK_RECIPE } from "./service_helpers.ts";

/** Collects every event of a queue from a test-side observer. */
async function observe<D, R>(url: string, name: string) {
  const queue = await RedisQueue.open<D, R>({ url, name });
  const events: QueueEvent[] = [];
  const waiters: { check: (event: QueueEvent) => boolean; resolve: (e: QueueEvent) => void }[] = [];
  queue.subscribe((event) => {
    events.push(event);
    for (const waiter of [...waiters]) {
      if (waiter.check(event)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  });
  return {
    queue,
    events,
    next(check: (event: QueueEvent) => boolean, signal: AbortSignal): Promise<QueueEvent> {
      const seen = events.find(check);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ check, resolve });
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    },
  };
}

async function cleanFolder(dir: string): Promise<string[]> {
  const names = await listFiles(dir);
  return names.filter((name) => /\.dipline-(tmp|lock)$/.test(name));
}

Deno.test("three workers on Redis, one killed with kill -9 mid-fit: every job succeeds exactly once with valid outputs", async () => {
  const redis = await startRedis();
  const dir = await Deno.makeTempDir({ prefix: "dipline-cluster-" });
  const data = join(dir, "data");
  const root = join(data, "photos");
  const names = ["a", "b", "c", "d", "e", "f"];
  await writeCards(root, names);
  const deadline = AbortSignal.timeout(60_000);
  const processes: CliProcess[] = [];
  const observer = await observe<JobData, JobProgress>(redis.url, "jobs");
  try {
    const server = await spawnServer(redis.url, data, root);
    processes.push(server.process);
    const workers = await Promise.all(
      [0, 1, 2].map(() => spawnWorker(redis.url, data, ["--root", root])),
    );
    processes.push(...workers);
    const client = new DiplineClient(server.url);
    const jobs = [];
    for (const name of names) {
      jobs.push(await client.submit({ recipe: fitRecipe(250), paths: [`${name}.png`] }));
    }

    // The first fit event of a job running on worker 0: kill that worker there and then.
    const victim = workers[0]!;
    const running = await observer.next(
      (e) => e.type === "job-running" && String(e.data.worker).endsWith(`:${victim.pid}`),
      deadline,
    );
    await observer.next((e) => e.jobId === running.jobId && e.type === "fit", deadline);
    victim.child.kill("SIGKILL");
    assert.equal((await victim.status).signal, "SIGKILL");

    for (const job of jobs) {
      const view = await client.wait(job.id, deadline);
      assert.equal(
        view.status,
        "succeeded",
        `${job.id}: ${view.error}\n${server.process.output()}`,
      );
    }
    for (const [k, job] of jobs.entries()) {
      // Events as the server's SSE stream gives them: the workers' progress included.
      const events: JobEvent[] = [];
      for await (const event of client.events(job.id, { signal: deadline })) events.push(event);
      const types = events.map((e) => e.type);
      assert.equal(types.filter((t) => t === "job-succeeded").length, 1, `${job.id}: ${types}`);
      assert.ok(types.includes("fit"), "fit progress from the worker reaches the server's SSE");
      const output = join(data, "jobs", job.id, "outputs", `${names[k]}_restored.png`);
      const image = await loadImage(output);
      assert.equal(image.width, 24);
      assert.equal(image.height, 24);
      assert.deepEqual(await cleanFolder(join(data, "jobs", job.id)), [], "no temp or lock file");
    }
    const killed = (await observer.queue.get(running.jobId))!;
    assert.equal(killed.status, "succeeded");
    assert.equal(killed.stalls, 1, "its worker's death was detected once");
    assert.equal(killed.attemptsMade, 1, "the killed attempt is not counted");
    const killedEvents = await observer.queue.events(running.jobId);
    assert.ok(
      killedEvents.some((e) =>
        e.type === "job-queued" && e.data.reason === "recovered: its worker stopped"
      ),
    );
    const runners = killedEvents.filter((e) => e.type === "job-running").map((e) => e.data.worker);
    assert.equal(runners.length, 2);
    assert.notEqual(runners[0], runners[1], "finished by another worker");
  } finally {
    await observer.queue.close();
    for (const process of processes) await process.kill();
    await redis.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run --queue fans a folder out over two workers as one batch and reports it", async () => {
  const redis = await startRedis();
  const dir = await Deno.makeTempDir({ prefix: "dipline-batch-" });
  const data = join(dir, "data");
  const photos = join(data, "photos");
  const names = ["p1", "p2", "p3", "p4", "p5"];
  await writeCards(join(photos, "sub"), ["p5"]);
  await writeCards(photos, names.slice(0, 4));
  // `{dir}`: outputs keep the inputs' sub-folders under --input, as a local run does.
  const recipe = {
    ...QUICK_RECIPE,
    steps: [QUICK_RECIPE.steps[0], { op: "save", options: { pattern: "{dir}/{name}_noisy.png" } }],
  };
  await Deno.writeTextFile(join(dir, "quick.json"), JSON.stringify(recipe));
  const processes: CliProcess[] = [];
  const observer = await observe<RunJobData, RunJobResult>(redis.url, "runs");
  try {
    processes.push(...await Promise.all([0, 1].map(() => spawnWorker(redis.url, data))));
    const run = spawnCli([
      "run",
      join(dir, "quick.json"),
      "--input",
      photos,
      "--out",
      join(data, "out"),
      "--queue",
      redis.url,
      "--data",
      data,
    ]);
    processes.push(run);
    const status = await run.status;
    assert.equal(status.code, 0, run.output());
    assert.match(run.output(), /5 done, 0 up to date, 0 failed/);
    const outputs = await listFiles(join(data, "out"));
    assert.deepEqual(
      outputs.filter((name) => name.endsWith(".png")),
      ["p1_noisy.png", "p2_noisy.png", "p3_noisy.png", "p4_noisy.png", "sub/p5_noisy.png"],
      "one output per input, sub-folders kept",
    );
    const hosts = new Set(
      observer.events.filter((e) => e.type === "job-running").map((e) => e.data.worker),
    );
    assert.ok(hosts.size >= 1);

    // The same batch again: every input is up to date, nothing is written twice.
    const again = spawnCli([
      "run",
      join(dir, "quick.json"),
      "--input",
      photos,
      "--out",
      join(data, "out"),
      "--queue",
      redis.url,
      "--data",
      data,
    ]);
    processes.push(again);
    assert.equal((await again.status).code, 0, again.output());
    assert.match(again.output(), /0 done, 5 up to date, 0 failed/);
  } finally {
    await observer.queue.close();
    for (const process of processes) await process.kill();
    await redis.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGTERM drains a worker: a fit finishes within the grace period, else goes back to the queue", async () => {
  const redis = await startRedis();
  const dir = await Deno.makeTempDir({ prefix: "dipline-drain-" });
  const data = join(dir, "data");
  const root = join(data, "photos");
  await writeCards(root, ["a", "b"]);
  const deadline = AbortSignal.timeout(60_000);
  const processes: CliProcess[] = [];
  const observer = await observe<JobData, JobProgress>(redis.url, "jobs");
  try {
    const server = await spawnServer(redis.url, data, root);
    processes.push(server.process);
    const client = new DiplineClient(server.url);

    // A long grace: the running fit finishes, then the worker exits 0.
    const patient = await spawnWorker(redis.url, data, ["--root", root, "--grace", "60s"]);
    processes.push(patient);
    const first = await client.submit({ recipe: fitRecipe(300), paths: ["a.png"] });
    await observer.next((e) => e.jobId === first.id && e.type === "fit", deadline);
    patient.child.kill("SIGTERM");
    assert.equal((await patient.status).code, 0, patient.output());
    assert.equal((await client.get(first.id)).status, "succeeded", patient.output());

    // No grace: the fit is stopped and the job handed back, its attempt not counted; the next
    // worker finishes it.
    const hasty = await spawnWorker(redis.url, data, ["--root", root, "--grace", "0s"]);
    processes.push(hasty);
    const second = await client.submit({ recipe: fitRecipe(5000), paths: ["b.png"] });
    await observer.next((e) => e.jobId === second.id && e.type === "fit", deadline);
    hasty.child.kill("SIGTERM");
    assert.equal((await hasty.status).code, 0, hasty.output());
    const back = (await observer.queue.get(second.id))!;
    assert.equal(back.status, "queued", hasty.output());
    assert.equal(back.attemptsMade, 0);
    await client.cancel(second.id);
    assert.equal((await client.get(second.id)).status, "canceled");
    const events = await observer.queue.events(second.id);
    assert.ok(events.some((e) => e.type === "job-queued" && e.data.reason === "the worker closed"));
    assert.deepEqual(await cleanFolder(join(data, "jobs", second.id)), []);
  } finally {
    await observer.queue.close();
    for (const process of processes) await process.kill();
    await redis.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a worker whose --data is not the queue's data folder is refused with exit 2", async () => {
  const redis = await startRedis();
  const dir = await Deno.makeTempDir({ prefix: "dipline-data-" });
  try {
    await Deno.mkdir(join(dir, "shared"));
    await Deno.mkdir(join(dir, "local"));
    const first = spawnCli([
      "schedule",
      "list",
      "--queue",
      redis.url,
      "--data",
      join(dir, "shared"),
    ]);
    assert.equal((await first.status).code, 0, first.output());
    const worker = spawnCli(["worker", "--queue", redis.url, "--data", join(dir, "local")]);
    const status = await worker.status;
    assert.equal(status.code, 2, worker.output());
    assert.match(worker.output(), /is not the data folder of the queue at redis:\/\/127\.0\.0\.1/);
    assert.match(worker.output(), /has no \.dipline-data\.json/);
  } finally {
    await redis.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGTERM stops a worker even while Redis is down", async () => {
  const redis = await startRedis();
  const dir = await Deno.makeTempDir({ prefix: "dipline-down-" });
  const processes: CliProcess[] = [];
  try {
    const worker = await spawnWorker(redis.url, dir);
    processes.push(worker);
    await redis.kill();
    worker.child.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      worker.status,
      new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), 20_000)),
    ]);
    clearTimeout(timer);
    assert.equal(status?.code, 0, `still running 20 s after SIGTERM:\n${worker.output()}`);
  } finally {
    for (const process of processes) await process.kill();
    await redis.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cancel through the server stops a fit running on a worker process", async () => {
  const redis = await startRedis();
  const dir = await Deno.makeTempDir({ prefix: "dipline-cancel-" });
  const data = join(dir, "data");
  const root = join(data, "photos");
  await writeCards(root, ["a"]);
  const deadline = AbortSignal.timeout(60_000);
  const processes: CliProcess[] = [];
  const observer = await observe<JobData, JobProgress>(redis.url, "jobs");
  try {
    const server = await spawnServer(redis.url, data, root);
    processes.push(server.process);
    processes.push(await spawnWorker(redis.url, data, ["--root", root]));
    const client = new DiplineClient(server.url);
    const job = await client.submit({ recipe: fitRecipe(5000), paths: ["a.png"] });
    await observer.next((e) => e.jobId === job.id && e.type === "fit", deadline);
    await client.cancel(job.id);
    const ended = await client.wait(job.id, deadline);
    assert.equal(ended.status, "canceled");
    const outputs = await listFiles(join(data, "jobs", job.id)).catch(() => []);
    assert.deepEqual(outputs.filter((name) => name.endsWith(".png")), [], "nothing written");
  } finally {
    await observer.queue.close();
    for (const process of processes) await process.kill();
    await redis.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
