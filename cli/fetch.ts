/**
 * `dipline fetch`: downloads every output of a job.
 *
 * @module
 */
import { join } from "node:path";
import { InputError } from "../core/errors.ts";
import { writeFileAtomic } from "../image/save.ts";
import type { ApiError } from "../service/errors.ts";
import { checkRelative } from "../service/paths.ts";
import {
  type Command,
  EXIT,
  expectPositionals,
  parseFlags,
  printLine,
  UsageError,
} from "./common.ts";
import { CLIENT_FLAGS, CLIENT_USAGE, clientFrom, withApiErrors } from "./service_common.ts";

/** The `fetch` subcommand. */
export const command: Command = {
  name: "fetch",
  summary: "Download every output of a job",
  usage: `Usage: dipline fetch <id> -o DIR [options]

Writes each output file of the job under DIR (atomically), keeping its name, and prints the
paths. A running job's outputs so far are fetched too.

Options:
${CLIENT_USAGE}
  -o, --out DIR   the folder to write to (created if missing)

Example:
  dipline fetch 3f2c9a4e-… -o restored/`,
  async run(args) {
    const { values, positionals } = parseFlags(command, args, {
      ...CLIENT_FLAGS,
      out: { type: "string", short: "o" },
    });
    const [id] = expectPositionals(command, positionals, ["id"]);
    if (values.out === undefined) throw new UsageError("fetch: Expected -o DIR");
    const client = clientFrom(values);
    const job = await withApiErrors(() => client.get(id!));
    const files = job.results.flatMap((result) => result.files);
    for (const file of files) {
      let segments: string[];
      try {
        segments = checkRelative(file.name, "file");
      } catch (error) {
        // A server must not make us write outside DIR.
        throw new InputError((error as ApiError).message);
      }
      const bytes = await withApiErrors(() => client.download(job.id, file.name));
      const path = join(values.out, ...segments);
      await writeFileAtomic(path, bytes);
      printLine(path);
    }
    if (files.length === 0) console.error(`job ${job.id} (${job.status}) has no output files yet`);
    return EXIT.ok;
  },
};
