/**
 * `dipline worker --queue redis://HOST:PORT --data DIR`: runs jobs from a shared Redis queue on
 * this host (service/worker.ts) until SIGTERM or Ctrl-C, which drain it.
 *
 * @module
 */
import { ENGINES } from "../dip/options.ts";
import { defaultCodec } from "../service/recipes.ts";
import { DEFAULT_STALL_TIMEOUT_MS } from "../service/redis_queue.ts";
import { startWorker } from "../service/worker.ts";
import {
  type Command,
  EXIT,
  expectPositionals,
  maxPixelsFlag,
  parseFlags,
  UsageError,
} from "./common.ts";
import { countFlag, durationFlag, onStopSignals, queueFlag } from "./queue_common.ts";

/** The flags of `dipline worker` (tests check deploy/ files against them). */
export const WORKER_FLAGS = {
  queue: { type: "string" },
  data: { type: "string" },
  root: { type: "string" },
  concurrency: { type: "string", default: "1" },
  engine: { type: "string" },
  threads: { type: "string" },
  grace: { type: "string", default: "300s" },
  "stall-timeout": { type: "string", default: `${DEFAULT_STALL_TIMEOUT_MS / 1000}s` },
  "max-pixels": { type: "string" },
  simulate: { type: "string" },
} as const;

/** The `worker` subcommand. */
export const command: Command = {
  name: "worker",
  summary: "Run jobs from a shared Redis queue on this host (one per GPU host)",
  usage: `Usage: dipline worker --queue redis://HOST:PORT --data DIR [options]

Takes jobs from the Redis queue that \`dipline serve --queue\`, \`dipline run --queue\` and
\`dipline schedule\` fill, one at a time per free slot, so N hosts share the work as they free
up. Inputs and outputs live in --data, a folder every host mounts (NFS or another shared
filesystem); the worker refuses to start when --data is not the folder the queue was first
used with (it holds a .dipline-data.json marker with the queue's id).

A worker killed (kill -9, a lost host) stops renewing its job's lock; after --stall-timeout
another worker runs the job again, skipping the outputs that were written. SIGTERM or Ctrl-C
drains: no new job is taken, the running ones finish for up to --grace, then go back to the
queue (their attempt not counted); a second signal hands them back at once.

Options:
  --queue URL          redis://HOST:PORT[/db] (default: $DIPLINE_QUEUE)
  --data DIR           the shared data folder, as mounted on this host (required)
  --root DIR           the folder the server's --root names, as mounted here (jobs that name
                       input paths need it)
  --concurrency N      jobs at once on this host (default 1)
  --engine E           ${ENGINES.join(" | ")} for jobs that do not choose (default auto)
  --threads N          cpu engine worker threads
  --grace DURATION     how long SIGTERM lets running jobs finish (default 300s)
  --stall-timeout DURATION
                       a worker silent this long counts as dead and its job moves on
                       (default ${DEFAULT_STALL_TIMEOUT_MS / 1000}s; all workers should agree)
  --max-pixels N       refuse inputs above N pixels (default 40000000)
  --simulate MS        load testing without a GPU: run jobs sleep MS milliseconds per million
                       pixels of each input (read from its header) instead of fitting, and
                       write nothing; the service's jobs are left to other workers

Example:
  deno task dipline worker --queue redis://10.0.0.5:6379 --data /mnt/dipline --engine webgpu`,
  async run(args) {
    const { values, positionals } = parseFlags(command, args, WORKER_FLAGS);
    expectPositionals(command, positionals, []);
    const queue = queueFlag(command, values.queue);
    if (queue === undefined) {
      throw new UsageError("worker: --queue redis://HOST:PORT is required (or $DIPLINE_QUEUE)");
    }
    if (values.data === undefined) {
      throw new UsageError("worker: --data DIR is required: the data folder every host shares");
    }
    const engine = values.engine;
    if (engine !== undefined && !(ENGINES as readonly string[]).includes(engine)) {
      throw new UsageError(
        `worker: Expected one of ${ENGINES.join(", ")} for --engine but received "${engine}"`,
      );
    }
    const concurrency = countFlag(command, "concurrency", values.concurrency)!;
    const threads = countFlag(command, "threads", values.threads);
    const graceMs = durationFlag(command, "grace", values.grace);
    const stallTimeoutMs = durationFlag(command, "stall-timeout", values["stall-timeout"], 1000);
    const simulate = values.simulate === undefined ? undefined : Number(values.simulate);
    if (simulate !== undefined && !(simulate >= 0)) {
      throw new UsageError(
        `worker: Expected number ≥ 0 for --simulate but received ${values.simulate}`,
      );
    }
    const log = (line: string) => console.error(`dipline worker: ${line}`);
    const worker = await startWorker({
      url: queue.href,
      data: values.data,
      root: values.root,
      concurrency,
      engine: engine as (typeof ENGINES)[number] | undefined,
      threads,
      stallTimeoutMs,
      codec: defaultCodec(),
      maxPixels: maxPixelsFlag(command, values["max-pixels"]),
      simulateMsPerMegapixel: simulate,
      log,
    });
    log(
      `${worker.name} on ${queue.shown}, data ${worker.dataDir}, concurrency ${concurrency}` +
        ` (SIGTERM drains for ${graceMs / 1000} s)`,
    );
    let stopped: Promise<void> | undefined;
    const finished = new Promise<void>((resolve) => {
      const dispose = onStopSignals("dipline worker", (signal) => {
        log(
          `${signal}: taking no new job; running ones get ${
            graceMs / 1000
          } s (again: hand them back now)`,
        );
        stopped = worker.drain(graceMs).finally(() => {
          dispose();
          resolve();
        });
      }, (signal) => {
        log(`${signal}: handing the running jobs back to the queue`);
        void worker.close();
      });
    });
    await finished;
    await stopped;
    log("stopped");
    // Nothing is left to do; a connection still trying to reach Redis must not keep us up.
    Deno.unrefTimer(setTimeout(() => Deno.exit(EXIT.ok), 3000));
    return EXIT.ok;
  },
};
