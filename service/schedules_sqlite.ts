/**
 * Schedules in the embedded store: a `schedules` table in `<data>/queue.db` beside the jobs, and
 * the {@link EmbeddedScheduler} that `dipline serve` runs — it fires due schedules into the
 * embedded `runs` queue and runs those jobs. A tick's job id is the schedule's name and the
 * tick's time, so a server killed between enqueuing a tick and recording it enqueues it once;
 * ticks missed while no server ran are made up by one run at start (the run's resume does
 * whatever arrived meanwhile), then the schedule goes on from now.
 *
 * @module
 */
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { Processor, Worker } from "./queue.ts";
import type { RunJobData, RunJobResult } from "./run_jobs.ts";
import {
  checkTiming,
  nextTick,
  type Schedule,
  SCHEDULED_ATTEMPTS,
  SCHEDULED_BACKOFF,
  ScheduleExists,
  type ScheduleStore,
  type ScheduleView,
} from "./schedules.ts";
import { SqliteQueue } from "./sqlite_queue.ts";

/** The embedded queue that scheduled runs go into. */
export const RUNS_QUEUE = "runs";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS schedules (
  name TEXT PRIMARY KEY,
  cron TEXT,
  tz TEXT,
  every_ms INTEGER,
  job TEXT NOT NULL,
  next_run INTEGER NOT NULL,
  last_run INTEGER,
  last_job TEXT,
  created_at INTEGER NOT NULL
);
`;

interface Row {
  name: string;
  cron: string | null;
  tz: string | null;
  every_ms: number | null;
  job: string;
  next_run: number;
  last_run: number | null;
  last_job: string | null;
}

function openDb(dataDir: string): DatabaseSync {
  const db = new DatabaseSync(join(dataDir, "queue.db"));
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
  db.exec(SCHEMA);
  return db;
}

function toView(row: Row): ScheduleView {
  return {
    name: row.name,
    ...(row.cron !== null ? { cron: row.cron } : {}),
    ...(row.tz !== null ? { tz: row.tz } : {}),
    ...(row.every_ms !== null ? { everyMs: Number(row.every_ms) } : {}),
    job: JSON.parse(row.job),
    next: Number(row.next_run),
    ...(row.last_run !== null ? { lastRun: Number(row.last_run) } : {}),
  };
}

/** The schedules of the embedded store in `dataDir` (a real path). */
export function sqliteScheduleStore(dataDir: string): ScheduleStore {
  const db = openDb(dataDir);
  return {
    add(schedule: Schedule) {
      checkTiming(schedule);
      const now = Date.now();
      // A period fires at once and then every period; a cron pattern at its next time.
      const first = schedule.everyMs !== undefined ? now : nextTick(schedule, now);
      try {
        db.prepare(
          `INSERT INTO schedules (name, cron, tz, every_ms, job, next_run, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          schedule.name,
          schedule.cron ?? null,
          schedule.tz ?? null,
          schedule.everyMs ?? null,
          JSON.stringify({ ...schedule.job, schedule: schedule.name }),
          first,
          now,
        );
      } catch (error) {
        if (/UNIQUE/.test(String(error))) return Promise.reject(new ScheduleExists(schedule.name));
        return Promise.reject(error);
      }
      return Promise.resolve();
    },
    list() {
      const rows = db.prepare("SELECT * FROM schedules ORDER BY name").all() as unknown as Row[];
      return Promise.resolve(rows.map(toView));
    },
    remove(name) {
      const result = db.prepare("DELETE FROM schedules WHERE name = ?").run(name);
      return Promise.resolve(Number(result.changes) > 0);
    },
    close() {
      db.close();
      return Promise.resolve();
    },
  };
}

/** Options of {@link startEmbeddedScheduler}. */
export interface EmbeddedSchedulerOptions {
  /** The data folder (a real path) whose `queue.db` holds the schedules and the runs. */
  readonly dataDir: string;
  /** Runs the scheduled jobs (service/run_jobs.ts). */
  readonly processor: Processor<RunJobData, RunJobResult>;
  /** Scheduled runs at once; default 1. */
  readonly concurrency?: number;
  /** Longest sleep between two looks at the table; default 1 s. */
  readonly pollMs?: number;
}

/** The scheduler and its worker, running in `dipline serve`. */
export interface EmbeddedScheduler {
  /** The embedded `runs` queue (to follow the runs). */
  readonly queue: SqliteQueue<RunJobData, RunJobResult>;
  /** Fires what is due now; resolves with the ids of the jobs it enqueued. */
  tick(): Promise<string[]>;
  close(): Promise<void>;
}

/** Starts firing the embedded store's schedules and running their jobs. */
export function startEmbeddedScheduler(options: EmbeddedSchedulerOptions): EmbeddedScheduler {
  const db = openDb(options.dataDir);
  const queue = SqliteQueue.open<RunJobData, RunJobResult>(
    join(options.dataDir, "queue.db"),
    RUNS_QUEUE,
  );
  const worker: Worker = queue.process(options.processor, {
    concurrency: options.concurrency ?? 1,
  });
  let closed = false;

  const tick = async (): Promise<string[]> => {
    const now = Date.now();
    const due = db.prepare("SELECT * FROM schedules WHERE next_run <= ? ORDER BY next_run")
      .all(now) as unknown as Row[];
    const fired: string[] = [];
    for (const row of due) {
      const view = toView(row);
      const jobId = `schedule-${row.name}-${row.next_run}`;
      try {
        await queue.add(view.job, {
          jobId,
          attempts: SCHEDULED_ATTEMPTS,
          backoff: SCHEDULED_BACKOFF,
        });
        fired.push(jobId);
      } catch (error) {
        // Enqueued before a crash, not yet recorded: record it now, once.
        if (!/UNIQUE/.test(String(error))) throw error;
      }
      // A period keeps its phase; missed ticks collapse into this one run.
      let next = nextTick(view, Number(row.next_run));
      if (next <= now) next = nextTick(view, now);
      db.prepare(
        `UPDATE schedules SET next_run = ?, last_run = ?, last_job = ?
         WHERE name = ? AND next_run = ?`,
      ).run(next, Number(row.next_run), jobId, row.name, row.next_run);
    }
    return fired;
  };

  let timer: ReturnType<typeof setTimeout> | undefined;
  const loop = async () => {
    if (closed) return;
    try {
      await tick();
    } catch (error) {
      console.error(`dipline serve: schedules: ${error instanceof Error ? error.message : error}`);
    }
    if (closed) return;
    const row = db.prepare("SELECT MIN(next_run) AS at FROM schedules").get() as {
      at: number | null;
    };
    const poll = options.pollMs ?? 1000;
    const wait = row.at === null ? poll : Math.min(poll, Math.max(0, Number(row.at) - Date.now()));
    timer = setTimeout(() => inFlight = loop(), wait);
  };
  let inFlight = loop();

  return {
    queue,
    tick,
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      await inFlight;
      await worker.close();
      await queue.close();
      db.close();
    },
  };
}
