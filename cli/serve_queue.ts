/**
 * What `dipline serve` runs beside the API, by queue: with `--queue redis://…`, the Redis queue
 * the API enqueues on (its data folder checked against the queue's); without, the embedded
 * scheduler that fires `dipline schedule` runs from `<data>/queue.db` and runs them here.
 *
 * @module
 */
import type { JobData, JobProgress } from "../service/jobs.ts";
import type { Queue } from "../service/queue.ts";
import { bindDataFolder, realFolder } from "../service/data_folder.ts";
import { defaultCodec } from "../service/recipes.ts";
import { RedisQueue } from "../service/redis_queue.ts";
import { runJobProcessor } from "../service/run_jobs.ts";
import { startEmbeddedScheduler } from "../service/schedules_sqlite.ts";
import type { WebhookData } from "../service/webhooks.ts";
import { QUEUE_NAMES } from "../service/worker.ts";
import type { Command } from "./common.ts";
import { queueFlag } from "./queue_common.ts";

/** The queue for `startServer` (none: the embedded one) and what to close after the server. */
export interface ServeQueue {
  readonly queue?: Queue<JobData, JobProgress>;
  readonly webhooks?: Queue<WebhookData, { status: number }>;
  /** Appended to the "listening" line. */
  readonly describe: string;
  close(): Promise<void>;
}

/** Opens the Redis queue of `--queue`, or starts the embedded scheduler. */
export async function openServeQueue(
  command: Pick<Command, "name">,
  queueValue: string | undefined,
  data: string,
  maxPixels: number | undefined,
): Promise<ServeQueue> {
  const url = queueFlag(command, queueValue);
  await Deno.mkdir(data, { recursive: true });
  const dataDir = await realFolder(data, "serve");
  if (url === undefined) {
    const scheduler = startEmbeddedScheduler({
      dataDir,
      processor: runJobProcessor({ dataDir, codec: defaultCodec(), maxPixels }),
    });
    return { describe: "; schedules: embedded", close: () => scheduler.close() };
  }
  const queue = await RedisQueue.open<JobData, JobProgress>({
    url: url.href,
    name: QUEUE_NAMES.jobs,
  });
  let webhooks;
  try {
    await bindDataFolder(queue.redis, dataDir, "serve", url.shown);
    webhooks = await RedisQueue.open<WebhookData, { status: number }>({
      url: url.href,
      name: "webhooks",
      liveEvents: false,
    });
  } catch (error) {
    await queue.close();
    throw error;
  }
  return {
    queue,
    webhooks,
    describe: `; queue ${url.shown}: jobs run on \`dipline worker\` hosts`,
    close: async () => {
      await queue.close();
      await webhooks.close();
    },
  };
}
