/**
 * `dipline schedule add|list|remove`: scheduled runs of a recipe over a folder, on Redis (BullMQ
 * job schedulers, one run per tick across all hosts) with `--queue`, else in the embedded store
 * of `--data`, fired by `dipline serve --data DIR` (service/schedules*.ts).
 *
 * @module
 */
import { basename } from "node:path";
import { ENGINES } from "../dip/options.ts";
import { bindDataFolder, realFolder } from "../service/data_folder.ts";
import { defaultCodec } from "../service/recipes.ts";
import { RedisQueue } from "../service/redis_queue.ts";
import { type RunJobData, toDataPath } from "../service/run_jobs.ts";
import {
  checkScheduleName,
  describeTiming,
  ScheduleExists,
  type ScheduleStore,
} from "../service/schedules.ts";
import { redisScheduleStore } from "../service/schedules_redis.ts";
import { sqliteScheduleStore } from "../service/schedules_sqlite.ts";
import { QUEUE_NAMES } from "../service/worker.ts";
import { type Command, EXIT, parseFlags, printLine, UsageError } from "./common.ts";
import { countFlag, durationFlag, queueFlag } from "./queue_common.ts";

/** The flags of `dipline schedule` (tests check deploy/ files against them). */
export const SCHEDULE_FLAGS = {
  cron: { type: "string" },
  tz: { type: "string" },
  every: { type: "string" },
  input: { type: "string" },
  out: { type: "string" },
  data: { type: "string", default: "dipline-data" },
  queue: { type: "string" },
  engine: { type: "string" },
  threads: { type: "string" },
  batch: { type: "string" },
  force: { type: "boolean", default: false },
  json: { type: "boolean", default: false },
} as const;

/** The `schedule` subcommand. */
export const command: Command = {
  name: "schedule",
  summary: "Add, list or remove scheduled runs of a recipe over a folder",
  usage:
    `Usage: dipline schedule add <name> (--cron "PATTERN" [--tz ZONE] | --every DURATION) <recipe> --input DIR --out DIR [options]
       dipline schedule list [--json]
       dipline schedule remove <name>

Each tick runs the recipe over --input into --out, and only does the inputs whose outputs do
not exist yet (the run's resume): "restore whatever arrived since last night" is one schedule.
With --queue (or $DIPLINE_QUEUE) the schedule lives in Redis as a BullMQ job scheduler: each
tick makes one job, run by one of the \`dipline worker\` hosts, never one per host. Without it,
the schedule lives in the embedded store of --data and \`dipline serve --data DIR\` fires it; in
both cases a schedule survives restarts. --every fires at once, then every DURATION; --cron at
its next time. Ticks missed while nothing ran are made up by one run.

Options:
  --cron PATTERN    5 or 6 fields, e.g. "0 3 * * *" (03:00 every day)
  --tz ZONE         time zone of --cron, e.g. Europe/Paris (default: the host's)
  --every DURATION  e.g. 10m, 2h, 90s (at least 1s)
  --input DIR       the folder (or file) to run over
  --out DIR         the output folder
  --data DIR        the data folder (default dipline-data): with --queue, the shared folder that
                    --input and --out must be inside; without, the embedded store's folder
  --queue URL       redis://HOST:PORT[/db] (default: $DIPLINE_QUEUE; none: embedded)
  --engine E        ${ENGINES.join(" | ")} for the runs (default: the worker's)
  --threads N       cpu engine worker threads
  --batch N         fits trained at once by average()
  --force           rerun every input at each tick (default: only what is not done)
  --json            list: one JSON document

Examples:
  deno task dipline schedule add nightly --cron "0 3 * * *" denoise.json --input incoming --out restored --data /srv/dipline
  deno task dipline schedule add often --every 10m denoise.json --input /srv/dipline/in --out /srv/dipline/out --data /srv/dipline --queue redis://10.0.0.5:6379
  deno task dipline schedule list --data /srv/dipline
  deno task dipline schedule remove nightly --data /srv/dipline`,
  async run(args) {
    const { values, positionals } = parseFlags(command, args, SCHEDULE_FLAGS);
    const [action, ...rest] = positionals;
    const expect = (names: string[]) => {
      if (rest.length !== names.length) {
        throw new UsageError(
          `schedule: Expected ${action} ${
            names.map((n) => `<${n}>`).join(" ")
          } but received ${rest.length} argument(s)${rest.length ? `: ${rest.join(" ")}` : ""}`,
        );
      }
      return rest;
    };
    if (action !== "add" && action !== "list" && action !== "remove") {
      throw new UsageError(
        `schedule: Expected add, list or remove but received ${
          action === undefined ? "nothing" : JSON.stringify(action)
        }`,
      );
    }
    const queue = queueFlag(command, values.queue);
    if (action === "add") {
      const [name, recipePath] = expect(["name", "recipe"]);
      checkScheduleName(name!);
      const timing = {
        ...(values.cron !== undefined ? { cron: values.cron } : {}),
        ...(values.tz !== undefined ? { tz: values.tz } : {}),
        ...(values.every !== undefined
          ? { everyMs: durationFlag(command, "every", values.every, 1000) }
          : {}),
      };
      if (values.input === undefined || values.out === undefined) {
        throw new UsageError("schedule: add needs --input DIR and --out DIR");
      }
      const engine = values.engine;
      if (engine !== undefined && !(ENGINES as readonly string[]).includes(engine)) {
        throw new UsageError(
          `schedule: Expected one of ${ENGINES.join(", ")} for --engine but received "${engine}"`,
        );
      }
      const threads = countFlag(command, "threads", values.threads);
      const batch = countFlag(command, "batch", values.batch);
      const codec = defaultCodec();
      const recipe = await codec.load(recipePath!);
      recipe.compile(); // a wrong recipe fails here, not at 03:00
      const document = codec.toJSON(recipe);
      if (queue === undefined) await Deno.mkdir(values.data, { recursive: true });
      const dataDir = await realFolder(values.data, "schedule");
      const input = await Deno.realPath(values.input).catch(() => {
        throw new UsageError(`schedule: --input ${values.input} does not exist`);
      });
      await Deno.mkdir(values.out, { recursive: true });
      const out = await Deno.realPath(values.out);
      const shared = queue !== undefined;
      const job: RunJobData = {
        kind: "run",
        recipe: document,
        recipeName: basename(recipePath!),
        input: toDataPath(dataDir, input, "schedule: --input", shared),
        out: toDataPath(dataDir, out, "schedule: --out", shared),
        ...(engine || threads || batch
          ? {
            runOptions: {
              ...(engine ? { engine: engine as (typeof ENGINES)[number] } : {}),
              ...(threads ? { threads } : {}),
              ...(batch ? { batch } : {}),
            },
          }
          : {}),
        ...(values.force ? { force: true } : {}),
      };
      const store = await openStore(values.data, queue?.href, queue?.shown);
      try {
        await store.add({ name: name!, ...timing, job });
      } catch (error) {
        if (error instanceof ScheduleExists) throw new UsageError(`schedule: ${error.message}`);
        throw error;
      } finally {
        await store.close();
      }
      printLine(
        `schedule ${name}: ${
          describeTiming(timing)
        }: ${job.recipeName} over ${job.input} → ${job.out}` +
          (queue !== undefined
            ? ` (Redis ${queue.shown})`
            : ` (embedded in ${dataDir}; dipline serve fires it)`),
      );
      return EXIT.ok;
    }
    const store = await openStore(values.data, queue?.href, queue?.shown);
    try {
      if (action === "remove") {
        const [name] = expect(["name"]);
        if (!(await store.remove(checkScheduleName(name!)))) {
          throw new UsageError(`schedule: no schedule named ${name}`);
        }
        printLine(`schedule ${name}: removed`);
        return EXIT.ok;
      }
      expect([]);
      const schedules = await store.list();
      if (values.json) {
        printLine(JSON.stringify(schedules, null, 2));
        return EXIT.ok;
      }
      if (schedules.length === 0) printLine("no schedules");
      for (const s of schedules) {
        const next = s.next === undefined ? "" : ` · next ${new Date(s.next).toISOString()}`;
        printLine(
          `${s.name} · ${describeTiming(s)}${next} · ${
            s.job.recipeName ?? "recipe"
          } over ${s.job.input} → ${s.job.out}`,
        );
      }
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
};

/** Redis when a URL is given (checking the data folder), else the embedded store. */
async function openStore(
  data: string,
  url: string | undefined,
  shown: string | undefined,
): Promise<ScheduleStore> {
  if (url === undefined) {
    const dataDir = await realFolder(data, "schedule");
    return sqliteScheduleStore(dataDir);
  }
  const dataDir = await realFolder(data, "schedule");
  const queue = await RedisQueue.open<RunJobData, unknown>({ url, name: QUEUE_NAMES.runs });
  try {
    await bindDataFolder(queue.redis, dataDir, "schedule", shown ?? url);
  } catch (error) {
    await queue.close();
    throw error;
  }
  return redisScheduleStore(queue);
}
