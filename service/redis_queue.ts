/**
 * The {@link Queue} on Redis, for a service that spans hosts: BullMQ delivers the jobs (waiting
 * and delayed lists, one worker per job through a lock it renews, stalled-job detection when a
 * worker dies, job schedulers), and a record per job beside it holds what the service shows —
 * status, attempts, progress, result, error, the event stream — changed only by the atomic Lua
 * scripts of service/redis_scripts.ts. It passes the same table of behaviour tests as the
 * embedded queue (tests/service_queue_test.ts).
 *
 * - **At least once, succeeded once.** A worker that dies (`kill -9`, a lost host) stops renewing
 *   its lock; after `stallTimeoutMs` another worker's stalled check puts the job back and it runs
 *   again, its interrupted attempt not counted (after {@link MAX_STALLS} stalls it fails). Each
 *   attempt carries its lock token, and a record only accepts the end of the attempt that holds
 *   it, so a job that ran twice is recorded as succeeded once; the executor's atomic, skipping
 *   outputs make the second run write nothing twice.
 * - **Retries** follow the job's `attempts` and `backoff` (BullMQ's delayed list, so any worker
 *   takes the retry); an {@link UnrecoverableError} fails at once.
 * - **Cancel** of a queued job is immediate; a running one is told through a Redis channel (and
 *   a poll of its record, in case the message was lost) and its processor's signal aborts.
 * - **Redis restarts** are ridden out: every connection reconnects, and commands wait for it.
 *   Keep Redis persistent (AOF) in production, or a restart loses the queue.
 *
 * ```ts ignore
 * const queue = await RedisQueue.open({ url: "redis://127.0.0.1:6379", name: "jobs" });
 * queue.process(async (job, ctx) => ({ ok: true }), { concurrency: 1 });
 * await queue.add({ recipe: "denoise" }, { attempts: 3 });
 * ```
 *
 * @module
 */
import {
  DelayedError,
  type Job as BullJob,
  Queue as BullQueue,
  UnrecoverableError as BullUnrecoverableError,
  WaitingError,
  Worker as BullWorker,
} from "bullmq";
import { Redis } from "ioredis";
import {
  type AddOptions,
  backoffDelay,
  type Job,
  JOB_STATUSES,
  JobCanceled,
  type JobPage,
  JobStateError,
  type JobStatus,
  type ListOptions,
  type Processor,
  type ProcessorContext,
  type Queue,
  type QueueEvent,
  UnrecoverableError,
  type Worker,
  WorkerClosing,
  type WorkerOptions,
} from "./queue.ts";
import { ADD, CANCEL, EMIT, FINISH, PROGRESS, REMOVE, START } from "./redis_scripts.ts";
import { redact } from "./redis_url.ts";
import { RetryLater } from "./retry_later.ts";

/** Stalls a job survives before it fails (as the embedded queue's `MAX_STALLS`). */
export const MAX_STALLS = 3;

/** Default time without a lock renewal after which a running job's worker counts as dead. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

/** BullMQ's keys live under this prefix; the records under `dipline:q:`. */
const BULL_PREFIX = "dipline:bull";

/** How long closing waits for an unanswering Redis before it drops the connections. */
const STOP_TIMEOUT_MS = 3_000;

/** Whether `promise` settled within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** How often a running job's record is polled for a cancel, besides the live channel. */
const CANCEL_POLL_MS = 2_000;

/** Options of {@link RedisQueue.open}. */
export interface RedisQueueOptions {
  /** `redis://HOST:PORT[/db]`. */
  readonly url: string;
  /** The queue's name; several queues share one Redis. */
  readonly name: string;
  /**
   * A worker that has not renewed its job's lock for this long counts as dead and the job runs
   * elsewhere (BullMQ's `lockDuration`; the stalled check runs every half of it). Default 30 s.
   */
  readonly stallTimeoutMs?: number;
  /** Stalls before a job fails; default {@link MAX_STALLS}. */
  readonly maxStalls?: number;
  /** How this process names itself in `job-running` events; default `host:pid`. */
  readonly workerName?: string;
  /**
   * Follow every event of the queue (default true): what a server and `run --queue` need for
   * {@link RedisQueue.subscribe}. A worker passes false and hears only cancel requests, so N
   * hosts do not each parse every event of every other host.
   */
  readonly liveEvents?: boolean;
}

/** A running worker loop, which can also drain. */
export interface RedisWorker extends Worker {
  /**
   * Stops taking jobs, lets the running ones finish for up to `graceMs`, then hands the rest
   * back to the queue (their attempt not counted). Resolves when no job runs here.
   */
  drain(graceMs: number): Promise<void>;
  /**
   * Stops taking new jobs (the running ones go on) until {@link resume}. A paused worker runs
   * no stalled check either (BullMQ's), so pause only a worker that runs no job.
   */
  pause(): Promise<void>;
  /** Takes jobs again after {@link pause}. */
  resume(): void;
  /** Changes how many jobs it runs at once (at least 1). */
  setConcurrency(concurrency: number): void;
}

/** A batch of jobs added together (`dipline run --queue`): its size and how many ended how. */
export interface BatchView {
  /** The batch's id (`dipline run --queue` prints it). */
  readonly id: string;
  /** Jobs in the batch. */
  readonly total: number;
  /** Jobs that ended so, by now. */
  readonly succeeded: number;
  readonly failed: number;
  readonly canceled: number;
  /** When it was enqueued, ms since the epoch. */
  readonly createdAt: number;
  /** What the batch was made from (recipe, input, output folder). */
  readonly info: Readonly<Record<string, unknown>>;
  /** Its jobs, in the order they were enqueued. */
  readonly jobIds: readonly string[];
}

/** A job scheduler (`dipline schedule`): BullMQ makes one job per tick, whatever the workers. */
export interface ScheduleEntry<D> {
  /** The scheduler's id: the schedule's name. */
  readonly name: string;
  /** Cron pattern, when it has one. */
  readonly pattern?: string;
  /** Milliseconds between runs, when it has no pattern. */
  readonly every?: number;
  /** Time zone of the pattern. */
  readonly tz?: string;
  /** The next run, ms since the epoch. */
  readonly next?: number;
  /** The data of each tick's job. */
  readonly data: D;
}

type Fields = Record<string, string>;
type ScriptResult = [string, string, ...string[]];
type ScriptRunner = (...args: (string | number)[]) => Promise<ScriptResult>;

const SCRIPTS = {
  diplineAdd: ADD,
  diplineStart: START,
  diplineFinish: FINISH,
  diplineCancel: CANCEL,
  diplineRemove: REMOVE,
  diplineEmit: EMIT,
  diplineProgress: PROGRESS,
} as const;

/** This host and process, for events and messages. */
export function workerTag(): string {
  let host = "host";
  try {
    host = Deno.hostname();
  } catch { /* no --allow-sys */ }
  return `${host}:${Deno.pid}`;
}

/** Logs connection trouble at most once per 10 s per source, so an outage is one line. */
function throttledLog(source: string): (error: unknown) => void {
  let last = 0;
  return (error) => {
    const now = Date.now();
    if (now - last < 10_000) return;
    last = now;
    const message = error instanceof Error ? error.message : String(error);
    console.error(`dipline queue: ${source}: ${redact(message.split("\n")[0]!)}`);
  };
}

/** A Redis connection that waits through outages (commands are queued until it is back). */
export function connectRedis(url: string, source: string): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(100 * times, 2_000),
  });
  redis.on("error", throttledLog(source));
  return redis;
}

/** The queue on Redis; see the module doc. */
export class RedisQueue<D = unknown, R = unknown> implements Queue<D, R> {
  readonly name: string;
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #bull: BullQueue;
  readonly #prefix: string;
  readonly #origin = crypto.randomUUID();
  readonly #url: string;
  readonly #stallTimeoutMs: number;
  readonly #maxStalls: number;
  readonly #workerName: string;
  readonly #listeners = new Set<(event: QueueEvent) => void>();
  /** Jobs this process runs: their abort controller and lock token. */
  readonly #running = new Map<string, { controller: AbortController; token: string }>();
  readonly #workers = new Set<RedisWorker>();
  readonly #bullWorkers = new Set<BullWorker>();
  #closed = false;
  #killed = false;

  private constructor(options: RedisQueueOptions, redis: Redis, subscriber: Redis) {
    this.name = options.name;
    this.#url = options.url;
    this.#redis = redis;
    this.#subscriber = subscriber;
    this.#prefix = `dipline:q:${options.name}:`;
    this.#stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    this.#maxStalls = options.maxStalls ?? MAX_STALLS;
    this.#workerName = options.workerName ?? workerTag();
    this.#bull = new BullQueue(options.name, { connection: redis, prefix: BULL_PREFIX });
    this.#bull.on("error", throttledLog(`queue ${options.name}`));
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      redis.defineCommand(name, { numberOfKeys: 0, lua });
    }
    subscriber.on("message", (channel: string, message: string) => {
      if (channel === this.#prefix + "live") this.#onLive(message);
      else if (channel === this.#prefix + "control") this.#onControl(message);
    });
  }

  /**
   * Connects to Redis (waiting until it answers) and subscribes to the queue's live events, so
   * a follower sees every event stored after `open` resolves.
   *
   * @throws {Error} when Redis does not answer within `connectTimeoutMs` (default 10 s)
   */
  static async open<D = unknown, R = unknown>(
    options: RedisQueueOptions & { readonly connectTimeoutMs?: number },
  ): Promise<RedisQueue<D, R>> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(options.name)) {
      throw new RangeError(
        `Expected a queue name of letters, digits, - and _ but received ${options.name}`,
      );
    }
    const redis = connectRedis(options.url, `redis ${redact(options.url)}`);
    const subscriber = redis.duplicate();
    subscriber.on("error", throttledLog(`redis ${redact(options.url)} (events)`));
    const queue = new RedisQueue<D, R>(options, redis, subscriber);
    const timeout = options.connectTimeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        Promise.all([
          redis.ping(),
          options.liveEvents === false
            ? subscriber.subscribe(queue.#prefix + "control")
            : subscriber.subscribe(queue.#prefix + "live", queue.#prefix + "control"),
        ]),
        new Promise((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new Error(`Redis at ${redact(options.url)} did not answer in ${timeout} ms`)),
            timeout,
          );
        }),
      ]);
    } catch (error) {
      redis.disconnect();
      subscriber.disconnect();
      await queue.#bull.close().catch(() => {});
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return queue;
  }

  /** The ioredis client (shared by this queue's BullMQ parts); for small helpers beside it. */
  get redis(): Redis {
    return this.#redis;
  }

  /** The URL it was opened with. */
  get url(): string {
    return this.#url;
  }

  #script(name: keyof typeof SCRIPTS, ...args: (string | number)[]): Promise<ScriptResult> {
    const run = (this.#redis as unknown as Record<string, ScriptRunner>)[name]!;
    return run.call(this.#redis, this.#prefix, this.#origin, ...args);
  }

  /** Hands the events a script appended to this process's listeners (now, not via Redis). */
  #deliver(lines: string): void {
    if (lines === "") return;
    for (const line of lines.split("\n")) this.#publish(JSON.parse(line) as QueueEvent);
  }

  #publish(event: QueueEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        console.error(`queue ${this.name}: an event listener threw: ${error}`);
      }
    }
  }

  #onLive(message: string): void {
    const bar = message.indexOf("|");
    if (bar < 0 || message.slice(0, bar) === this.#origin) return; // delivered already
    try {
      this.#publish(JSON.parse(message.slice(bar + 1)) as QueueEvent);
    } catch { /* not ours */ }
  }

  #onControl(message: string): void {
    try {
      const { cancel } = JSON.parse(message) as { cancel?: string };
      if (cancel !== undefined) this.#running.get(cancel)?.controller.abort(new JobCanceled());
    } catch { /* not ours */ }
  }

  #open(): void {
    if (this.#closed) throw new Error(`queue ${this.name} is closed`);
  }

  #bullOptions(id: string, options: AddOptions) {
    return {
      jobId: id,
      delay: Math.max(0, options.delay ?? 0),
      attempts: 1, // retries are the record's (service/redis_scripts.ts), not BullMQ's
      removeOnComplete: true,
      removeOnFail: true,
    };
  }

  #checkAdd(options: AddOptions): { id: string; attempts: number } {
    const attempts = options.attempts ?? 1;
    if (!Number.isInteger(attempts) || attempts < 1) {
      throw new RangeError(`Expected integer ≥ 1 for attempts but received ${attempts}`);
    }
    const id = options.jobId ?? crypto.randomUUID();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id) || /^\d+$/.test(id)) {
      throw new RangeError(
        `Expected a job id of letters, digits, - and _ (not only digits) but received ${id}`,
      );
    }
    return { id, attempts };
  }

  #addArgs(id: string, data: D, attempts: number, options: AddOptions, now: number, batch = "") {
    return [
      id,
      JSON.stringify(data),
      attempts,
      options.backoff ? JSON.stringify(options.backoff) : "",
      now,
      now + Math.max(0, options.delay ?? 0),
      batch,
    ];
  }

  async add(data: D, options: AddOptions = {}): Promise<Job<D, R>> {
    this.#open();
    const { id, attempts } = this.#checkAdd(options);
    const now = Date.now();
    const [code, events] = await this.#script(
      "diplineAdd",
      ...this.#addArgs(id, data, attempts, options, now),
    );
    if (code === "exists") throw new Error(`job ${id} exists already`);
    this.#deliver(events);
    try {
      await this.#bull.add("job", {}, this.#bullOptions(id, options));
    } catch (error) {
      await this.#redis.del(this.#prefix + "job:" + id).catch(() => {});
      throw error;
    }
    return (await this.get(id))!;
  }

  /**
   * Adds `items` as one batch: every record in one transaction, then the BullMQ jobs in bulk.
   * `info` is kept with the batch (what it was made from); `id` defaults to a random UUID.
   */
  async addBatch(
    items: readonly { readonly data: D; readonly options?: AddOptions }[],
    info: Readonly<Record<string, unknown>> = {},
    id: string = crypto.randomUUID(),
  ): Promise<{ id: string; jobIds: string[]; createdAt: number }> {
    this.#open();
    const batch = id;
    const now = Date.now();
    const checked = items.map((item) => ({ ...item, ...this.#checkAdd(item.options ?? {}) }));
    const multi = this.#redis.multi();
    multi.hset(this.#prefix + "batch:" + batch, {
      total: items.length,
      succeeded: 0,
      failed: 0,
      canceled: 0,
      createdAt: now,
      info: JSON.stringify(info),
    });
    if (checked.length > 0) {
      multi.rpush(
        this.#prefix + `batch:${batch}:jobs`,
        ...checked.map((c) => c.id),
      );
    }
    const runner = multi as unknown as Record<string, (...args: (string | number)[]) => unknown>;
    for (const item of checked) {
      runner.diplineAdd!.call(
        multi,
        this.#prefix,
        this.#origin,
        ...this.#addArgs(item.id, item.data, item.attempts, item.options ?? {}, now, batch),
      );
    }
    const results = (await multi.exec()) ?? [];
    for (const [error, value] of results.slice(checked.length > 0 ? 2 : 1)) {
      if (error) throw error;
      const [code, events] = value as ScriptResult;
      if (code === "exists") throw new Error("a job of the batch exists already");
      this.#deliver(events);
    }
    for (let start = 0; start < checked.length; start += 500) {
      await this.#bull.addBulk(
        checked.slice(start, start + 500).map((item) => ({
          name: "job",
          data: {},
          opts: this.#bullOptions(item.id, item.options ?? {}),
        })),
      );
    }
    return { id: batch, jobIds: checked.map((c) => c.id), createdAt: now };
  }

  /** A batch's counts, or undefined if there is none with that id. */
  async batch(id: string): Promise<BatchView | undefined> {
    const [fields, jobIds] = await Promise.all([
      this.#redis.hgetall(this.#prefix + "batch:" + id),
      this.#redis.lrange(this.#prefix + `batch:${id}:jobs`, 0, -1),
    ]);
    if (fields.total === undefined) return undefined;
    return {
      id,
      total: Number(fields.total),
      succeeded: Number(fields.succeeded ?? 0),
      failed: Number(fields.failed ?? 0),
      canceled: Number(fields.canceled ?? 0),
      createdAt: Number(fields.createdAt),
      info: JSON.parse(fields.info ?? "{}"),
      jobIds,
    };
  }

  async get(id: string): Promise<Job<D, R> | undefined> {
    this.#open();
    const fields = await this.#redis.hgetall(this.#prefix + "job:" + id);
    return fields.id === undefined ? undefined : toJob<D, R>(fields, this.name);
  }

  async list(options: ListOptions = {}): Promise<JobPage<D, R>> {
    this.#open();
    const limit = Math.min(1000, Math.max(1, Math.floor(options.limit ?? 20)));
    const key = this.#prefix +
      (options.status === undefined ? "index" : `status:${options.status}`);
    const max = options.cursor === undefined ? "+inf" : `(${Number(options.cursor)}`;
    const page: Job<D, R>[] = [];
    let upper = max;
    // A job removed between the two reads is skipped; read on until the page is full.
    while (page.length <= limit) {
      const wanted = limit + 1 - page.length;
      const found = await this.#redis.zrevrangebyscore(
        key,
        upper,
        "-inf",
        "WITHSCORES",
        "LIMIT",
        0,
        wanted,
      );
      const pipeline = this.#redis.pipeline();
      for (let k = 0; k < found.length; k += 2) pipeline.hgetall(this.#prefix + "job:" + found[k]);
      for (const [, fields] of (await pipeline.exec()) ?? []) {
        const record = fields as Fields;
        if (record.id !== undefined) page.push(toJob<D, R>(record, this.name));
      }
      if (found.length < 2 * wanted) break;
      upper = `(${found[found.length - 1]}`;
    }
    const jobs = page.slice(0, limit);
    const next = page.length > limit ? String(seqOf(jobs[jobs.length - 1]!)) : undefined;
    return { jobs, next };
  }

  async counts(): Promise<Record<JobStatus, number>> {
    this.#open();
    const pipeline = this.#redis.pipeline();
    for (const status of JOB_STATUSES) pipeline.zcard(this.#prefix + `status:${status}`);
    const results = (await pipeline.exec()) ?? [];
    return Object.fromEntries(
      JOB_STATUSES.map((status, k) => [status, Number(results[k]?.[1] ?? 0)]),
    ) as Record<JobStatus, number>;
  }

  async cancel(id: string): Promise<Job<D, R> | undefined> {
    this.#open();
    const [code, events] = await this.#script("diplineCancel", id, Date.now());
    if (code === "missing") return undefined;
    this.#deliver(events);
    if (code === "canceled") {
      // Gone from BullMQ too, unless a worker has just taken it (its start sees the cancel).
      await this.#bull.remove(id).catch(() => 0);
    } else if (code === "requested") {
      this.#running.get(id)?.controller.abort(new JobCanceled());
      await this.#redis.publish(this.#prefix + "control", JSON.stringify({ cancel: id }));
    }
    return await this.get(id);
  }

  async remove(id: string): Promise<boolean> {
    this.#open();
    const [code, events, status] = await this.#script("diplineRemove", id, Date.now());
    if (code === "missing") return false;
    if (code === "active") {
      throw new JobStateError(`job ${id} is ${status}; cancel it first`, status as JobStatus);
    }
    this.#deliver(events);
    await this.#bull.remove(id).catch(() => 0);
    return true;
  }

  async events(jobId: string, afterId = 0): Promise<QueueEvent[]> {
    this.#open();
    const lines = await this.#redis.zrangebyscore(
      this.#prefix + "events:" + jobId,
      `(${afterId}`,
      "+inf",
    );
    return lines.map((line) => JSON.parse(line) as QueueEvent);
  }

  subscribe(listener: (event: QueueEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Runs one BullMQ job through `processor`, keeping the record in step. */
  async #runBullJob(
    bullJob: BullJob,
    token: string,
    processor: Processor<D, R>,
    mine: Set<string>,
  ): Promise<unknown> {
    const id = bullJob.id!;
    const scheduled = bullJob.repeatJobKey !== undefined;
    const now = Date.now();
    const started = await this.#script(
      "diplineStart",
      id,
      token,
      now,
      this.#workerName,
      this.#maxStalls,
      scheduled ? JSON.stringify(bullJob.data) : "",
      scheduled ? (bullJob.opts.attempts ?? 1) : "",
      scheduled && bullJob.opts.backoff ? JSON.stringify(bullJob.opts.backoff) : "",
    );
    const [code, events, ...rest] = started;
    this.#deliver(events);
    if (code === "failed") throw new BullUnrecoverableError(rest[0]);
    if (code !== "run") return null; // removed, finished elsewhere, or canceled before it ran
    const job = toJob<D, R>(pairs(rest), this.name);

    const controller = new AbortController();
    this.#running.set(id, { controller, token });
    mine.add(id);
    const poll = setInterval(() => {
      this.#redis.hget(this.#prefix + "job:" + id, "cancelRequested").then((value) => {
        if (value === "1") controller.abort(new JobCanceled());
      }, () => {});
    }, CANCEL_POLL_MS);
    const ctx: ProcessorContext = {
      signal: controller.signal,
      attempt: job.attemptsMade,
      progress: (progress) => {
        if (this.#killed) return;
        this.#script("diplineProgress", id, token, JSON.stringify(progress ?? null))
          .catch(() => {});
      },
      emit: (type, data) => {
        if (this.#killed || !this.#running.has(id)) return;
        this.#script("diplineEmit", id, token, Date.now(), type, JSON.stringify(data))
          .then(([, lines]) => this.#deliver(lines), () => {});
      },
    };
    let outcome: Outcome<R>;
    try {
      const result = await processor(job, ctx);
      outcome = controller.signal.aborted
        ? abortOutcome(controller.signal)
        : { kind: "succeeded", result };
    } catch (error) {
      outcome = controller.signal.aborted
        ? abortOutcome(controller.signal)
        : error instanceof RetryLater
        ? { kind: "requeue", reason: oneLine(error), delayMs: error.delayMs }
        : {
          kind: "failed",
          error: oneLine(error),
          unrecoverable: error instanceof UnrecoverableError ||
            error instanceof BullUnrecoverableError,
        };
    } finally {
      clearInterval(poll);
      this.#running.delete(id);
      mine.delete(id);
    }
    if (this.#killed) return new Promise(() => {}); // a dead process says nothing more
    return await this.#settle(bullJob, token, job, outcome);
  }

  /** Records how the attempt ended and tells BullMQ the matching move. */
  async #settle(bullJob: BullJob, token: string, job: Job<D, R>, outcome: Outcome<R>) {
    const now = Date.now();
    let kind: string = outcome.kind;
    let payload = "";
    let runAt = 0;
    switch (outcome.kind) {
      case "succeeded":
        payload = JSON.stringify(outcome.result ?? null);
        break;
      case "requeue":
        payload = outcome.reason ?? "the worker closed";
        if (outcome.delayMs !== undefined) runAt = now + Math.max(0, outcome.delayMs);
        break;
      case "failed": {
        payload = outcome.error;
        if (!outcome.unrecoverable && job.attemptsMade < job.attempts) {
          kind = "retry";
          runAt = now + backoffDelay(job.backoff, job.attemptsMade);
        }
        break;
      }
    }
    const [code, events] = await this.#script(
      "diplineFinish",
      job.id,
      token,
      now,
      kind,
      payload,
      runAt,
    );
    this.#deliver(events);
    if (code === "lost") return null; // another worker holds the job now: its end counts
    switch (kind) {
      case "requeue":
        if (runAt > 0) {
          await bullJob.moveToDelayed(runAt, token);
          throw new DelayedError();
        }
        await bullJob.moveToWait(token);
        throw new WaitingError();
      case "retry":
        await bullJob.moveToDelayed(runAt, token);
        throw new DelayedError();
      case "failed":
        throw new BullUnrecoverableError(payload);
      default:
        return null;
    }
  }

  process(processor: Processor<D, R>, options: WorkerOptions = {}): RedisWorker {
    this.#open();
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`Expected integer ≥ 1 for concurrency but received ${concurrency}`);
    }
    const mine = new Set<string>();
    const bullWorker = new BullWorker(
      this.name,
      (bullJob: BullJob, token?: string) => this.#runBullJob(bullJob, token ?? "", processor, mine),
      {
        connection: this.#redis,
        prefix: BULL_PREFIX,
        concurrency,
        lockDuration: this.#stallTimeoutMs,
        stalledInterval: Math.max(250, Math.floor(this.#stallTimeoutMs / 2)),
        maxStalledCount: 1_000_000, // stalls are counted in the record (MAX_STALLS)
        drainDelay: 1,
      },
    );
    bullWorker.on("error", throttledLog(`worker ${this.name}`));
    this.#bullWorkers.add(bullWorker);
    const abortMine = () => {
      for (const id of mine) this.#running.get(id)?.controller.abort(new WorkerClosing());
    };
    let closing: Promise<void> | undefined;
    /**
     * Closes the BullMQ worker once its jobs ended (aborted after `graceMs`); when Redis does
     * not answer for {@link STOP_TIMEOUT_MS} after the last job ended, drops the connections
     * instead of waiting on it (a job whose end could not be recorded is found stalled and runs
     * again elsewhere).
     */
    const stop = (graceMs: number) => {
      closing ??= (async () => {
        const timer = setTimeout(abortMine, Math.max(0, graceMs));
        try {
          let closed = false;
          const closing = bullWorker.close().then(() => closed = true, () => closed = true);
          let idleSince: number | undefined;
          while (!closed) {
            // No job of ours runs any more: BullMQ only has Redis left to talk to.
            if (mine.size > 0) idleSince = undefined;
            else idleSince ??= Date.now();
            if (idleSince !== undefined && Date.now() - idleSince > STOP_TIMEOUT_MS) {
              console.error(`dipline queue: worker ${this.name}: Redis does not answer; stopping`);
              await within(bullWorker.disconnect().catch(() => {}), 1000);
              this.#redis.disconnect();
              break;
            }
            await within(closing, 100);
          }
        } finally {
          clearTimeout(timer);
        }
        this.#bullWorkers.delete(bullWorker);
        this.#workers.delete(worker);
      })();
      return closing;
    };
    const worker: RedisWorker = {
      get active() {
        return mine.size;
      },
      close: () => {
        abortMine(); // also during a drain: hand the running jobs back now
        return stop(0);
      },
      pause: () => bullWorker.pause(true),
      resume: () => {
        if (!bullWorker.closing && bullWorker.isPaused()) void bullWorker.resume();
      },
      setConcurrency: (n: number) => {
        if (bullWorker.concurrency !== Math.max(1, n)) bullWorker.concurrency = Math.max(1, n);
      },
      drain: (graceMs: number) => stop(graceMs),
    };
    this.#workers.add(worker);
    return worker;
  }

  /** Adds or replaces the job scheduler `name`: one job with `data` per tick, on any worker. */
  async upsertSchedule(
    name: string,
    repeat: { readonly pattern?: string; readonly every?: number; readonly tz?: string },
    data: D,
    options: Pick<AddOptions, "attempts" | "backoff"> = {},
  ): Promise<void> {
    this.#open();
    await this.#bull.upsertJobScheduler(name, { ...repeat }, {
      name: `schedule:${name}`,
      data,
      opts: {
        attempts: options.attempts ?? 1,
        ...(options.backoff ? { backoff: { ...options.backoff } } : {}),
        removeOnComplete: true,
        removeOnFail: true,
      },
    });
  }

  /** The job schedulers, by name. */
  async schedules(): Promise<ScheduleEntry<D>[]> {
    this.#open();
    const found = await this.#bull.getJobSchedulers(0, -1, true);
    return found.map((entry) => ({
      name: entry.key,
      pattern: entry.pattern ?? undefined,
      every: entry.every === undefined || entry.every === null ? undefined : Number(entry.every),
      tz: entry.tz ?? undefined,
      next: entry.next,
      data: entry.template?.data as D,
    })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Removes a job scheduler; false if there was none. */
  async removeSchedule(name: string): Promise<boolean> {
    this.#open();
    return await this.#bull.removeJobScheduler(name);
  }

  /**
   * Stops as a `kill -9` would (for tests): no job is handed back, locks are no longer renewed,
   * connections drop; other workers find the jobs stalled.
   */
  async kill(): Promise<void> {
    if (this.#closed) return;
    this.#killed = true;
    this.#closed = true;
    await Promise.all([...this.#bullWorkers].map((worker) => worker.close(true).catch(() => {})));
    this.#listeners.clear();
    this.#redis.disconnect();
    this.#subscriber.disconnect();
    await this.#bull.close().catch(() => {});
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await Promise.all([...this.#workers].map((worker) => worker.close()));
    this.#closed = true;
    this.#listeners.clear();
    // Each step waits for Redis a little at most: a queue closes even while Redis is down.
    await within(this.#bull.close().catch(() => {}), STOP_TIMEOUT_MS);
    for (const connection of [this.#subscriber, this.#redis]) {
      if (!(await within(connection.quit().then(() => {}, () => {}), 1000))) {
        connection.disconnect();
      }
    }
  }
}

type Outcome<R> =
  | { kind: "succeeded"; result: R }
  | { kind: "failed"; error: string; unrecoverable: boolean }
  | { kind: "canceled" }
  | { kind: "requeue"; reason?: string; delayMs?: number };

function abortOutcome<R>(signal: AbortSignal): Outcome<R> {
  return signal.reason instanceof WorkerClosing ? { kind: "requeue" } : { kind: "canceled" };
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0]!.slice(0, 2000);
}

function pairs(flat: readonly string[]): Fields {
  const fields: Fields = {};
  for (let k = 0; k + 1 < flat.length; k += 2) fields[flat[k]!] = flat[k + 1]!;
  return fields;
}

const seqs = new WeakMap<object, number>();

function seqOf(job: Job<unknown, unknown>): number {
  return seqs.get(job) ?? 0;
}

function parse(value: string | undefined): unknown {
  return value === undefined || value === "" ? undefined : JSON.parse(value);
}

function optionalNumber(value: string | undefined): number | undefined {
  return value === undefined || value === "" ? undefined : Number(value);
}

function toJob<D, R>(fields: Fields, queue: string): Job<D, R> {
  const job: Job<D, R> = {
    id: fields.id!,
    queue,
    data: parse(fields.data) as D,
    status: fields.status as JobStatus,
    attemptsMade: Number(fields.attemptsMade ?? 0),
    attempts: Number(fields.attempts ?? 1),
    backoff: parse(fields.backoff) as Job["backoff"],
    progress: parse(fields.progress),
    result: parse(fields.result) as R | undefined,
    error: fields.error === undefined || fields.error === "" ? undefined : fields.error,
    cancelRequested: fields.cancelRequested === "1",
    stalls: Number(fields.stalls ?? 0),
    createdAt: Number(fields.createdAt),
    runAt: Number(fields.runAt),
    startedAt: optionalNumber(fields.startedAt),
    finishedAt: optionalNumber(fields.finishedAt),
  };
  seqs.set(job, Number(fields.seq ?? 0));
  return job;
}
