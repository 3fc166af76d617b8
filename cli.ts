/**
 * The `dipline` command. Subcommands live in cli/<name>.ts and are registered in
 * {@link COMMANDS}; each exports a `command` of the shape in cli/common.ts.
 *
 * ```sh
 * deno task dipline --help
 * deno run -A cli.ts run examples/degrade-noise.ts --input photos/ --out out/noisy
 * ```
 *
 * Exit codes: 0 success, 1 an input failed (one line naming the file and the reason), 2 a usage
 * error. `--debug` prints stack traces.
 *
 * @module
 */
import { type Command, EXIT, UsageError } from "./cli/common.ts";
import { command as bench } from "./cli/bench.ts";
import { command as degrade } from "./cli/degrade.ts";
import { command as exportNet } from "./cli/export_net.ts";
import { command as metrics } from "./cli/metrics.ts";
import { command as recipe } from "./cli/recipe.ts";
import { command as run } from "./cli/run.ts";
import { shortcutCommands } from "./cli/shortcuts.ts";
import { InputError, RecipeError } from "./core/errors.ts";
import { command as serve } from "./cli/serve.ts";
import { command as submit } from "./cli/submit.ts";
import { command as status } from "./cli/status.ts";
import { command as watch } from "./cli/watch.ts";
import { command as fetchJob } from "./cli/fetch.ts";
import { command as worker } from "./cli/worker.ts";
import { command as schedule } from "./cli/schedule.ts";

/** Every subcommand, in the order the help lists them. Add a new one here. */
export const COMMANDS: readonly Command[] = [
  run,
  degrade,
  metrics,
  recipe,
  ...shortcutCommands(),
  exportNet,
  bench,
  serve,
  submit,
  status,
  watch,
  fetchJob,
  worker,
  schedule,
];

const HELP = `dipline — Deep Image Prior restoration pipelines

Usage: dipline <command> [options]    (dipline <command> --help for its options)

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(14)} ${c.summary}`).join("\n")}

Global options:
  -h, --help     show help
  --debug        print stack traces of errors`;

/** Runs the command line `args` and resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  const debug = args.includes("--debug");
  const rest = args.filter((a) => a !== "--debug");
  const [name, ...commandArgs] = rest;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(HELP);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    console.error(`dipline: unknown command '${name}'. See 'dipline --help'`);
    return EXIT.usage;
  }
  if (commandArgs.includes("--help") || commandArgs.includes("-h")) {
    console.log(command.usage);
    return EXIT.ok;
  }
  try {
    return await command.run(commandArgs);
  } catch (error) {
    return report(command, error, debug);
  }
}

function report(command: Command, error: unknown, debug: boolean): number {
  if (debug && error instanceof Error) console.error(error.stack);
  const message = error instanceof Error ? error.message : String(error);
  const oneLine = message.split("\n")[0];
  if (error instanceof UsageError || error instanceof RecipeError) {
    console.error(`${oneLine}. See 'dipline ${command.name} --help'`);
    return EXIT.usage;
  }
  if (error instanceof InputError) {
    console.error(oneLine);
    return EXIT.input;
  }
  console.error(`${command.name}: ${oneLine}${debug ? "" : " (--debug prints the stack)"}`);
  return EXIT.input;
}

if (import.meta.main) {
  Deno.exitCode = await main(Deno.args);
}
