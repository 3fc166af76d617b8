/**
 * `dipline denoise`: Deep Image Prior denoising of one image (the reference denoising notebook's
 * settings unless told otherwise; `--preset jpeg` for blind JPEG-artifact removal).
 *
 * @module
 */
import { type Command, expectPositionals, parseFlags } from "./common.ts";
import { FIT_FLAGS, FIT_FLAGS_HELP, fitOptionsFromFlags, runFitCommand } from "./fit_common.ts";

/** The `denoise` subcommand. */
export const command: Command = {
  name: "denoise",
  summary: "Restore a noisy (or JPEG-damaged) image with Deep Image Prior",
  usage: `Usage: dipline denoise <in> -o <out> [fit options]

Fits a randomly initialised skip network to <in> and writes its output (EMA, backtracking:
the reference denoising notebook, 3000 steps). --preset jpeg uses the smaller blind JPEG net.

${FIT_FLAGS_HELP}

Example:
  deno run -A cli.ts denoise noisy.png -o restored.png --iterations 1800 --reference clean.png`,
  run(args) {
    const { values, positionals } = parseFlags(command, args, FIT_FLAGS);
    const [input] = expectPositionals(command, positionals, ["in"]);
    const task = values.preset === "jpeg" ? "jpeg" : "denoise";
    const options = fitOptionsFromFlags(command, task, values);
    return runFitCommand(command, options, { observation: input! }, values);
  },
};
