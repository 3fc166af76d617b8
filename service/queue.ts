/**
 * The job queue the service runs on, in the shape of BullMQ's `Queue` / `Worker` /
 * `QueueEvents`, so that the embedded SQLite queue (service/sqlite_queue.ts) and a Redis one
 * built on BullMQ satisfy the same interface and the same behaviour tests
 * (tests/service_queue_test.ts runs one table of cases against each store factory).
 *
 * - `add` enqueues (BullMQ `Queue.add`): attempts, backoff, delay.
 * - `get` / `list` / `counts` read (BullMQ `getJob`, `getJobs`, `getJobCounts`).
 * - `cancel` stops a queued job at once and asks a running one to stop (its processor's
 *   `signal` aborts); `remove` deletes a finished job and its events.
 * - `events` replays a job's events after an id and `subscribe` follows them live (BullMQ
 *   `QueueEvents` with `lastEventId`); event ids increase, so a client resumes where it left.
 * - `process` starts a worker loop (BullMQ `Worker`): `concurrency` jobs at a time; a job whose
 *   processor throws is retried after its backoff until `attempts` are spent, unless the error
 *   is an {@link UnrecoverableError}.
 *
 * Delivery is at least once: a job that was running when its server died is run again, so
 * processors must be idempotent (the executor skips outputs that exist).
 *
 * @module
 */

/** Where a job is in its life. `queued` includes jobs waiting for a delay or a retry backoff. */
export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "canceled";

/** Every status, in life order. */
export const JOB_STATUSES: readonly JobStatus[] = [
  "queued",
  "running",
  "succeeded",
  "failed",
  "canceled",
];

/** Whether a job in this status will not change again. */
export function isFinished(status: JobStatus): boolean {
  return status === "succeeded" || status === "failed" || status === "canceled";
}

/** How long to wait before a retry (BullMQ's `BackoffOptions`). */
export interface Backoff {
  /** `fixed`: `delay` every time; `exponential`: `delay · 2^(attempt − 1)`. */
  readonly type: "fixed" | "exponential";
  /** Milliseconds. */
  readonly delay: number;
}

/** Options of {@link Queue.add} (BullMQ's `JobsOptions`, the part the service uses). */
export interface AddOptions {
  /** Tries in all before the job fails with its last error; default 1. */
  readonly attempts?: number;
  /** Wait between tries; default none (retry at once). */
  readonly backoff?: Backoff;
  /** Milliseconds before the job may first run (a schedule); default 0. */
  readonly delay?: number;
  /** The job's id; default a random UUID. */
  readonly jobId?: string;
}

/** A job as stored. `data`, `progress` and `result` are JSON values. */
export interface Job<D = unknown, R = unknown> {
  readonly id: string;
  /** The queue it belongs to. */
  readonly queue: string;
  readonly data: D;
  readonly status: JobStatus;
  /** Tries started so far (an attempt cut short by a server restart does not count). */
  readonly attemptsMade: number;
  /** Tries allowed in all. */
  readonly attempts: number;
  readonly backoff?: Backoff;
  /** What the processor last reported with `ctx.progress()`. */
  readonly progress?: unknown;
  /** What the processor returned, once succeeded. */
  readonly result?: R;
  /** The last error (one line), once failed or while waiting for a retry. */
  readonly error?: string;
  /** Cancel was asked for while it ran. */
  readonly cancelRequested: boolean;
  /** Times a server stopped while it ran (it is re-queued each time, up to a limit). */
  readonly stalls: number;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  /** Not before this time (delay or retry backoff). */
  readonly runAt: number;
  /** When the current or last attempt started. */
  readonly startedAt?: number;
  /** When it finished (succeeded, failed or canceled). */
  readonly finishedAt?: number;
}

/**
 * One event of a job, with an id that increases across the queue. Lifecycle events are
 * `job-queued`, `job-running`, `job-retrying`, `job-succeeded`, `job-failed`, `job-canceled`
 * (and `job-removed`, live only); a processor adds its own with `ctx.emit`.
 */
export interface QueueEvent {
  readonly id: number;
  readonly jobId: string;
  readonly type: string;
  readonly data: Readonly<Record<string, unknown>>;
  /** Milliseconds since the epoch. */
  readonly at: number;
}

/** Lifecycle event types after which a job's stream ends. */
export const FINAL_EVENTS: ReadonlySet<string> = new Set([
  "job-succeeded",
  "job-failed",
  "job-canceled",
  "job-removed",
]);

/** A page of {@link Queue.list}, newest first. */
export interface JobPage<D = unknown, R = unknown> {
  readonly jobs: Job<D, R>[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  readonly next?: string;
}

/** Options of {@link Queue.list}. */
export interface ListOptions {
  /** Jobs per page, 1–1000; default 20. */
  readonly limit?: number;
  /** The `next` of the previous page. */
  readonly cursor?: string;
  /** Only jobs in this status. */
  readonly status?: JobStatus;
}

/** What a processor gets besides the job. */
export interface ProcessorContext {
  /** Aborts when the job is canceled or the worker closes; stop at the next check. */
  readonly signal: AbortSignal;
  /** 1 for the first try. */
  readonly attempt: number;
  /** Stores the job's progress (a JSON value) for `get`. */
  progress(progress: unknown): void;
  /** Appends an event to the job's stream (persisted, replayable). */
  emit(type: string, data: Readonly<Record<string, unknown>>): void;
}

/** Runs one job; resolves with its result (a JSON value), throws to fail the attempt. */
export type Processor<D, R> = (job: Job<D, R>, ctx: ProcessorContext) => Promise<R>;

/** Options of {@link Queue.process}. */
export interface WorkerOptions {
  /** Jobs run at once; default 1. */
  readonly concurrency?: number;
}

/** A running processor loop (BullMQ `Worker`). */
export interface Worker {
  /** Jobs running now. */
  readonly active: number;
  /**
   * Stops taking jobs and aborts the running ones; they go back to the queue without spending
   * an attempt, to run again on the next start.
   */
  close(): Promise<void>;
}

/** Thrown by a processor: fail the job now, whatever attempts are left (as in BullMQ). */
export class UnrecoverableError extends Error {
  override name = "UnrecoverableError";
}

/** An operation that the job's status does not allow (remove a running job). */
export class JobStateError extends Error {
  override name = "JobStateError";
  constructor(message: string, readonly status: JobStatus) {
    super(message);
  }
}

/** The queue: a durable store of jobs and their events, plus the worker loop. */
export interface Queue<D = unknown, R = unknown> {
  readonly name: string;
  /** Enqueues a job; resolves once it is stored durably. */
  add(data: D, options?: AddOptions): Promise<Job<D, R>>;
  get(id: string): Promise<Job<D, R> | undefined>;
  /** Newest first. */
  list(options?: ListOptions): Promise<JobPage<D, R>>;
  /** Jobs per status. */
  counts(): Promise<Record<JobStatus, number>>;
  /**
   * Cancels a queued job at once; a running one gets `cancelRequested` and its signal aborts,
   * and it ends `canceled` when its processor returns. A finished job is returned unchanged.
   * Resolves with the job after the change, undefined if there is no such job.
   */
  cancel(id: string): Promise<Job<D, R> | undefined>;
  /**
   * Deletes a finished job and its events; false if there is no such job.
   *
   * @throws {JobStateError} when the job is queued or running
   */
  remove(id: string): Promise<boolean>;
  /** The job's stored events with ids after `afterId` (all when absent), oldest first. */
  events(jobId: string, afterId?: number): Promise<QueueEvent[]>;
  /** Calls `listener` with every new event of the queue; returns the unsubscribe function. */
  subscribe(listener: (event: QueueEvent) => void): () => void;
  /** Starts a worker loop in this process. */
  process(processor: Processor<D, R>, options?: WorkerOptions): Worker;
  /** Closes workers and the store. */
  close(): Promise<void>;
}

/** Milliseconds before try `attempt + 1`, after `attempt` tries failed (1-based). */
export function backoffDelay(backoff: Backoff | undefined, attempt: number): number {
  if (backoff === undefined) return 0;
  if (backoff.type === "fixed") return backoff.delay;
  return backoff.delay * 2 ** Math.max(0, attempt - 1);
}

/** The abort reason a worker uses on close: the job goes back to the queue, not canceled. */
export class WorkerClosing extends Error {
  override name = "WorkerClosing";
  constructor() {
    super("the worker is closing");
  }
}

/** The abort reason of {@link Queue.cancel}. */
export class JobCanceled extends Error {
  override name = "JobCanceled";
  constructor() {
    super("the job was canceled");
  }
}
