/**
 * `dipline status`: one job of a dipline service, or the newest jobs.
 *
 * @module
 */
import { type Command, EXIT, parseFlags, printLine, UsageError } from "./common.ts";
import {
  CLIENT_FLAGS,
  CLIENT_USAGE,
  clientFrom,
  describeJob,
  withApiErrors,
} from "./service_common.ts";

/** The `status` subcommand. */
export const command: Command = {
  name: "status",
  summary: "Show a job of a dipline service (or list the newest)",
  usage: `Usage: dipline status [<id>] [options]

Prints the job's status, progress, per-input scores and files, and its error if it failed;
without an id, the newest jobs, one line each.

Options:
${CLIENT_USAGE}
  --json          print the job (or the page of jobs) as JSON

Example:
  dipline status 3f2c9a4e-… --json`,
  async run(args) {
    const { values, positionals } = parseFlags(command, args, {
      ...CLIENT_FLAGS,
      json: { type: "boolean", default: false },
    });
    if (positionals.length > 1) {
      throw new UsageError(`status: Expected at most one <id> but received ${positionals.length}`);
    }
    const client = clientFrom(values);
    const [id] = positionals;
    if (id === undefined) {
      const page = await withApiErrors(() => client.list({ limit: 20 }));
      if (values.json) printLine(JSON.stringify(page));
      else for (const job of page.jobs) printLine(describeJob(job).split("\n")[0]!);
      return EXIT.ok;
    }
    const job = await withApiErrors(() => client.get(id));
    printLine(values.json ? JSON.stringify(job) : describeJob(job));
    return EXIT.ok;
  },
};
