/**
 * A client of the service's API, for the CLI (`dipline submit/status/watch/fetch`), scripts and
 * tests: JSON in and out, one error type that carries the API's stable `code`, and the job's
 * event stream as an async iterator that reconnects with `Last-Event-ID`.
 *
 * ```ts ignore
 * const client = new DiplineClient("http://127.0.0.1:8417");
 * const job = await client.submit({ recipe: "denoise", images: [{ name: "a.png", bytes }] });
 * for await (const event of client.events(job.id)) console.log(event.type);
 * ```
 *
 * @module
 */
import type { JobView } from "./jobs.ts";

/** An error answer of the API (or a failure to reach it: code `unreachable`). */
export class ApiClientError extends Error {
  override name = "ApiClientError";
  constructor(readonly code: string, message: string, readonly status: number) {
    super(message);
  }
}

/** One event of a job's stream. */
export interface JobEvent {
  readonly id: number;
  readonly jobId: string;
  readonly type: string;
  readonly [key: string]: unknown;
}

/** What to submit. */
export interface Submission {
  /** A recipe name on the server, or a JSON recipe document. */
  readonly recipe: string | Readonly<Record<string, unknown>>;
  /** Images to upload. */
  readonly images?: readonly { readonly name: string; readonly bytes: Uint8Array }[];
  /** Images by path under the server's `--root`. */
  readonly paths?: readonly string[];
  readonly runOptions?: { readonly engine?: string; readonly seed?: number };
  readonly webhook?: string;
}

/** Job event types after which the stream ends. */
const FINAL = new Set(["job-succeeded", "job-failed", "job-canceled", "job-removed"]);

/** A raw Server-Sent Event. */
export interface ServerSentEvent {
  readonly id?: string;
  readonly event?: string;
  readonly data: string;
}

/** Parses a `text/event-stream` body into events (comments and `retry:` are skipped). */
export async function* parseServerSentEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<ServerSentEvent> {
  let buffer = "";
  let id: string | undefined;
  let event: string | undefined;
  let data: string[] = [];
  for await (const chunk of body.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.search(/\r\n|\n|\r/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        if (data.length > 0) yield { id, event, data: data.join("\n") };
        event = undefined;
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "data") data.push(value);
      else if (field === "id") id = value;
      else if (field === "event") event = value;
    }
  }
}

/** The API client. */
export class DiplineClient {
  /** `server` like `http://127.0.0.1:8417` (no trailing `/v1`). */
  constructor(readonly server: string, readonly token?: string) {
    this.server = server.replace(/\/+$/, "");
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.token === undefined ? extra : { ...extra, Authorization: `Bearer ${this.token}` };
  }

  /** Sends a request; a non-2xx answer throws {@link ApiClientError} with the API's code. */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(`${this.server}${path}`, {
        ...init,
        headers: this.#headers(init.headers as Record<string, string> | undefined),
      });
    } catch (error) {
      throw new ApiClientError(
        "unreachable",
        `cannot reach ${this.server}: ${(error as Error).message}`,
        0,
      );
    }
    if (response.ok) return response;
    let code = "http_error";
    let message = `HTTP ${response.status}`;
    try {
      const body = await response.json();
      code = body?.error?.code ?? code;
      message = body?.error?.message ?? message;
    } catch {
      // Not one of our error bodies (a proxy's page): keep the status.
    }
    throw new ApiClientError(code, message, response.status);
  }

  async #json<T>(path: string, init?: RequestInit): Promise<T> {
    return await (await this.fetch(path, init)).json() as T;
  }

  /** Submits a job: multipart when it uploads images, JSON otherwise. */
  submit(submission: Submission): Promise<JobView> {
    const { images = [], ...rest } = submission;
    if (images.length === 0) {
      return this.#json("/v1/jobs", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(rest),
      });
    }
    const form = new FormData();
    form.set(
      "recipe",
      typeof rest.recipe === "string" ? rest.recipe : JSON.stringify(rest.recipe),
    );
    if (rest.runOptions) form.set("runOptions", JSON.stringify(rest.runOptions));
    if (rest.webhook) form.set("webhook", rest.webhook);
    for (const path of rest.paths ?? []) form.append("paths", path);
    for (const image of images) {
      form.append("images", new Blob([image.bytes as Uint8Array<ArrayBuffer>]), image.name);
    }
    return this.#json("/v1/jobs", { method: "POST", body: form });
  }

  get(id: string): Promise<JobView> {
    return this.#json(`/v1/jobs/${encodeURIComponent(id)}`);
  }

  list(
    query: { limit?: number; cursor?: string; status?: string } = {},
  ): Promise<{ jobs: JobView[]; next?: string }> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) params.set(key, String(value));
    }
    const search = params.size > 0 ? `?${params}` : "";
    return this.#json(`/v1/jobs${search}`);
  }

  cancel(id: string): Promise<JobView> {
    return this.#json(`/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST" });
  }

  async remove(id: string): Promise<void> {
    await this.fetch(`/v1/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });
  }

  /** An output file's bytes; `name` as in the job's `results[].files[].name`. */
  async download(id: string, name: string): Promise<Uint8Array> {
    const path = name.split("/").map(encodeURIComponent).join("/");
    const response = await this.fetch(`/v1/jobs/${encodeURIComponent(id)}/files/${path}`);
    return new Uint8Array(await response.arrayBuffer());
  }

  /**
   * The job's events from after `lastEventId` (all when 0) until its final event; a dropped
   * connection is resumed with `Last-Event-ID` (up to `retries` times in a row).
   */
  async *events(
    id: string,
    options: { lastEventId?: number; signal?: AbortSignal; retries?: number } = {},
  ): AsyncGenerator<JobEvent> {
    let last = options.lastEventId ?? 0;
    let failures = 0;
    while (!options.signal?.aborted) {
      let response: Response;
      try {
        response = await this.fetch(`/v1/jobs/${encodeURIComponent(id)}/events`, {
          headers: { Accept: "text/event-stream", "Last-Event-ID": String(last) },
          signal: options.signal,
        });
      } catch (error) {
        if (!(error instanceof ApiClientError) || error.code !== "unreachable") throw error;
        if (++failures > (options.retries ?? 3) || options.signal?.aborted) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250 * failures));
        continue;
      }
      try {
        for await (const message of parseServerSentEvents(response.body!)) {
          failures = 0;
          const event = JSON.parse(message.data) as JobEvent;
          if (event.id > 0) last = event.id;
          yield event;
          if (FINAL.has(event.type)) return;
        }
      } catch (error) {
        if (options.signal?.aborted) return;
        if (++failures > (options.retries ?? 3)) throw error;
      }
      // The stream ended without a final event: the job ended before `last`, or the server
      // stopped (resume once it is back).
      const job = await this.get(id).catch(() => undefined);
      if (job !== undefined && ["succeeded", "failed", "canceled"].includes(job.status)) return;
      await new Promise((resolve) => setTimeout(resolve, 100 + 250 * failures));
    }
  }

  /** Resolves with the job once it has ended (following its events). */
  async wait(id: string, signal?: AbortSignal): Promise<JobView> {
    for await (const _event of this.events(id, { signal })) {
      // Only the end matters here.
    }
    return await this.get(id);
  }
}
