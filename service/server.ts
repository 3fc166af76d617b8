/**
 * `dipline serve`: the API (service/app.ts) on `Deno.serve`, the durable queue in
 * `<data>/queue.db`, a worker that runs `concurrency` jobs at once, and the webhook deliveries.
 *
 * Secure by default: without a token the server binds loopback only and answers loopback Host
 * names only; with one, every route but health needs it.
 *
 * @module
 */
import { join } from "node:path";
import { UsageError } from "../core/errors.ts";
import { DEFAULT_MAX_PIXELS } from "../image/load.ts";
import { createApp } from "./app.ts";
import { type JobData, type JobProgress, jobView } from "./jobs.ts";
import { type Backoff, FINAL_EVENTS, type Queue, type Worker } from "./queue.ts";
import type { RecipeCodec } from "./recipes.ts";
import { restorationProcessor } from "./runner.ts";
import { SqliteQueue } from "./sqlite_queue.ts";
import { type WebhookData, webhookProcessor } from "./webhooks.ts";

/** Options of {@link startServer} (the flags of `dipline serve`). */
export interface ServeOptions {
  /** Interface to bind; default 127.0.0.1. Another needs a token. */
  readonly host?: string;
  /** Port; default 8417; 0 picks a free one. */
  readonly port?: number;
  /** Folder of the queue database and the jobs' files; created if missing. */
  readonly data: string;
  /** Folder of named recipes. */
  readonly recipes?: string;
  /** Folder that input paths are relative to. */
  readonly root?: string;
  /** Jobs run at once; default 1. */
  readonly concurrency?: number;
  /** Bearer token; default none (loopback only). */
  readonly token?: string;
  readonly codec: RecipeCodec;
  /** Largest request body in bytes; default 64 MiB. */
  readonly maxUploadBytes?: number;
  /** Largest image in pixels; default 40,000,000. */
  readonly maxPixels?: number;
  /** Tries per job (default 3) and the wait between them (default exponential from 5 s). */
  readonly attempts?: number;
  readonly backoff?: Backoff;
  /** Webhook tries (default 5) and their backoff (default exponential from 1 s). */
  readonly webhookAttempts?: number;
  readonly webhookBackoff?: Backoff;
  /** Least milliseconds between two stored fit events of a job; default 200. */
  readonly progressIntervalMs?: number;
  /** Called once listening (default: nothing). */
  readonly onListen?: (url: string) => void;
  /**
   * The jobs' queue, when not the embedded one in `<data>/queue.db` (`serve --queue redis://…`,
   * service/redis_queue.ts): the server only enqueues and follows; `dipline worker` on each GPU
   * host runs the jobs. Closed with the server.
   */
  readonly queue?: Queue<JobData, JobProgress>;
  /**
   * The webhook deliveries' queue beside `queue` (on Redis too, so that no SQLite file has to
   * live on the shared filesystem); default `<data>/queue.db`. Closed with the server.
   */
  readonly webhooks?: Queue<WebhookData, { status: number }>;
}

/** A running server. */
export interface RunningServer {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  readonly queue: Queue<JobData, JobProgress>;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  /** Stops listening, puts running jobs back in the queue, closes the database. */
  close(): Promise<void>;
}

const LOOPBACK_BIND = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

async function realFolder(path: string, flag: string, create: boolean): Promise<string> {
  if (create) await Deno.mkdir(path, { recursive: true });
  try {
    const real = await Deno.realPath(path);
    if (!(await Deno.stat(real)).isDirectory) throw new Error("not a folder");
    return real;
  } catch {
    throw new UsageError(`serve: ${flag} ${path} is not a folder`);
  }
}

/**
 * Starts the server.
 *
 * @throws {UsageError} for a non-loopback host without a token, or a folder that is not one
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  if (options.token === undefined && !LOOPBACK_BIND.has(host)) {
    throw new UsageError(
      `serve: binding ${host} needs --token (or DIPLINE_TOKEN); without one only loopback is served`,
    );
  }
  if (options.token !== undefined && options.token.length < 16) {
    throw new UsageError("serve: Expected a token of at least 16 characters for --token");
  }
  const dataDir = await realFolder(options.data, "--data", true);
  const recipesDir = options.recipes === undefined
    ? undefined
    : await realFolder(options.recipes, "--recipes", false);
  const root = options.root === undefined
    ? undefined
    : await realFolder(options.root, "--root", false);
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;

  const dbPath = join(dataDir, "queue.db");
  const queue = options.queue ?? SqliteQueue.open<JobData, JobProgress>(dbPath, "jobs");
  const webhooks = options.webhooks ??
    SqliteQueue.open<WebhookData, { status: number }>(dbPath, "webhooks");
  const workers: Worker[] = [];
  const stopWebhooks = queue.subscribe((event) => {
    if (!FINAL_EVENTS.has(event.type) || event.type === "job-removed") return;
    void (async () => {
      const job = await queue.get(event.jobId);
      if (job?.data.webhook === undefined) return;
      await webhooks.add(
        { url: job.data.webhook, jobId: job.id, event: job.status, body: jobView(job) },
        {
          attempts: options.webhookAttempts ?? 5,
          backoff: options.webhookBackoff ?? { type: "exponential", delay: 1000 },
        },
      );
    })().catch((error) => console.error(`dipline serve: webhook not queued: ${error}`));
  });
  if (options.queue === undefined) {
    workers.push(queue.process(
      restorationProcessor({
        dataDir,
        root,
        codec: options.codec,
        maxPixels,
        progressIntervalMs: options.progressIntervalMs,
      }),
      { concurrency: options.concurrency ?? 1 },
    ));
  }
  workers.push(webhooks.process(webhookProcessor({ secret: options.token }), { concurrency: 4 }));

  const abort = new AbortController();
  const app = createApp({
    signal: abort.signal,
    queue,
    codec: options.codec,
    dataDir,
    recipesDir,
    root,
    token: options.token,
    maxUploadBytes: options.maxUploadBytes,
    maxPixels,
    attempts: options.attempts,
    backoff: options.backoff,
  });
  let resolveListening: (url: string) => void;
  const listening = new Promise<string>((resolve) => resolveListening = resolve);
  const server = Deno.serve({
    hostname: host,
    port: options.port ?? 8417,
    signal: abort.signal,
    onListen: ({ hostname, port }) => {
      const shown = hostname.includes(":") ? `[${hostname}]` : hostname;
      resolveListening(`http://${shown}:${port}`);
    },
  }, app.fetch);
  const url = await listening;
  options.onListen?.(url);
  let closing: Promise<void> | undefined;
  return {
    url,
    port: server.addr.port,
    queue,
    finished: server.finished,
    close() {
      closing ??= (async () => {
        abort.abort();
        stopWebhooks();
        await Promise.all(workers.map((worker) => worker.close()));
        await server.finished;
        await queue.close();
        await webhooks.close();
      })();
      return closing;
    },
  };
}
