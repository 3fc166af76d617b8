/**
 * `dipline degrade`: applies one seeded degradation to an image file, e.g. to make test inputs
 * for a restoration.
 *
 * @module
 */
import { checkDegradeSpec, degradeImage, type DegradeSpec } from "../dip/degrade.ts";
import { loadImage } from "../image/load.ts";
import { checkOutputTargets, realPathOf, saveImage } from "../image/save.ts";
import {
  asUsageError,
  type Command,
  EXIT,
  expectPositionals,
  maxPixelsFlag,
  numberFlag,
  parseFlags,
  UsageError,
} from "./common.ts";

// blur last, so the usage error keeps naming --noise first
const MODES = ["noise", "downsample", "drop", "text", "jpeg", "blur"] as const;

/** The `degrade` subcommand. */
export const command: Command = {
  name: "degrade",
  summary: "Degrade an image: blur, noise, downsample, drop pixels, text mask or JPEG",
  usage: `Usage: dipline degrade <in> -o <out> <degradation> [--seed N]

Writes a degraded copy of <in> to <out> (PNG or JPEG by extension). Exactly one degradation
(except --blur, which --noise may follow: blur first, then noise):
  --blur SIGMA                  Gaussian blur, σ in pixels (the deblur task's forward model)
  --noise SIGMA                 add Gaussian noise, σ on the 0–255 scale (the paper uses 25)
  --downsample F                Lanczos downsample by F = 2, 4 or 8
  --drop KEEP --mask-out MASK   keep a random fraction KEEP of the pixels (0 < KEEP < 1),
                                the others set to 0; the mask (255 kept, 0 dropped) goes to MASK
  --text "…" --mask-out MASK    punch the text into the image as holes; mask to MASK
  --jpeg Q                      JPEG-compress at quality Q (1–100)

The outputs are checked before anything is read: a writable folder, a .png/.jpg/.jpeg name,
and never the input itself (also through a link).

Options:
  -o, --out PATH    output image (required)
  --seed N          random seed (default 0); same seed, same output
  --max-pixels N    refuse inputs above N pixels (default 40000000)

Example:
  deno run -A cli.ts degrade photo.png -o noisy.png --noise 25 --seed 1
  deno run -A cli.ts degrade photo.png -o blurred.png --blur 2 --noise 5`,
  async run(args) {
    const { values, positionals } = parseFlags(command, args, {
      out: { type: "string", short: "o" },
      blur: { type: "string" },
      noise: { type: "string" },
      downsample: { type: "string" },
      drop: { type: "string" },
      text: { type: "string" },
      jpeg: { type: "string" },
      seed: { type: "string" },
      "mask-out": { type: "string" },
      "max-pixels": { type: "string" },
    });
    const [input] = expectPositionals(command, positionals, ["in"]);
    if (values.out === undefined) {
      throw new UsageError("degrade: Expected -o <out> but received none");
    }
    const chosen = MODES.filter((mode) => values[mode] !== undefined);
    const blurThenNoise = chosen.length === 2 && chosen.includes("blur") &&
      chosen.includes("noise");
    if (chosen.length !== 1 && !blurThenNoise) {
      throw new UsageError(
        `degrade: Expected exactly one of ${
          MODES.map((m) => `--${m}`).join(", ")
        } (or --blur with --noise) but received ${
          chosen.length === 0 ? "none" : chosen.map((m) => `--${m}`).join(" ")
        }`,
      );
    }
    const mode = chosen[0]!;
    const needsMask = mode === "drop" || mode === "text";
    if (needsMask && values["mask-out"] === undefined) {
      throw new UsageError(`degrade: Expected --mask-out MASK with --${mode} but received none`);
    }
    if (!needsMask && values["mask-out"] !== undefined) {
      throw new UsageError(
        `degrade: Expected --mask-out only with --drop or --text but received it with --${mode}`,
      );
    }
    const spec: DegradeSpec = {
      blur: numberFlag(command, "blur", values.blur),
      noise: numberFlag(command, "noise", values.noise),
      downsample: numberFlag(command, "downsample", values.downsample) as DegradeSpec["downsample"],
      drop: numberFlag(command, "drop", values.drop),
      text: values.text,
      jpeg: numberFlag(command, "jpeg", values.jpeg),
      seed: numberFlag(command, "seed", values.seed),
    };
    const defined = Object.fromEntries(
      Object.entries(spec).filter(([, v]) => v !== undefined),
    ) as DegradeSpec;
    try {
      checkDegradeSpec(defined);
    } catch (error) {
      throw asUsageError(command, error);
    }
    // Before any work: the outputs can be written and none of them is the input (or the other).
    const outputs = needsMask ? [values.out, values["mask-out"]!] : [values.out];
    if (outputs.length === 2 && await realPathOf(outputs[0]!) === await realPathOf(outputs[1]!)) {
      throw new UsageError(
        `degrade: Expected --mask-out to differ from -o but both are ${values.out}`,
      );
    }
    await checkOutputTargets(outputs, { inputs: [input!] });
    const image = await loadImage(input!, {
      maxPixels: maxPixelsFlag(command, values["max-pixels"]),
    });
    const result = await degradeImage(image, defined);
    await saveImage(result.image, values.out);
    if (needsMask && result.mask) await saveImage(result.mask, values["mask-out"]!);
    return EXIT.ok;
  },
};
