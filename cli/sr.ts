/**
 * `dipline sr`: Deep Image Prior super-resolution by 2, 4 or 8 (Lanczos2 data term, the
 * reference super-resolution notebook's settings).
 *
 * @module
 */
import { type Command, expectPositionals, numberFlag, parseFlags } from "./common.ts";
import { FIT_FLAGS, FIT_FLAGS_HELP, fitOptionsFromFlags, runFitCommand } from "./fit_common.ts";

/** The `sr` subcommand. */
export const command: Command = {
  name: "sr",
  summary: "Super-resolve an image ×2, ×4 or ×8 with Deep Image Prior",
  usage: `Usage: dipline sr <in> -o <out> [--factor F] [fit options]

Fits a skip network whose output, downsampled by the reference Lanczos2 kernel, matches the
low-resolution <in>; writes the output, F times larger (default F = 4: 2000 steps, input
noise 0.03; F = 8: 4000 steps, 0.05).

  --factor F            2, 4 or 8 (default 4)

${FIT_FLAGS_HELP}

Example:
  deno run -A cli.ts sr small.png -o large.png --factor 4`,
  run(args) {
    const { values, positionals } = parseFlags(command, args, {
      ...FIT_FLAGS,
      factor: { type: "string" },
    });
    const [input] = expectPositionals(command, positionals, ["in"]);
    const factor = numberFlag(command, "factor", values.factor);
    const options = fitOptionsFromFlags(
      command,
      "sr",
      values,
      factor === undefined ? {} : { factor },
    );
    return runFitCommand(command, options, { observation: input! }, values);
  },
};
