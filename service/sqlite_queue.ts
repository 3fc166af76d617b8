/**
 * The embedded, durable {@link Queue}: jobs and their events in one SQLite file (node:sqlite, in
 * WAL mode), the worker loop in this process. No server to install, and a `kill -9` at any
 * moment loses no job that `add` resolved: every change is one SQLite transaction.
 *
 * One process owns a database file: when a worker starts it takes back the jobs that were
 * `running` (their server died) and queues them again, without spending an attempt; a job that
 * has stalled {@link MAX_STALLS} times fails, so a job that kills its server cannot loop.
 *
 * ```ts ignore
 * const queue = SqliteQueue.open("data/queue.db", "jobs");
 * queue.process(async (job, ctx) => { ctx.progress({ done: 1 }); return { ok: true }; });
 * const job = await queue.add({ recipe: "denoise" }, { attempts: 3 });
 * ```
 *
 * @module
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import {
  type AddOptions,
  backoffDelay,
  isFinished,
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

/** Restarts a running job survives before it fails as stalled. */
export const MAX_STALLS = 3;

/** How often an idle worker looks for jobs whose delay has passed, at most (ms). */
const POLL_MS = 1000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  queue TEXT NOT NULL,
  data TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts_made INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL,
  backoff TEXT,
  progress TEXT,
  result TEXT,
  error TEXT,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  stalls INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (queue, status, run_at, seq);
CREATE INDEX IF NOT EXISTS jobs_newest ON jobs (queue, seq);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_job ON events (job_id, id);
`;

type Row = Record<string, SQLInputValue>;

/** The embedded queue; see the module doc. */
export class SqliteQueue<D = unknown, R = unknown> implements Queue<D, R> {
  readonly name: string;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #listeners = new Set<(event: QueueEvent) => void>();
  /** Abort controllers of the jobs this process is running. */
  readonly #running = new Map<string, AbortController>();
  readonly #workers = new Set<Worker>();
  readonly #wakers = new Set<() => void>();
  #closed = false;

  private constructor(db: DatabaseSync, name: string) {
    this.#db = db;
    this.name = name;
  }

  /**
   * Opens (creating if needed) the queue `name` in the database file `path` (`":memory:"` for a
   * queue that lives only as long as the process). Several queues may share one file.
   */
  static open<D = unknown, R = unknown>(path: string, name: string): SqliteQueue<D, R> {
    const db = new DatabaseSync(path);
    // WAL: readers never wait for the writer; NORMAL: a commit survives a killed process (the
    // WAL is in the OS cache), a power cut may lose the last commits.
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
    db.exec(SCHEMA);
    return new SqliteQueue<D, R>(db, name);
  }

  #sql(text: string): StatementSync {
    let statement = this.#statements.get(text);
    if (statement === undefined) {
      statement = this.#db.prepare(text);
      this.#statements.set(text, statement);
    }
    return statement;
  }

  #transaction<T>(body: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const value = body();
      this.#db.exec("COMMIT");
      return value;
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  #row(id: string): Row | undefined {
    return this.#sql("SELECT * FROM jobs WHERE id = ? AND queue = ?").get(id, this.name) as
      | Row
      | undefined;
  }

  #event(jobId: string, type: string, data: Readonly<Record<string, unknown>> = {}): QueueEvent {
    const at = Date.now();
    const row = this.#sql(
      "INSERT INTO events (job_id, type, data, at) VALUES (?, ?, ?, ?) RETURNING id",
    ).get(jobId, type, JSON.stringify(data), at) as { id: number };
    return { id: Number(row.id), jobId, type, data, at };
  }

  #publish(events: readonly QueueEvent[]): void {
    for (const event of events) {
      for (const listener of this.#listeners) {
        try {
          listener(event);
        } catch (error) {
          console.error(`queue ${this.name}: an event listener threw: ${error}`);
        }
      }
    }
  }

  #wake(): void {
    for (const wake of this.#wakers) wake();
  }

  add(data: D, options: AddOptions = {}): Promise<Job<D, R>> {
    return settle(() => {
      this.#open();
      const attempts = options.attempts ?? 1;
      if (!Number.isInteger(attempts) || attempts < 1) {
        throw new RangeError(`Expected integer ≥ 1 for attempts but received ${attempts}`);
      }
      const now = Date.now();
      const id = options.jobId ?? crypto.randomUUID();
      const event = this.#transaction(() => {
        this.#sql(
          `INSERT INTO jobs (id, queue, data, status, attempts, backoff, created_at, run_at)
           VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)`,
        ).run(
          id,
          this.name,
          JSON.stringify(data),
          attempts,
          options.backoff ? JSON.stringify(options.backoff) : null,
          now,
          now + Math.max(0, options.delay ?? 0),
        );
        return this.#event(id, "job-queued", { attempt: 0 });
      });
      this.#publish([event]);
      this.#wake();
      return toJob<D, R>(this.#row(id)!);
    });
  }

  #getSync(id: string): Job<D, R> | undefined {
    const row = this.#row(id);
    return row ? toJob<D, R>(row) : undefined;
  }

  get(id: string): Promise<Job<D, R> | undefined> {
    return settle(() => {
      this.#open();
      const row = this.#row(id);
      return row ? toJob<D, R>(row) : undefined;
    });
  }

  list(options: ListOptions = {}): Promise<JobPage<D, R>> {
    return settle(() => {
      this.#open();
      const limit = Math.min(1000, Math.max(1, Math.floor(options.limit ?? 20)));
      const before = options.cursor === undefined
        ? Number.MAX_SAFE_INTEGER
        : Number(options.cursor);
      const rows = (options.status === undefined
        ? this.#sql(
          "SELECT * FROM jobs WHERE queue = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
        ).all(this.name, before, limit + 1)
        : this.#sql(
          "SELECT * FROM jobs WHERE queue = ? AND seq < ? AND status = ? ORDER BY seq DESC LIMIT ?",
        ).all(this.name, before, options.status, limit + 1)) as Row[];
      const page = rows.slice(0, limit);
      const next = rows.length > limit ? String(page[page.length - 1]!.seq) : undefined;
      return { jobs: page.map((row) => toJob<D, R>(row)), next };
    });
  }

  counts(): Promise<Record<JobStatus, number>> {
    return settle(() => {
      this.#open();
      const counts = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<
        JobStatus,
        number
      >;
      const rows = this.#sql(
        "SELECT status, COUNT(*) AS n FROM jobs WHERE queue = ? GROUP BY status",
      ).all(this.name) as { status: JobStatus; n: number }[];
      for (const row of rows) counts[row.status] = Number(row.n);
      return counts;
    });
  }

  cancel(id: string): Promise<Job<D, R> | undefined> {
    return settle(() => {
      this.#open();
      const events = this.#transaction(() => {
        const row = this.#row(id);
        if (row === undefined) return undefined;
        if (row.status === "queued") {
          this.#sql(
            "UPDATE jobs SET status = 'canceled', finished_at = ?, cancel_requested = 1 WHERE id = ?",
          ).run(Date.now(), id);
          return [this.#event(id, "job-canceled", {})];
        }
        if (row.status === "running") {
          this.#sql("UPDATE jobs SET cancel_requested = 1 WHERE id = ?").run(id);
        }
        return [];
      });
      if (events === undefined) return undefined;
      this.#publish(events);
      this.#running.get(id)?.abort(new JobCanceled());
      return this.#getSync(id);
    });
  }

  remove(id: string): Promise<boolean> {
    return settle(() => {
      this.#open();
      const row = this.#row(id);
      if (row === undefined) return false;
      const status = row.status as JobStatus;
      if (!isFinished(status)) {
        throw new JobStateError(`job ${id} is ${status}; cancel it first`, status);
      }
      this.#transaction(() => {
        this.#sql("DELETE FROM jobs WHERE id = ?").run(id);
        this.#sql("DELETE FROM events WHERE job_id = ?").run(id);
      });
      // Live only: tells followers the stream is over; nothing is left to replay.
      this.#publish([{ id: 0, jobId: id, type: "job-removed", data: {}, at: Date.now() }]);
      return true;
    });
  }

  events(jobId: string, afterId = 0): Promise<QueueEvent[]> {
    return settle(() => {
      this.#open();
      const rows = this.#sql(
        "SELECT * FROM events WHERE job_id = ? AND id > ? ORDER BY id",
      ).all(jobId, afterId) as Row[];
      return rows.map((row) => ({
        id: Number(row.id),
        jobId: String(row.job_id),
        type: String(row.type),
        data: JSON.parse(String(row.data)),
        at: Number(row.at),
      }));
    });
  }

  subscribe(listener: (event: QueueEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Re-queues the jobs left `running` by a server that died (this process runs none yet), each
   * without spending the interrupted attempt; a job with a cancel pending is canceled instead,
   * and one that stalled {@link MAX_STALLS} times fails.
   */
  #recoverStalled(): void {
    const now = Date.now();
    const events = this.#transaction(() => {
      const rows = this.#sql("SELECT * FROM jobs WHERE queue = ? AND status = 'running'").all(
        this.name,
      ) as Row[];
      const events: QueueEvent[] = [];
      for (const row of rows) {
        const id = String(row.id);
        if (this.#running.has(id)) continue;
        const stalls = Number(row.stalls) + 1;
        if (Number(row.cancel_requested) === 1) {
          this.#sql("UPDATE jobs SET status = 'canceled', finished_at = ? WHERE id = ?").run(
            now,
            id,
          );
          events.push(this.#event(id, "job-canceled", {}));
        } else if (stalls >= MAX_STALLS) {
          const error = `stalled: its server stopped while it ran ${stalls} times`;
          this.#sql(
            "UPDATE jobs SET status = 'failed', stalls = ?, error = ?, finished_at = ? WHERE id = ?",
          ).run(stalls, error, now, id);
          events.push(this.#event(id, "job-failed", { error }));
        } else {
          this.#sql(
            `UPDATE jobs SET status = 'queued', stalls = ?, run_at = ?,
               attempts_made = MAX(0, attempts_made - 1) WHERE id = ?`,
          ).run(stalls, now, id);
          events.push(this.#event(id, "job-queued", { reason: "recovered after a restart" }));
        }
      }
      return events;
    });
    this.#publish(events);
  }

  /** Takes the oldest ready job: queued → running, one more attempt made. */
  #claim(): Job<D, R> | undefined {
    const now = Date.now();
    const claimed = this.#transaction(() => {
      const row = this.#sql(
        `UPDATE jobs SET status = 'running', attempts_made = attempts_made + 1, started_at = ?,
           error = NULL
         WHERE seq = (SELECT seq FROM jobs WHERE queue = ? AND status = 'queued' AND run_at <= ?
                      ORDER BY run_at, seq LIMIT 1)
         RETURNING *`,
      ).get(now, this.name, now) as Row | undefined;
      if (row === undefined) return undefined;
      const job = toJob<D, R>(row);
      return { job, event: this.#event(job.id, "job-running", { attempt: job.attemptsMade }) };
    });
    if (claimed === undefined) return undefined;
    this.#publish([claimed.event]);
    return claimed.job;
  }

  /** Milliseconds until the next delayed job is due (undefined when none waits). */
  #nextDue(): number | undefined {
    const row = this.#sql(
      "SELECT MIN(run_at) AS at FROM jobs WHERE queue = ? AND status = 'queued'",
    ).get(this.name) as { at: number | null };
    return row.at === null ? undefined : Math.max(0, Number(row.at) - Date.now());
  }

  #finish(job: Job<D, R>, outcome: Outcome<R>): void {
    const now = Date.now();
    const events = this.#transaction(() => {
      if (this.#row(job.id)?.status !== "running") return []; // removed meanwhile
      switch (outcome.kind) {
        case "succeeded":
          this.#sql(
            "UPDATE jobs SET status = 'succeeded', result = ?, finished_at = ? WHERE id = ?",
          ).run(JSON.stringify(outcome.result ?? null), now, job.id);
          return [this.#event(job.id, "job-succeeded", {})];
        case "canceled":
          this.#sql("UPDATE jobs SET status = 'canceled', finished_at = ? WHERE id = ?").run(
            now,
            job.id,
          );
          return [this.#event(job.id, "job-canceled", {})];
        case "requeue":
          this.#sql(
            `UPDATE jobs SET status = 'queued', run_at = ?,
               attempts_made = MAX(0, attempts_made - 1) WHERE id = ?`,
          ).run(now, job.id);
          return [this.#event(job.id, "job-queued", { reason: "the worker closed" })];
        case "failed": {
          const retry = !outcome.unrecoverable && job.attemptsMade < job.attempts;
          if (retry) {
            const runAt = now + backoffDelay(job.backoff, job.attemptsMade);
            this.#sql("UPDATE jobs SET status = 'queued', error = ?, run_at = ? WHERE id = ?")
              .run(outcome.error, runAt, job.id);
            return [this.#event(job.id, "job-retrying", {
              error: outcome.error,
              attempt: job.attemptsMade,
              runAt,
            })];
          }
          this.#sql("UPDATE jobs SET status = 'failed', error = ?, finished_at = ? WHERE id = ?")
            .run(outcome.error, now, job.id);
          return [this.#event(job.id, "job-failed", { error: outcome.error })];
        }
      }
    });
    this.#publish(events);
  }

  async #run(job: Job<D, R>, processor: Processor<D, R>): Promise<void> {
    const controller = new AbortController();
    this.#running.set(job.id, controller);
    if (job.cancelRequested) controller.abort(new JobCanceled());
    const ctx: ProcessorContext = {
      signal: controller.signal,
      attempt: job.attemptsMade,
      progress: (progress) => {
        if (this.#closed) return;
        this.#sql("UPDATE jobs SET progress = ? WHERE id = ?").run(
          JSON.stringify(progress ?? null),
          job.id,
        );
      },
      emit: (type, data) => {
        if (this.#closed || !this.#running.has(job.id)) return;
        this.#publish([this.#event(job.id, type, data)]);
      },
    };
    let outcome: Outcome<R>;
    try {
      const result = await processor(job, ctx);
      outcome = controller.signal.aborted
        ? abortOutcome(controller.signal)
        : { kind: "succeeded", result };
    } catch (error) {
      outcome = controller.signal.aborted ? abortOutcome(controller.signal) : {
        kind: "failed",
        error: oneLine(error),
        unrecoverable: error instanceof UnrecoverableError,
      };
    } finally {
      this.#running.delete(job.id);
    }
    if (!this.#closed) this.#finish(job, outcome);
  }

  process(processor: Processor<D, R>, options: WorkerOptions = {}): Worker {
    this.#open();
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`Expected integer ≥ 1 for concurrency but received ${concurrency}`);
    }
    this.#recoverStalled();
    const active = new Map<string, Promise<void>>();
    let closing = false;
    let wake: (() => void) | undefined;
    const waker = () => wake?.();
    this.#wakers.add(waker);

    const loop = async () => {
      while (!closing) {
        while (active.size < concurrency && !closing) {
          const job = this.#claim();
          if (job === undefined) break;
          const run = this.#run(job, processor).finally(() => {
            active.delete(job.id);
            waker();
          });
          active.set(job.id, run);
        }
        if (closing) break;
        const due = active.size < concurrency ? this.#nextDue() : undefined;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.min(due ?? POLL_MS, POLL_MS));
          function done() {
            clearTimeout(timer);
            wake = undefined;
            resolve();
          }
          wake = done;
        });
      }
    };
    const looping = loop();
    const worker: Worker = {
      get active() {
        return active.size;
      },
      close: async () => {
        if (closing) return;
        closing = true;
        waker();
        for (const id of active.keys()) this.#running.get(id)?.abort(new WorkerClosing());
        await looping;
        await Promise.allSettled(active.values());
        this.#wakers.delete(waker);
        this.#workers.delete(worker);
      },
    };
    this.#workers.add(worker);
    return worker;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await Promise.all([...this.#workers].map((worker) => worker.close()));
    this.#closed = true;
    this.#listeners.clear();
    this.#db.close();
  }

  #open(): void {
    if (this.#closed) throw new Error(`queue ${this.name} is closed`);
  }
}

type Outcome<R> =
  | { kind: "succeeded"; result: R }
  | { kind: "failed"; error: string; unrecoverable: boolean }
  | { kind: "canceled" }
  | { kind: "requeue" };

function abortOutcome<R>(signal: AbortSignal): Outcome<R> {
  return signal.reason instanceof WorkerClosing ? { kind: "requeue" } : { kind: "canceled" };
}

/** Runs `body` and turns its value or its throw into a promise (so callers see one shape). */
function settle<T>(body: () => T): Promise<T> {
  try {
    return Promise.resolve(body());
  } catch (error) {
    return Promise.reject(error);
  }
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0]!.slice(0, 2000);
}

function parse(value: SQLInputValue | undefined): unknown {
  return value === null || value === undefined ? undefined : JSON.parse(String(value));
}

function optionalNumber(value: SQLInputValue | undefined): number | undefined {
  return value === null || value === undefined ? undefined : Number(value);
}

function toJob<D, R>(row: Row): Job<D, R> {
  return {
    id: String(row.id),
    queue: String(row.queue),
    data: parse(row.data) as D,
    status: row.status as JobStatus,
    attemptsMade: Number(row.attempts_made),
    attempts: Number(row.attempts),
    backoff: parse(row.backoff) as Job["backoff"],
    progress: parse(row.progress),
    result: parse(row.result) as R | undefined,
    error: row.error === null ? undefined : String(row.error),
    cancelRequested: Number(row.cancel_requested) === 1,
    stalls: Number(row.stalls),
    createdAt: Number(row.created_at),
    runAt: Number(row.run_at),
    startedAt: optionalNumber(row.started_at),
    finishedAt: optionalNumber(row.finished_at),
  };
}
