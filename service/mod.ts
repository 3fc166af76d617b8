/**
 * The restoration service: `dipline serve`'s HTTP job API, its durable queue, the job processor
 * on the executor, webhooks, and a client.
 *
 * - service/queue.ts — the queue interface (BullMQ's Queue/Worker/QueueEvents shape)
 * - service/sqlite_queue.ts — its embedded implementation on node:sqlite
 * - service/app.ts — the Hono routes; service/server.ts — `Deno.serve`, workers, webhooks
 * - service/runner.ts — a job on the executor; service/jobs.ts — job data, progress, views
 * - service/schemas.ts, service/openapi.ts — request/response schemas and the OpenAPI document
 * - service/client.ts — the client the CLI commands use
 *
 * @example
 * ```ts ignore
 * import { defaultCodec, DiplineClient, startServer } from "./service/mod.ts";
 *
 * const server = await startServer({ port: 0, data: "dipline-data", codec: defaultCodec() });
 * const client = new DiplineClient(server.url);
 * const job = await client.submit({ recipe: { version: 1, steps: [] }, paths: [] });
 * console.log((await client.wait(job.id)).status);
 * await server.close();
 * ```
 *
 * @module
 */
export { createApp, SERVICE_VERSION } from "./app.ts";
export { ApiClientError, DiplineClient, type JobEvent, type Submission } from "./client.ts";
export { ApiError, ERROR_CODES, type ErrorCode } from "./errors.ts";
export type { JobData, JobProgress, JobView } from "./jobs.ts";
export * from "./queue.ts";
export { defaultCodec, type RecipeCodec } from "./recipes.ts";
export { type RunningServer, type ServeOptions, startServer } from "./server.ts";
export { SqliteQueue } from "./sqlite_queue.ts";
export { RedisQueue, type RedisQueueOptions, type RedisWorker } from "./redis_queue.ts";
export { type RunningWorker, startWorker, type StartWorkerOptions } from "./worker.ts";
export { DATA_MARKER } from "./data_folder.ts";
