/**
 * Schedules on Redis: one BullMQ job scheduler per schedule on the `runs` queue. BullMQ makes
 * exactly one job per tick, whichever workers are up (never one per host), and keeps the
 * scheduler in Redis across restarts of every process; the worker that takes a tick's job
 * records it like any other job (service/redis_queue.ts).
 *
 * @module
 */
import type { RedisQueue } from "./redis_queue.ts";
import type { RunJobData } from "./run_jobs.ts";
import {
  checkTiming,
  type Schedule,
  SCHEDULED_ATTEMPTS,
  SCHEDULED_BACKOFF,
  ScheduleExists,
  type ScheduleStore,
  type ScheduleView,
} from "./schedules.ts";

/** The schedules of the `runs` queue `queue`; closing the store closes the queue. */
export function redisScheduleStore(queue: RedisQueue<RunJobData, unknown>): ScheduleStore {
  return {
    async add(schedule: Schedule) {
      checkTiming(schedule);
      if ((await queue.schedules()).some((s) => s.name === schedule.name)) {
        throw new ScheduleExists(schedule.name);
      }
      await queue.upsertSchedule(
        schedule.name,
        schedule.cron !== undefined
          ? { pattern: schedule.cron, ...(schedule.tz ? { tz: schedule.tz } : {}) }
          : { every: schedule.everyMs },
        { ...schedule.job, schedule: schedule.name },
        { attempts: SCHEDULED_ATTEMPTS, backoff: SCHEDULED_BACKOFF },
      );
    },
    async list(): Promise<ScheduleView[]> {
      return (await queue.schedules()).map((entry) => ({
        name: entry.name,
        ...(entry.pattern !== undefined ? { cron: entry.pattern } : {}),
        ...(entry.tz !== undefined ? { tz: entry.tz } : {}),
        ...(entry.every !== undefined ? { everyMs: entry.every } : {}),
        job: entry.data,
        next: entry.next,
      }));
    },
    remove: (name) => queue.removeSchedule(name),
    close: () => queue.close(),
  };
}
