/**
 * `dipline run <recipe> --input DIR --queue redis://…`: fans a folder out over the GPU hosts.
 * One run job per input goes into the shared queue as one batch (every record in one Redis
 * transaction), largest images first; each `dipline worker` takes the next job when it is free,
 * so hosts share the folder by speed, not by count (and the biggest fits do not come last to
 * stretch the end of the batch), and a host that dies loses no share. The command then follows
 * the batch (counts, running hosts, failures) until every job has ended, or leaves it running
 * with `--detach`.
 *
 * @module
 */
import { basename, join } from "node:path";
import type { Pipeline } from "../pipeline/dsl.ts";
import { collectInputs } from "../pipeline/executor.ts";
import { resolveSource } from "../pipeline/sources.ts";
import { bindDataFolder, realFolder } from "../service/data_folder.ts";
import { imageSize } from "../service/image_header.ts";
import type { Job, QueueEvent } from "../service/queue.ts";
import { type BatchView, RedisQueue } from "../service/redis_queue.ts";
import {
  type RunJobData,
  type RunJobOptions,
  type RunJobResult,
  toDataPath,
} from "../service/run_jobs.ts";
import { QUEUE_NAMES } from "../service/worker.ts";
import { EXIT, printLine, UsageError } from "./common.ts";
import { onStopSignals, queueFlag } from "./queue_common.ts";

/** Tries per input, and the wait between them. */
export const BATCH_ATTEMPTS = 3;
const BATCH_BACKOFF = { type: "exponential", delay: 5_000 } as const;

/** What `run` hands over when `--queue` is given. */
export interface QueueRunOptions {
  readonly queue: string;
  readonly data?: string;
  readonly out: string;
  readonly force: boolean;
  readonly json: boolean;
  readonly dryRun: boolean;
  readonly detach: boolean;
  readonly schedule: RunJobOptions;
}

/** Enqueues one job per input of `input` as one batch, then follows it (see the module doc). */
export async function runOnQueue(
  recipe: Pipeline,
  recipePath: string,
  input: string,
  options: QueueRunOptions,
): Promise<number> {
  const url = queueFlag({ name: "run" }, options.queue)!;
  const document = recipe.toJSON(); // a step without a JSON form cannot travel: refused here
  const source = await resolveSource(input);
  await Deno.mkdir(options.out, { recursive: true });
  const items = await largestFirst(await collectInputs(input, { outDir: options.out }));
  if (options.dryRun) {
    printLine(
      `run --queue: would enqueue ${items.length} job(s) on ${url.shown}, one per input of ${input}`,
    );
    return EXIT.ok;
  }
  const queue = await RedisQueue.open<RunJobData, RunJobResult>({
    url: url.href,
    name: QUEUE_NAMES.runs,
  });
  try {
    const dataPath = options.data ?? await recordedDataPath(queue);
    const dataDir = await realFolder(dataPath, "run");
    await bindDataFolder(queue.redis, dataDir, "run", url.shown);
    const out = toDataPath(dataDir, await Deno.realPath(options.out), "run: --out", true);
    const root = await Deno.realPath(source.root);
    const rootStored = toDataPath(dataDir, root, "run: --input", true);
    const jobs = items.map((item) => {
      const relative = item.relative ?? basename(item.path!);
      const data: RunJobData = {
        kind: "run",
        recipe: document,
        recipeName: basename(recipePath),
        input: toDataPath(dataDir, join(root, relative), "run: --input", true),
        root: rootStored,
        out,
        ...(Object.keys(options.schedule).length > 0 ? { runOptions: options.schedule } : {}),
        ...(options.force ? { force: true } : {}),
      };
      const jobId = crypto.randomUUID();
      return { data, options: { jobId, attempts: BATCH_ATTEMPTS, backoff: BATCH_BACKOFF } };
    });
    // Follow before enqueuing: a free worker starts the first job at once.
    const batchId = crypto.randomUUID();
    const follower = options.detach ? undefined : followBatch(
      queue,
      batchId,
      jobs.map((job) => job.options.jobId),
      options.json,
    );
    let batch;
    try {
      batch = await queue.addBatch(jobs, {
        recipe: basename(recipePath),
        input: rootStored,
        out,
      }, batchId);
    } catch (error) {
      follower?.dispose();
      throw error;
    }
    console.error(
      `run --queue: batch ${batch.id}: ${jobs.length} job(s) on ${url.shown} ` +
        `(${basename(recipePath)} over ${rootStored} → ${out})`,
    );
    if (options.json) {
      printLine(JSON.stringify({
        type: "batch",
        batch: batch.id,
        jobs: jobs.length,
        createdAt: batch.createdAt,
      }));
    }
    if (follower === undefined) {
      printLine(batch.id);
      return EXIT.ok;
    }
    return await follower.run();
  } finally {
    await queue.close();
  }
}

/** Pixels an image file claims in its header (its size in bytes when unreadable). */
async function pixelsOf(path: string): Promise<number> {
  try {
    const file = await Deno.open(path);
    try {
      const head = new Uint8Array(256 * 1024);
      const n = await file.read(head);
      const size = imageSize(head.subarray(0, n ?? 0));
      if (size !== undefined) return size.width * size.height;
      return (await file.stat()).size;
    } finally {
      file.close();
    }
  } catch {
    return 0;
  }
}

/**
 * The inputs, largest first (a stable sort): the queue hands out jobs in order, and a big fit
 * taken last would finish long after every other host went idle.
 */
async function largestFirst<T extends { readonly path?: string }>(items: T[]): Promise<T[]> {
  const pixels = await Promise.all(items.map((item) => item.path ? pixelsOf(item.path) : 0));
  return items.map((item, k) => ({ item, k })).sort((a, b) =>
    pixels[b.k]! - pixels[a.k]! || a.k - b.k
  ).map(({ item }) => item);
}

/** The data folder the queue was bound to, when it exists here at the same path. */
async function recordedDataPath(queue: RedisQueue<unknown, unknown>): Promise<string> {
  const path = await queue.redis.hget("dipline:data", "path");
  if (path === null) {
    throw new UsageError(
      "run: --queue needs --data DIR: the shared data folder that holds the inputs and outputs",
    );
  }
  return path;
}

/**
 * Starts following the batch `batchId` of the jobs `jobIds` (its events are kept from now on,
 * so none is missed while it is enqueued); `run` prints its progress until every job ended,
 * then its failures, and resolves with the exit code.
 */
function followBatch(
  queue: RedisQueue<RunJobData, RunJobResult>,
  batchId: string,
  jobIds: readonly string[],
  json: boolean,
): { run(): Promise<number>; dispose(): void } {
  const members = new Set(jobIds);
  const running = new Map<string, string>(); // job → worker
  const early: QueueEvent[] = [];
  let started = false;
  let wake = () => {};
  const take = (event: QueueEvent) => {
    if (json) printLine(JSON.stringify({ batch: batchId, ...event }));
    if (event.type === "job-running") running.set(event.jobId, String(event.data.worker ?? "?"));
    else if (event.type !== "fit" && !event.type.startsWith("input-")) running.delete(event.jobId);
    wake();
  };
  const unsubscribe = queue.subscribe((event: QueueEvent) => {
    if (!members.has(event.jobId)) return;
    if (started) take(event);
    else early.push(event);
  });

  const line = (v: BatchView) => {
    const ended = v.succeeded + v.failed + v.canceled;
    const hosts = new Set(running.values());
    const parts = [`batch ${batchId.slice(0, 8)}: ${v.succeeded}/${v.total} done`];
    if (v.failed > 0) parts.push(`${v.failed} failed`);
    if (v.canceled > 0) parts.push(`${v.canceled} canceled`);
    parts.push(`${running.size} running${hosts.size > 0 ? ` on ${hosts.size} host(s)` : ""}`);
    parts.push(`${Math.max(0, v.total - ended - running.size)} queued`);
    return parts.join(" · ");
  };

  const run = async (): Promise<number> => {
    started = true;
    for (const event of early.splice(0)) take(event);
    const terminal = Deno.stderr.isTerminal() && !json;
    let view = (await queue.batch(batchId))!;
    let shown = "";
    let interrupted: Deno.Signal | undefined;
    const dispose = onStopSignals("run --queue", (signal) => {
      interrupted = signal;
      wake();
    }, () => {});
    try {
      while (view.succeeded + view.failed + view.canceled < view.total && !interrupted) {
        const text = line(view);
        if (text !== shown && !json) {
          if (terminal) Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[K${text}`));
          else console.error(text);
          shown = text;
        }
        // Wake on the batch's events; read the counts at least every 2 s (events can be lost).
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 2000);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        view = (await queue.batch(batchId))!;
      }
    } finally {
      unsubscribe();
      dispose();
    }
    if (terminal) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
    if (interrupted) {
      console.error(`${line(view)}\nrun --queue: stopped following; the batch goes on`);
      return interrupted === "SIGTERM" ? 143 : 130;
    }
    const jobs = (await Promise.all(view.jobIds.map((id) => queue.get(id))))
      .filter((job): job is Job<RunJobData, RunJobResult> => job !== undefined);
    const done = jobs.flatMap((job) => job.result?.done ?? []).length;
    const resumed = jobs.flatMap((job) => job.result?.resumed ?? []).length;
    const failed = jobs.filter((job) => job.status === "failed");
    if (json) {
      const { total, succeeded, canceled } = view;
      printLine(JSON.stringify({
        type: "summary",
        batch: batchId,
        total,
        succeeded,
        failed: view.failed,
        canceled,
        done,
        resumed,
      }));
    }
    console.error(
      `batch ${batchId}: ${done} done, ${resumed} up to date, ${failed.length} failed` +
        (view.canceled > 0 ? `, ${view.canceled} canceled` : ""),
    );
    if (failed.length > 0) {
      console.error("Failed:");
      for (const job of failed) console.error(`  ${job.data.input}: ${job.error}`);
    }
    return failed.length > 0 ? EXIT.input : EXIT.ok;
  };
  return { run, dispose: unsubscribe };
}
