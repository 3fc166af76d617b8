/**
 * `dipline deblur`: Deep Image Prior deblurring of a Gaussian blur of known σ (the
 * gaussianBlur data term; not in the reference, whose notebooks have no deblurring — the
 * preset is dipline's choice, see dip/tasks.ts).
 *
 * @module
 */
import { type Command, expectPositionals, numberFlag, parseFlags, UsageError } from "./common.ts";
import { FIT_FLAGS, FIT_FLAGS_HELP, fitOptionsFromFlags, runFitCommand } from "./fit_common.ts";

/** The `deblur` subcommand. */
export const command: Command = {
  name: "deblur",
  summary: "Deblur an image (Gaussian blur of known σ) with Deep Image Prior",
  usage: `Usage: dipline deblur <in> -o <out> --sigma S [fit options]

Fits a skip network whose output, blurred by a Gaussian of standard deviation S pixels
(replicate padding, as \`degrade --blur S\` makes), matches <in>; writes the output, the same
size as <in> (3000 steps, input noise 0.03, EMA 0.99: dipline's choice, not the
reference's).

  --sigma S             σ of the Gaussian blur in pixels (required, > 0)

${FIT_FLAGS_HELP}

Example:
  deno run -A cli.ts degrade photo.png -o blurred.png --blur 2 --noise 5
  deno run -A cli.ts deblur blurred.png -o sharp.png --sigma 2`,
  run(args) {
    const { values, positionals } = parseFlags(command, args, {
      ...FIT_FLAGS,
      sigma: { type: "string" },
    });
    const [input] = expectPositionals(command, positionals, ["in"]);
    const sigma = numberFlag(command, "sigma", values.sigma);
    if (sigma === undefined) {
      throw new UsageError("deblur: Expected --sigma S (the blur σ in pixels) but received none");
    }
    const options = fitOptionsFromFlags(command, "deblur", values, { sigma });
    return runFitCommand(command, options, { observation: input! }, values);
  },
};
