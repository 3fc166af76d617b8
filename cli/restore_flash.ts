/**
 * `dipline restore-flash`: flash/no-flash restoration, the reference notebook's setting: the
 * flash image is the network's input z, the noisy no-flash image the target.
 *
 * @module
 */
import { type Command, expectPositionals, parseFlags } from "./common.ts";
import { FIT_FLAGS, FIT_FLAGS_HELP, fitOptionsFromFlags, runFitCommand } from "./fit_common.ts";

/** The `restore-flash` subcommand. */
export const command: Command = {
  name: "restore-flash",
  summary: "Restore a no-flash photo guided by a flash photo of the same scene",
  usage: `Usage: dipline restore-flash <flash> <noflash> -o <out> [fit options]

Feeds <flash> to a skip network as its input and fits the output to <noflash> (same size):
the result has the no-flash lighting with the flash image's detail (lr 0.1, 601 steps). The
reference notes a run can get stuck on a reddish image: rerun with another --seed.

${FIT_FLAGS_HELP}

Example:
  deno run -A cli.ts restore-flash flash.jpg noflash.jpg -o restored.png`,
  run(args) {
    const { values, positionals } = parseFlags(command, args, FIT_FLAGS);
    const [flash, noflash] = expectPositionals(command, positionals, ["flash", "noflash"]);
    const options = fitOptionsFromFlags(command, "flash", values);
    return runFitCommand(command, options, { observation: noflash!, guide: flash! }, values);
  },
};
