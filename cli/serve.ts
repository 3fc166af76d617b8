/**
 * `dipline serve`: the restoration service (service/server.ts) until Ctrl-C or SIGTERM.
 *
 * @module
 */
import { defaultCodec } from "../service/recipes.ts";
import { startServer } from "../service/server.ts";
import { openServeQueue } from "./serve_queue.ts";
import {
  type Command,
  EXIT,
  expectPositionals,
  maxPixelsFlag,
  numberFlag,
  parseFlags,
  printLine,
  UsageError,
} from "./common.ts";

/** The `serve` subcommand. */
export const command: Command = {
  name: "serve",
  summary: "Run the restoration service (HTTP job API, durable queue, live progress)",
  usage: `Usage: dipline serve [options]

Serves the job API under /v1 (see GET /v1/openapi.json) and runs the queued jobs. Jobs, their
events and files live under --data; a restart (even after kill -9) loses no job and runs again
the one that was running, skipping the outputs it had written.

Options:
  --host H            interface to bind (default 127.0.0.1; another one needs --token)
  --port N            port (default 8417; 0 picks a free one)
  --data DIR          the queue database and the jobs' files (default dipline-data)
  --recipes DIR       recipes that jobs may name (NAME.json data, or NAME.ts code you trust)
  --root DIR          folder that jobs may name input images in (paths relative to it)
  --concurrency N     jobs run at once (default 1)
  --token T           bearer token every route but /v1/health needs (default $DIPLINE_TOKEN;
                      none: loopback only, and requests must name a loopback host)
  --max-upload-mb N   largest request body (default 64)
  --max-pixels N      largest image, checked from its header (default 40000000)
  --queue URL         redis://HOST:PORT: enqueue on Redis for \`dipline worker\` on the GPU
                      hosts instead of running jobs here (default: $DIPLINE_QUEUE; none: the
                      embedded queue in --data, which also fires \`dipline schedule\` runs).
                      --data must then be the shared folder every worker mounts

Example:
  deno task serve --data /srv/dipline --recipes examples --concurrency 1`,
  async run(args) {
    const { values, positionals } = parseFlags(command, args, {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "8417" },
      data: { type: "string", default: "dipline-data" },
      recipes: { type: "string" },
      root: { type: "string" },
      concurrency: { type: "string", default: "1" },
      token: { type: "string" },
      "max-upload-mb": { type: "string", default: "64" },
      "max-pixels": { type: "string" },
      queue: { type: "string" },
    });
    expectPositionals(command, positionals, []);
    const port = numberFlag(command, "port", values.port)!;
    const concurrency = numberFlag(command, "concurrency", values.concurrency)!;
    const uploadMb = numberFlag(command, "max-upload-mb", values["max-upload-mb"])!;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new UsageError(`serve: Expected port 0–65535 for --port but received ${values.port}`);
    }
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new UsageError(
        `serve: Expected integer ≥ 1 for --concurrency but received ${values.concurrency}`,
      );
    }
    if (!(uploadMb > 0)) {
      throw new UsageError(
        `serve: Expected number > 0 for --max-upload-mb but received ${values["max-upload-mb"]}`,
      );
    }
    const token = values.token ?? (Deno.env.get("DIPLINE_TOKEN") || undefined);
    const maxPixels = maxPixelsFlag(command, values["max-pixels"]);
    const extra = await openServeQueue(command, values.queue, values.data, maxPixels);
    const server = await startServer({
      host: values.host,
      port,
      data: values.data,
      recipes: values.recipes,
      root: values.root,
      concurrency,
      token,
      codec: defaultCodec(),
      maxUploadBytes: Math.round(uploadMb * 1024 * 1024),
      maxPixels,
      queue: extra.queue,
      webhooks: extra.webhooks,
    }).catch(async (error) => {
      await extra.close();
      throw error;
    });
    printLine(
      `dipline serve: listening on ${server.url} (data ${values.data}; ${
        token === undefined ? "no token: loopback only" : "token required"
      }${extra.describe})`,
    );
    const stop = () => {
      console.error("dipline serve: stopping (running jobs go back to the queue)");
      void server.close();
    };
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
    try {
      await server.finished;
      await server.close();
      await extra.close();
    } finally {
      Deno.removeSignalListener("SIGINT", stop);
      Deno.removeSignalListener("SIGTERM", stop);
    }
    return EXIT.ok;
  },
};
