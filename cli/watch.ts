/**
 * `dipline watch`: a job's live progress line, from its Server-Sent Events.
 *
 * @module
 */
import type { ProgressEvent } from "../core/types.ts";
import { terminalReporter } from "../pipeline/progress.ts";
import type { DiplineClient } from "../service/client.ts";
import type { JobView } from "../service/jobs.ts";
import { type Command, EXIT, expectPositionals, parseFlags, printLine } from "./common.ts";
import {
  CLIENT_FLAGS,
  CLIENT_USAGE,
  clientFrom,
  describeJob,
  withApiErrors,
} from "./service_common.ts";

const EXECUTOR_EVENTS = new Set([
  "start",
  "input-start",
  "op",
  "fit",
  "input-done",
  "input-skipped",
  "input-failed",
  "done",
]);

/**
 * Follows a job's events to its end and resolves with the job. With `show`, draws the progress
 * line on a terminal's stderr, or prints one line per input and status change elsewhere.
 */
export async function followJob(
  client: DiplineClient,
  id: string,
  show: boolean,
): Promise<JobView> {
  const draw = show && Deno.stderr.isTerminal() ? terminalReporter() : undefined;
  for await (const event of client.events(id)) {
    if (!show) continue;
    if (EXECUTOR_EVENTS.has(event.type)) {
      if (draw) draw(event as unknown as ProgressEvent);
      else if (event.type === "input-done" || event.type === "input-failed") {
        const error = typeof event.error === "string" ? `: ${event.error}` : "";
        console.error(`${event.type} ${String(event.name)}${error}`);
      }
    } else if (!draw || event.type !== "job-running") {
      const error = typeof event.error === "string" ? `: ${event.error}` : "";
      if (draw) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
      console.error(`${event.type.replace(/^job-/, "")}${error}`);
    }
  }
  return await client.get(id);
}

/** The `watch` subcommand. */
export const command: Command = {
  name: "watch",
  summary: "Follow a job's live progress until it ends",
  usage: `Usage: dipline watch <id> [options]

Follows the job's event stream (reconnecting with Last-Event-ID if the connection drops) and
draws its progress line on stderr; prints the job when it ends. Exit 1 if it failed or was
canceled.

Options:
${CLIENT_USAGE}

Example:
  dipline watch 3f2c9a4e-…`,
  async run(args) {
    const { values, positionals } = parseFlags(command, args, CLIENT_FLAGS);
    const [id] = expectPositionals(command, positionals, ["id"]);
    const client = clientFrom(values);
    const job = await withApiErrors(() => followJob(client, id!, true));
    printLine(describeJob(job));
    return job.status === "succeeded" ? EXIT.ok : EXIT.input;
  },
};
