/**
 * `dipline inpaint`: Deep Image Prior inpainting of the pixels a mask marks missing.
 *
 * @module
 */
import { type Command, expectPositionals, parseFlags, UsageError } from "./common.ts";
import { FIT_FLAGS, FIT_FLAGS_HELP, fitOptionsFromFlags, runFitCommand } from "./fit_common.ts";

/** The `inpaint` subcommand. */
export const command: Command = {
  name: "inpaint",
  summary: "Fill the holes a mask marks with Deep Image Prior",
  usage: `Usage: dipline inpaint <in> --mask MASK -o <out> [fit options]

Fits a skip network to the known pixels of <in> (MASK: white/255 = known, black/0 = missing,
same size as <in>) and writes its output, holes filled. Presets: inpaint (text/small holes,
6001 steps, the default), inpaint-bernoulli (random missing pixels, lr 0.001, 11000 steps),
inpaint-vase (large holes: meshgrid input, no skips).

  --mask MASK           the mask image (required)

${FIT_FLAGS_HELP}

Example:
  deno run -A cli.ts inpaint damaged.png --mask mask.png -o filled.png`,
  run(args) {
    const { values, positionals } = parseFlags(command, args, {
      ...FIT_FLAGS,
      mask: { type: "string" },
    });
    const [input] = expectPositionals(command, positionals, ["in"]);
    if (values.mask === undefined) {
      throw new UsageError("inpaint: Expected --mask MASK but received none");
    }
    const options = fitOptionsFromFlags(command, "inpaint", values);
    return runFitCommand(command, options, { observation: input!, mask: values.mask }, values);
  },
};
