/**
 * The HTTP API on Hono: thin routes over the queue (service/queue.ts), the recipe codec and the
 * job folders. Every answer is JSON (but files and the event stream); every error is
 * `{ error: { code, message } }` with a stable code (service/errors.ts) and never a stack trace
 * or a server path.
 *
 * Routes (all under `/v1`): `POST /jobs`, `GET /jobs`, `GET /jobs/{id}`,
 * `GET /jobs/{id}/events` (SSE), `GET /jobs/{id}/files/{name}`, `POST /jobs/{id}/cancel`,
 * `DELETE /jobs/{id}`, `GET /health`, `GET /openapi.json`; the web page at `/` (service/page.ts).
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { extname, join } from "node:path";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { streamSSE } from "hono/streaming";
import type { Pipeline } from "../pipeline/dsl.ts";
import { ApiError, errorBody } from "./errors.ts";
import { imageSize } from "./image_header.ts";
import { type JobData, type JobInput, type JobProgress, jobView } from "./jobs.ts";
import { openApiDocument } from "./openapi.ts";
import { mountPage, withPreviews } from "./page.ts";
import { resolveFileUnder, resolveRecipeName, uploadName } from "./paths.ts";
import {
  type Backoff,
  FINAL_EVENTS,
  isFinished,
  type Job,
  JobStateError,
  type Queue,
  type QueueEvent,
} from "./queue.ts";
import type { RecipeCodec } from "./recipes.ts";
import { jobFolders } from "./runner.ts";
import { type CreateJob, CreateJobSchema, firstIssue, ListQuerySchema } from "./schemas.ts";

/** The service's version, shown by `/v1/health` and the OpenAPI document. */
export const SERVICE_VERSION = "0.1.0";

/** What the routes work on, and the limits they enforce. */
export interface AppOptions {
  readonly queue: Queue<JobData, JobProgress>;
  readonly codec: RecipeCodec;
  /** `--data`, a real path. */
  readonly dataDir: string;
  /** `--recipes`, a real path; without it jobs name no recipe file. */
  readonly recipesDir?: string;
  /** `--root`, a real path; without it jobs name no input path. */
  readonly root?: string;
  /** Bearer token every route but health needs; none: no auth, loopback clients only. */
  readonly token?: string;
  /** Largest request body (all uploads together), bytes; default 64 MiB. */
  readonly maxUploadBytes?: number;
  /** Largest image, pixels (checked from the header); default 40,000,000. */
  readonly maxPixels?: number;
  /** Most inputs per job; default 100. */
  readonly maxInputs?: number;
  /** Tries per job; default 3. */
  readonly attempts?: number;
  /** Wait between tries; default exponential from 5 s. */
  readonly backoff?: Backoff;
  /** Seconds between SSE keep-alive comments; default 15. */
  readonly keepAliveSeconds?: number;
  /** Ends open event streams when aborted (the server is stopping). */
  readonly signal?: AbortSignal;
}

const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);
const CONTENT_TYPES: Record<string, string> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
};

/** Compares two secrets in time independent of where they differ (and of their lengths). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The hostname of a Host header (`127.0.0.1:8417` → `127.0.0.1`, `[::1]:80` → `[::1]`). */
function hostnameOf(host: string): string {
  const match = /^(\[[^\]]*\]|[^:]*)(?::\d+)?$/.exec(host.trim().toLowerCase());
  return match?.[1] ?? host;
}

/** The Hono app of the API. */
export function createApp(options: AppOptions): Hono {
  const {
    queue,
    codec,
    dataDir,
    maxUploadBytes = 64 * 1024 * 1024,
    maxPixels = 40_000_000,
    maxInputs = 100,
    attempts = 3,
    backoff = { type: "exponential", delay: 5000 } as const,
  } = options;
  const keepAliveMs = (options.keepAliveSeconds ?? 15) * 1000;
  const app = new Hono();

  app.onError((error, c) => {
    if (error instanceof ApiError) return c.json(errorBody(error), error.status as 400);
    if (error instanceof HTTPException && error.status === 413) {
      const tooLarge = new ApiError(
        "payload_too_large",
        `the request body is larger than ${maxUploadBytes} bytes`,
      );
      return c.json(errorBody(tooLarge), 413);
    }
    console.error(`dipline serve: ${c.req.method} ${c.req.path}: ${error.stack ?? error}`);
    const internal = new ApiError("internal", "the server failed to answer; see its log");
    return c.json(errorBody(internal), 500);
  });
  app.notFound((c) =>
    c.json(errorBody(new ApiError("not_found", `no route ${c.req.method} ${c.req.path}`)), 404)
  );

  // Without a token the server answers loopback names only, so a page on another site cannot
  // reach it through DNS rebinding.
  app.use("*", async (c, next) => {
    if (options.token === undefined) {
      const host = hostnameOf(c.req.header("host") ?? "");
      if (!LOOPBACK_HOSTS.has(host)) {
        throw new ApiError(
          "forbidden_host",
          "without a token the server answers only loopback hosts (127.0.0.1, localhost)",
        );
      }
    }
    await next();
  });
  app.use("/v1/*", async (c, next) => {
    if (options.token === undefined || c.req.path === "/v1/health") return await next();
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (match === null || !sameSecret(match[1]!, options.token)) {
      c.header("WWW-Authenticate", 'Bearer realm="dipline"');
      throw new ApiError("unauthorized", "a valid 'Authorization: Bearer <token>' is required");
    }
    await next();
  });

  app.get("/v1/health", (c) => c.json({ status: "ok", version: SERVICE_VERSION }));
  mountPage(app); // the web page at `/` (service/page.ts)
  app.get("/v1/openapi.json", (c) => c.json(openApiDocument(codec.schema(), SERVICE_VERSION)));

  const getJob = async (id: string): Promise<Job<JobData, JobProgress>> => {
    const job = JOB_ID.test(id) ? await queue.get(id) : undefined;
    if (job === undefined) throw new ApiError("job_not_found", `no job ${JSON.stringify(id)}`);
    return job;
  };

  /** The recipe of a request as its pipeline and JSON document. */
  const readRecipe = async (
    recipe: CreateJob["recipe"],
  ): Promise<{ document: unknown; name?: string }> => {
    let pipeline: Pipeline;
    let name: string | undefined;
    const inline: unknown = recipe;
    try {
      if (typeof inline === "string") {
        if (options.recipesDir === undefined) {
          throw new ApiError("unknown_recipe", "the server has no --recipes folder");
        }
        const path = await resolveRecipeName(options.recipesDir, inline);
        name = inline;
        if (extname(path) === ".json") {
          let document: unknown;
          try {
            document = JSON.parse(await Deno.readTextFile(path));
          } catch {
            throw new ApiError("invalid_recipe", `recipe ${inline} is not valid JSON`);
          }
          pipeline = codec.fromJSON(document);
        } else pipeline = await codec.load(path);
      } else pipeline = codec.fromJSON(inline);
      pipeline.compile();
      // Previews on by default in the service: the page shows the fit as it runs.
      return { document: withPreviews(codec.toJSON(pipeline)), name };
    } catch (error) {
      if (error instanceof ApiError) throw error;
      const message = (error instanceof Error ? error.message : String(error)).split("\n")[0];
      throw new ApiError("invalid_recipe", message!);
    }
  };

  const checkSize = (bytes: Uint8Array, what: string) => {
    const size = imageSize(bytes);
    if (size === undefined) {
      throw new ApiError("not_an_image", `${what} is not a PNG, JPEG or GIF image`);
    }
    if (size.width * size.height > maxPixels) {
      throw new ApiError(
        "image_too_large",
        `${what} claims ${size.width}×${size.height} pixels, more than the limit of ${maxPixels}`,
      );
    }
  };

  /** The request as a checked body plus its uploads. */
  const readSubmission = async (
    request: Request,
  ): Promise<{ body: CreateJob; uploads: File[] }> => {
    const type = (request.headers.get("content-type") ?? "").toLowerCase();
    let raw: unknown;
    const uploads: File[] = [];
    if (type.startsWith("application/json")) {
      try {
        raw = await request.json();
      } catch (error) {
        if (error instanceof HTTPException) throw error;
        throw new ApiError("invalid_json", "the body is not valid JSON");
      }
    } else if (type.startsWith("multipart/form-data")) {
      let form: FormData;
      try {
        form = await request.formData();
      } catch (error) {
        if (error instanceof HTTPException) throw error;
        throw new ApiError("bad_request", "the body is not valid multipart/form-data");
      }
      const fields: Record<string, unknown> = {};
      for (const [key, value] of form.entries()) {
        if (key === "images") {
          if (typeof value === "string") {
            throw new ApiError("bad_request", "images must be file parts");
          }
          uploads.push(value);
        } else if (typeof value !== "string") {
          throw new ApiError("bad_request", `form field ${key} must be text, not a file`);
        } else if (key === "paths") {
          fields.paths = [...(fields.paths as string[] ?? []), value];
        } else if (
          key === "runOptions" || (key === "recipe" && value.trimStart().startsWith("{"))
        ) {
          try {
            fields[key] = JSON.parse(value);
          } catch {
            throw new ApiError("invalid_json", `the ${key} field is not valid JSON`);
          }
        } else fields[key] = value;
      }
      raw = fields;
    } else {
      throw new ApiError(
        "unsupported_media_type",
        "send application/json or multipart/form-data",
      );
    }
    const parsed = CreateJobSchema.safeParse(raw);
    if (!parsed.success) throw new ApiError("bad_request", firstIssue(parsed.error));
    return { body: parsed.data, uploads };
  };

  app.post(
    "/v1/jobs",
    bodyLimit({
      maxSize: maxUploadBytes,
      onError: () => {
        throw new ApiError(
          "payload_too_large",
          `the request body is larger than ${maxUploadBytes} bytes`,
        );
      },
    }),
    async (c) => {
      const { body, uploads } = await readSubmission(c.req.raw);
      const recipe = await readRecipe(body.recipe);
      const paths = body.paths ?? [];
      const count = uploads.length + paths.length;
      if (count === 0) {
        throw new ApiError("invalid_input", "a job needs at least one image (upload or path)");
      }
      if (count > maxInputs) {
        throw new ApiError("invalid_input", `a job takes at most ${maxInputs} images`);
      }
      const inputs: JobInput[] = [];
      const names = new Set<string>();
      const addInput = (input: JobInput) => {
        if (names.has(input.name)) {
          throw new ApiError(
            "duplicate_input",
            `two inputs are named ${JSON.stringify(input.name)}; their outputs would collide`,
          );
        }
        names.add(input.name);
        inputs.push(input);
      };
      const files: { name: string; bytes: Uint8Array }[] = [];
      for (const [index, file] of uploads.entries()) {
        const name = uploadName(file.name, index);
        const bytes = new Uint8Array(await file.arrayBuffer());
        checkSize(bytes, `upload ${JSON.stringify(name)}`);
        addInput({ name: name.replace(/\.[^.]*$/, "") || name, source: "upload", file: name });
        files.push({ name, bytes });
      }
      for (const path of paths) {
        if (options.root === undefined) {
          throw new ApiError("root_not_configured", "the server has no --root; upload the images");
        }
        const real = await resolveFileUnder(options.root, path, "path");
        const head = await readHead(real, 256 * 1024);
        checkSize(head, `path ${JSON.stringify(path)}`);
        const base = path.split("/").pop()!;
        addInput({ name: base.replace(/\.[^.]*$/, "") || base, source: "path", file: path });
      }

      const id = crypto.randomUUID();
      const folders = jobFolders(dataDir, id);
      if (files.length > 0) {
        await Deno.mkdir(folders.inputs, { recursive: true });
        for (const file of files) await Deno.writeFile(join(folders.inputs, file.name), file.bytes);
      }
      const data: JobData = {
        recipe: recipe.document,
        recipeName: recipe.name,
        inputs,
        runOptions: body.runOptions ?? {},
        webhook: body.webhook,
      };
      const job = await queue.add(data, { jobId: id, attempts, backoff });
      c.header("Location", `/v1/jobs/${id}`);
      return c.json(jobView(job), 201);
    },
  );

  app.get("/v1/jobs", async (c) => {
    const parsed = ListQuerySchema.safeParse(c.req.query());
    if (!parsed.success) throw new ApiError("bad_request", firstIssue(parsed.error));
    const { limit = 20, cursor, status } = parsed.data;
    const page = await queue.list({ limit, cursor, status: status as Job["status"] | undefined });
    return c.json({ jobs: page.jobs.map((job) => jobView(job)), next: page.next });
  });

  app.get("/v1/jobs/:id", async (c) => c.json(jobView(await getJob(c.req.param("id")))));

  app.post("/v1/jobs/:id/cancel", async (c) => {
    const job = await getJob(c.req.param("id"));
    if (isFinished(job.status)) {
      throw new ApiError("job_finished", `job ${job.id} is already ${job.status}`);
    }
    return c.json(jobView((await queue.cancel(job.id)) ?? job));
  });

  app.delete("/v1/jobs/:id", async (c) => {
    const job = await getJob(c.req.param("id"));
    try {
      await queue.remove(job.id);
    } catch (error) {
      if (!(error instanceof JobStateError)) throw error;
      throw new ApiError("job_active", `job ${job.id} is ${error.status}; cancel it first`);
    }
    await Deno.remove(jobFolders(dataDir, job.id).dir, { recursive: true }).catch(() => {});
    return c.body(null, 204);
  });

  app.get("/v1/jobs/:id/files/*", async (c) => {
    const job = await getJob(c.req.param("id"));
    const prefix = `/v1/jobs/${job.id}/files/`;
    let name: string;
    try {
      name = c.req.path.slice(prefix.length).split("/").map(decodeURIComponent).join("/");
    } catch {
      throw new ApiError("path_escape", "the file name is not valid URL encoding");
    }
    const outputs = jobFolders(dataDir, job.id).outputs;
    let root: string;
    try {
      root = await Deno.realPath(outputs);
    } catch {
      throw new ApiError("file_not_found", `job ${job.id} has no file ${JSON.stringify(name)}`);
    }
    const path = await resolveFileUnder(root, name, "file", "file_not_found");
    const file = await Deno.open(path);
    const { size } = await file.stat();
    return c.body(file.readable, 200, {
      "Content-Type": CONTENT_TYPES[extname(path).toLowerCase()] ?? "application/octet-stream",
      "Content-Length": String(size),
    });
  });

  app.get("/v1/jobs/:id/events", async (c) => {
    const job = await getJob(c.req.param("id"));
    const resume = c.req.header("last-event-id") ?? c.req.query("after") ?? "0";
    if (!/^\d{1,15}$/.test(resume)) {
      throw new ApiError("bad_request", "Last-Event-ID (or ?after=) must be an event id");
    }
    return streamSSE(c, async (stream) => {
      const pending: QueueEvent[] = [];
      let wake = () => {};
      let closed = false;
      const unsubscribe = queue.subscribe((event) => {
        if (event.jobId !== job.id) return;
        pending.push(event);
        wake();
      });
      const stop = () => {
        closed = true;
        wake();
      };
      stream.onAbort(stop);
      options.signal?.addEventListener("abort", stop);
      let last = Number(resume);
      /** Writes one event unless already sent; true when it ends the stream. */
      const send = async (event: QueueEvent): Promise<boolean> => {
        if (event.id !== 0 && event.id <= last) return false;
        await stream.writeSSE({
          id: event.id === 0 ? undefined : String(event.id),
          data: JSON.stringify({
            ...event.data,
            id: event.id,
            jobId: event.jobId,
            type: event.type,
            at: event.at,
          }),
        });
        if (event.id !== 0) last = event.id;
        return FINAL_EVENTS.has(event.type);
      };
      try {
        for (const event of await queue.events(job.id, last)) {
          if (await send(event)) return;
        }
        const now = await queue.get(job.id);
        // The job ended before the client's last event: nothing more will come.
        const ended = now === undefined || isFinished(now.status);
        while (!closed && !options.signal?.aborted) {
          while (pending.length > 0) {
            if (await send(pending.shift()!)) return;
          }
          if (ended) return;
          const timedOut = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(true), keepAliveMs);
            wake = () => {
              clearTimeout(timer);
              resolve(false);
            };
          });
          wake = () => {};
          if (timedOut && !closed) await stream.write(": keep-alive\n\n");
        }
      } finally {
        unsubscribe();
        options.signal?.removeEventListener("abort", stop);
      }
    });
  });

  for (const path of ["/v1/jobs", "/v1/jobs/:id", "/v1/jobs/:id/cancel", "/v1/jobs/:id/events"]) {
    app.all(path, (c) => {
      throw new ApiError("method_not_allowed", `${c.req.method} is not allowed on ${c.req.path}`);
    });
  }
  return app;
}

/** The first `bytes` of a file (an image's header). */
async function readHead(path: string, bytes: number): Promise<Uint8Array> {
  const file = await Deno.open(path);
  try {
    const buffer = new Uint8Array(bytes);
    let filled = 0;
    while (filled < bytes) {
      const n = await file.read(buffer.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    return buffer.subarray(0, filled);
  } finally {
    file.close();
  }
}
