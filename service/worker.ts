/**
 * `dipline worker`: one GPU host's share of a Redis queue. It checks that its `--data` is the
 * shared data folder the queue was bound to (service/data_folder.ts), then runs the service's
 * restoration jobs (queue `jobs`, what `dipline serve --queue` enqueues) and run jobs (queue
 * `runs`: `dipline run --queue` batches and schedules) — at most `concurrency` at once over both,
 * taking a new job only when a slot is free, so idle hosts get the work.
 *
 * `drain(graceMs)` (SIGTERM) stops taking jobs, lets the running ones finish for up to the grace
 * period, then hands the rest back to the queue without spending an attempt; a `kill -9` is
 * survived too (BullMQ's stalled check on the other hosts gives the job to one of them).
 *
 * @module
 */
import type { z } from "zod";
import { DEFAULT_MAX_PIXELS } from "../image/load.ts";
import { bindDataFolder, realFolder } from "./data_folder.ts";
import type { JobData, JobProgress } from "./jobs.ts";
import type { Job, Processor } from "./queue.ts";
import type { RecipeCodec } from "./recipes.ts";
import { RedisQueue, type RedisWorker, workerTag } from "./redis_queue.ts";
import { redact } from "./redis_url.ts";
import {
  describeRun,
  type RunJobData,
  type RunJobOptions,
  runJobProcessor,
  type RunJobResult,
} from "./run_jobs.ts";
import { restorationProcessor } from "./runner.ts";
import { simulatedRunProcessor } from "./simulate.ts";
import type { RunOptionsSchema } from "./schemas.ts";

/** The queue names on Redis: the service's jobs, and run jobs (batches, schedules). */
export const QUEUE_NAMES = { jobs: "jobs", runs: "runs" } as const;

/** Options of {@link startWorker} (the flags of `dipline worker`). */
export interface StartWorkerOptions {
  /** `redis://HOST:PORT`. */
  readonly url: string;
  /** The shared data folder on this host. */
  readonly data: string;
  /** The folder jobs' input paths are relative to (the server's `--root`, as mounted here). */
  readonly root?: string;
  /** Jobs at once on this host, over both queues; default 1. */
  readonly concurrency?: number;
  /** Engine and threads for jobs that do not choose (a job's own choice wins). */
  readonly engine?: RunJobOptions["engine"];
  /** Cpu engine worker threads for jobs that do not choose. */
  readonly threads?: number;
  /** A worker silent this long counts as dead (default 30 s). */
  readonly stallTimeoutMs?: number;
  /** Reads the jobs' recipes. */
  readonly codec: RecipeCodec;
  /** Largest image in pixels; default 40,000,000. */
  readonly maxPixels?: number;
  /**
   * Load testing without GPUs: run jobs sleep this many ms per million pixels instead of
   * fitting (service/simulate.ts), and the service's jobs are left to other workers.
   */
  readonly simulateMsPerMegapixel?: number;
  /** One line per job started and ended; default none. */
  readonly log?: (line: string) => void;
}

/** A running worker. */
export interface RunningWorker {
  /** `host:pid`. */
  readonly name: string;
  /** The data folder's real path. */
  readonly dataDir: string;
  /** Jobs running now. */
  readonly active: number;
  /** Stops taking jobs; finishes running ones for up to `graceMs`, then hands them back. */
  drain(graceMs: number): Promise<void>;
  /** Hands running jobs back at once and disconnects. */
  close(): Promise<void>;
}

/** Slots of this host shared by the queues' workers, and who holds how many. */
class HostSlots {
  #free: number;
  readonly #held = new Map<string, number>();
  readonly #waiting: (() => void)[] = [];
  constructor(count: number, readonly onChange: (free: number) => void) {
    this.#free = count;
  }
  /** Slots the jobs of `kind` hold now. */
  held(kind: string): number {
    return this.#held.get(kind) ?? 0;
  }
  #count(kind: string, delta: number): void {
    this.#held.set(kind, this.held(kind) + delta);
  }
  /** Waits for a slot; rejects with the signal's reason when it aborts first. */
  async acquire(kind: string, signal: AbortSignal): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else {
      await new Promise<void>((resolve, reject) => {
        const grant = () => {
          signal.removeEventListener("abort", abort);
          resolve();
        };
        const abort = () => {
          const k = this.#waiting.indexOf(grant);
          if (k >= 0) this.#waiting.splice(k, 1);
          reject(signal.reason);
        };
        if (signal.aborted) return reject(signal.reason);
        signal.addEventListener("abort", abort, { once: true });
        this.#waiting.push(grant);
      });
    }
    this.#count(kind, 1);
    this.onChange(this.#free);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#count(kind, -1);
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#free++;
      this.onChange(this.#free);
    };
  }
}

/**
 * Connects, checks the data folder and starts taking jobs.
 *
 * @throws {UsageError} when `data` is not a folder or not the queue's data folder
 */
export async function startWorker(options: StartWorkerOptions): Promise<RunningWorker> {
  const dataDir = await realFolder(options.data, "worker");
  const root = options.root === undefined
    ? undefined
    : await realFolder(options.root, "worker", "--root");
  const concurrency = options.concurrency ?? 1;
  const name = workerTag();
  const open = <D, R>(queue: string) =>
    RedisQueue.open<D, R>({
      url: options.url,
      name: queue,
      stallTimeoutMs: options.stallTimeoutMs,
      workerName: name,
      liveEvents: false,
    });
  const jobs = await open<JobData, JobProgress>(QUEUE_NAMES.jobs);
  let runs: RedisQueue<RunJobData, RunJobResult>;
  try {
    await bindDataFolder(jobs.redis, dataDir, "worker", redact(options.url));
    runs = await open<RunJobData, RunJobResult>(QUEUE_NAMES.runs);
  } catch (error) {
    await jobs.close();
    throw error;
  }
  const log = options.log ?? (() => {});
  const workers = new Map<string, RedisWorker>(); // by the kind of job it runs
  // Take a job only with a free slot, so idle hosts get the work: each queue's worker may run
  // what it runs plus the free slots; one that runs nothing on a full host pauses (a paused
  // BullMQ worker skips its stalled checks, which the queues with jobs here keep doing).
  const slots = new HostSlots(concurrency, (free) => {
    for (const [kind, worker] of workers) {
      const mine = slots.held(kind);
      if (free === 0 && mine === 0) void worker.pause();
      else {
        worker.setConcurrency(mine + free);
        worker.resume();
      }
    }
  });
  const limited = <D, R>(
    kind: string,
    describe: (job: Job<D, R>) => string,
    inner: Processor<D, R>,
  ): Processor<D, R> =>
  async (job, ctx) => {
    const release = await slots.acquire(kind, ctx.signal);
    const started = performance.now();
    log(`job ${job.id} started (${kind}: ${describe(job)}; attempt ${ctx.attempt})`);
    try {
      const result = await inner(job, ctx);
      log(`job ${job.id} ${ctx.signal.aborted ? "stopped" : "succeeded"} in ${seconds(started)}`);
      return result;
    } catch (error) {
      const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
      log(
        `job ${job.id} ${ctx.signal.aborted ? "stopped" : `failed: ${message}`} (${
          seconds(started)
        })`,
      );
      throw error;
    } finally {
      release();
    }
  };

  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const restoration = restorationProcessor({ dataDir, root, codec: options.codec, maxPixels });
  const withDefaults: Processor<JobData, JobProgress> = (job, ctx) =>
    restoration({
      ...job,
      data: {
        ...job.data,
        runOptions: {
          ...(options.engine === undefined ? {} : { engine: options.engine }),
          ...job.data.runOptions,
        } as z.output<typeof RunOptionsSchema>,
      },
    }, ctx);
  const defaults: RunJobOptions = {
    ...(options.engine === undefined ? {} : { engine: options.engine }),
    ...(options.threads === undefined ? {} : { threads: options.threads }),
  };
  const simulate = options.simulateMsPerMegapixel;
  if (simulate === undefined) {
    workers.set(
      "restoration",
      jobs.process(
        limited("restoration", (job) => `${job.data.inputs.length} input(s)`, withDefaults),
        { concurrency },
      ),
    );
  }
  workers.set(
    "run",
    runs.process(
      limited(
        "run",
        (job) => describeRun(job.data),
        simulate === undefined
          ? runJobProcessor({ dataDir, codec: options.codec, maxPixels, defaults })
          : simulatedRunProcessor(dataDir, simulate),
      ),
      { concurrency },
    ),
  );

  let closing: Promise<void> | undefined;
  const finish = async (how: (worker: RedisWorker) => Promise<void>) => {
    await Promise.all([...workers.values()].map(how));
    await Promise.all([jobs.close(), runs.close()]);
  };
  return {
    name,
    dataDir,
    get active() {
      return [...workers.values()].reduce((sum, worker) => sum + worker.active, 0);
    },
    drain(graceMs) {
      closing ??= finish((worker) => worker.drain(graceMs));
      return closing;
    },
    close() {
      for (const worker of workers.values()) void worker.close(); // during a drain too
      closing ??= finish((worker) => worker.close());
      return closing;
    },
  };
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}
