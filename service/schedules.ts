/**
 * Scheduled runs: a name, when (a cron pattern or a period) and a run job (a recipe over a
 * folder, into a folder: service/run_jobs.ts). Each tick makes one run job — one across all
 * hosts, never one per host — and the run only does the inputs whose outputs do not exist yet
 * (the executor's resume), so "restore whatever arrived since last night" is one schedule.
 *
 * Two stores behind {@link ScheduleStore}: BullMQ job schedulers on Redis
 * (service/schedules_redis.ts) and a table in the embedded queue's database, fired by
 * `dipline serve` (service/schedules_sqlite.ts); both survive restarts.
 *
 * @module
 */
import { CronExpressionParser } from "cron-parser";
import { UsageError } from "../core/errors.ts";
import type { Backoff } from "./queue.ts";
import type { RunJobData } from "./run_jobs.ts";

/** When a schedule fires: a cron pattern (5 or 6 fields) or every `everyMs`. */
export interface ScheduleTiming {
  readonly cron?: string;
  /** IANA time zone of the cron pattern; default the host's. */
  readonly tz?: string;
  readonly everyMs?: number;
}

/** A schedule as added. */
export interface Schedule extends ScheduleTiming {
  readonly name: string;
  /** The job each tick makes (its `schedule` is the schedule's name). */
  readonly job: RunJobData;
}

/** A schedule as listed. */
export interface ScheduleView extends Schedule {
  /** The next tick, ms since the epoch, when known. */
  readonly next?: number;
  /** The last tick that made a job (embedded store). */
  readonly lastRun?: number;
}

/** Where schedules live. */
export interface ScheduleStore {
  /**
   * Adds a schedule.
   *
   * @throws {ScheduleExists} when one has that name
   */
  add(schedule: Schedule): Promise<void>;
  /** All schedules, by name. */
  list(): Promise<ScheduleView[]>;
  /** Removes one; false when there is none of that name. */
  remove(name: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Tries per scheduled run, and the wait between them. */
export const SCHEDULED_ATTEMPTS = 3;
export const SCHEDULED_BACKOFF: Backoff = { type: "exponential", delay: 10_000 };

/** Shortest period of `--every`. */
export const MIN_EVERY_MS = 1_000;

/** A schedule of that name exists already. */
export class ScheduleExists extends Error {
  override name = "ScheduleExists";
  constructor(name: string) {
    super(`a schedule named ${name} exists; remove it first (dipline schedule remove ${name})`);
  }
}

/**
 * Checks a schedule name: letters, digits, `-` and `_`, at most 64.
 *
 * @throws {UsageError} otherwise
 */
export function checkScheduleName(name: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    throw new UsageError(
      `schedule: Expected a name of letters, digits, - and _ (at most 64) but received ${
        JSON.stringify(name)
      }`,
    );
  }
  return name;
}

/**
 * Checks a timing: exactly one of a valid cron pattern or a period of at least 1 s.
 *
 * @throws {UsageError} naming what is wrong
 */
export function checkTiming(timing: ScheduleTiming): ScheduleTiming {
  if ((timing.cron === undefined) === (timing.everyMs === undefined)) {
    throw new UsageError("schedule: Expected exactly one of --cron PATTERN or --every DURATION");
  }
  if (timing.everyMs !== undefined && !(timing.everyMs >= MIN_EVERY_MS)) {
    throw new UsageError(
      `schedule: Expected --every of at least 1s but received ${timing.everyMs} ms`,
    );
  }
  if (timing.cron !== undefined) {
    try {
      const fields = timing.cron.trim().split(/\s+/).length;
      if (fields !== 5 && fields !== 6) throw new Error(`${fields} fields, not 5 or 6`);
      CronExpressionParser.parse(timing.cron, { tz: timing.tz, strict: false });
    } catch (error) {
      throw new UsageError(
        `schedule: Expected a cron pattern such as "0 3 * * *" for --cron but received ${
          JSON.stringify(timing.cron)
        } (${(error as Error).message})`,
      );
    }
  }
  if (timing.tz !== undefined && timing.cron === undefined) {
    throw new UsageError("schedule: --tz applies to --cron only");
  }
  return timing;
}

/** The first tick strictly after `after` (ms since the epoch). */
export function nextTick(timing: ScheduleTiming, after: number): number {
  if (timing.everyMs !== undefined) return after + timing.everyMs;
  const expression = CronExpressionParser.parse(timing.cron!, {
    tz: timing.tz,
    currentDate: new Date(after),
    strict: false,
  });
  return expression.next().getTime();
}

/** `every 10m`, `cron "0 3 * * *" (Europe/Paris)`. */
export function describeTiming(timing: ScheduleTiming): string {
  if (timing.everyMs !== undefined) return `every ${formatDuration(timing.everyMs)}`;
  return `cron ${JSON.stringify(timing.cron)}${timing.tz ? ` (${timing.tz})` : ""}`;
}

/** 600000 → `10m`, 90000 → `90s`. */
export function formatDuration(ms: number): string {
  for (
    const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const
  ) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
