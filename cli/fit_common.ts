/**
 * What the restoration shortcuts (`denoise`, `sr`, `inpaint`, `restore-flash`) share: the fit
 * flags, turning them into dipFit options, the progress line and the `--json` summary.
 *
 * @module
 */
import {
  binaryMask,
  type DipFitOptions,
  fitImage,
  referenceAtSize,
  resolveFitOptions,
} from "../dip/fit.ts";
import { loadImage } from "../image/load.ts";
import { psnr, ssim } from "../image/metrics.ts";
import { saveImage } from "../image/save.ts";
import { type ArchName, channelsOverride, type TaskName } from "../dip/tasks.ts";
import { formatDuration } from "../pipeline/progress.ts";
import type { ProgressEvent } from "../core/types.ts";
import { asUsageError, type Command, EXIT, numberFlag, printLine, UsageError } from "./common.ts";

/** Flags every fit shortcut accepts (parseArgs config). */
export const FIT_FLAGS = {
  out: { type: "string", short: "o" },
  iterations: { type: "string" },
  seed: { type: "string" },
  engine: { type: "string" },
  threads: { type: "string" },
  preset: { type: "string" },
  arch: { type: "string" },
  channels: { type: "string" },
  lr: { type: "string" },
  "check-every": { type: "string" },
  "early-stop": { type: "boolean" },
  runs: { type: "string" },
  reference: { type: "string" },
  json: { type: "boolean" },
} as const;

/** Help text of {@link FIT_FLAGS}, appended to each shortcut's usage. */
export const FIT_FLAGS_HELP =
  `Fit options (defaults: the task's preset, the reference notebook's settings):
  -o, --out PATH        restored image (PNG or JPEG by extension; required)
  --iterations N        Adam steps
  --seed N              seed of parameters, input and input noise (default 0)
  --engine E            webgpu | cpu | reference | auto (default auto)
  --threads N           CPU engine worker threads
  --preset NAME         a preset of the task (see README)
  --arch A              skip | hourglass | resnet | deep-decoder
  --channels C          network width: C channels at every level (smaller = faster)
  --lr X                Adam learning rate
  --check-every K       steps between readbacks, backtracking and early-stop checks (default 50)
  --early-stop          ES-WMV early stopping (window 100, patience 1000)
  --runs N              average N fits with seeds seed, seed+1, … (batched)
  --reference REF       ground truth: report PSNR/SSIM of the result (and the best PSNR seen)
  --json                print one JSON object with iterations, msPerStep, engine, adapter
                        (and psnr, ssim with --reference)`;

/** Parsed values of {@link FIT_FLAGS}. */
export type FitFlagValues = {
  [K in keyof typeof FIT_FLAGS]?: (typeof FIT_FLAGS)[K]["type"] extends "boolean" ? boolean
    : string;
};

/** Turns the fit flags into dipFit options for `task` (plus task-specific extras). */
export function fitOptionsFromFlags(
  command: Pick<Command, "name">,
  task: TaskName,
  values: FitFlagValues,
  extra: Partial<DipFitOptions> = {},
): DipFitOptions {
  const options: Record<string, unknown> = { task, ...extra };
  const numbers = [
    ["iterations", "iterations"],
    ["seed", "seed"],
    ["threads", "threads"],
    ["lr", "lr"],
    ["check-every", "checkEvery"],
    ["runs", "runs"],
  ] as const;
  for (const [flag, key] of numbers) {
    const value = numberFlag(command, flag, values[flag]);
    if (value !== undefined) options[key] = value;
  }
  if (values.engine !== undefined) options.engine = values.engine;
  if (values.preset !== undefined) options.preset = values.preset;
  if (values.arch !== undefined) options.arch = values.arch as ArchName;
  if (values["early-stop"]) options.earlyStop = true;
  const channels = numberFlag(command, "channels", values.channels);
  if (channels !== undefined) {
    const fit = resolveFitOptionsOrUsage(command, options as unknown as DipFitOptions);
    options.net = channelsOverride(fit.arch, fit.net as Record<string, unknown>, channels);
  }
  resolveFitOptionsOrUsage(command, options as unknown as DipFitOptions);
  return options as unknown as DipFitOptions;
}

function resolveFitOptionsOrUsage(command: Pick<Command, "name">, options: DipFitOptions) {
  try {
    return resolveFitOptions(options);
  } catch (error) {
    throw asUsageError(command, error);
  }
}

/**
 * A progress line on stderr when it is a terminal: step, loss, rate and ETA; nothing otherwise
 * (so pipes and `--json` output stay clean).
 */
export function fitProgressLine(): ((event: ProgressEvent) => void) | undefined {
  if (!Deno.stderr.isTerminal()) return undefined;
  const encoder = new TextEncoder();
  return (event) => {
    if (event.type !== "fit") return;
    const eta = event.stepsPerSecond > 0 ? (event.total - event.step) / event.stepsPerSecond : 0;
    const psnrText = event.psnr === undefined ? "" : `  ${event.psnr.toFixed(2)} dB`;
    const line =
      `step ${event.step}/${event.total}  loss ${event.loss.toPrecision(4)}${psnrText}  ` +
      `${event.stepsPerSecond.toFixed(2)} steps/s  ETA ${formatDuration(eta)}`;
    Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
    if (event.step >= event.total) Deno.stderr.writeSync(encoder.encode("\n"));
  };
}

/** The inputs of one shortcut run. */
export interface FitRun {
  /** The degraded image file (the target of the fit). */
  readonly observation: string;
  /** Inpainting: the mask file (white known, black missing). */
  readonly mask?: string;
  /** Flash/no-flash: the flash image file (the network's input). */
  readonly guide?: string;
}

/** Loads the inputs, fits, saves `--out`, prints the summary; resolves with the exit code. */
export async function runFitCommand(
  command: Pick<Command, "name">,
  options: DipFitOptions,
  run: FitRun,
  values: FitFlagValues,
): Promise<number> {
  if (values.out === undefined) {
    throw new UsageError(`${command.name}: Expected -o <out> but received none`);
  }
  const fit = resolveFitOptionsOrUsage(command, options);
  const observation = await loadImage(run.observation);
  const maskImage = run.mask !== undefined ? binaryMask(await loadImage(run.mask)) : undefined;
  const guide = run.guide !== undefined ? await loadImage(run.guide) : undefined;
  const reference = values.reference !== undefined ? await loadImage(values.reference) : undefined;
  const progress = fitProgressLine();
  const result = await fitImage(
    { observation, mask: maskImage, guide, clean: reference },
    fit,
    { emit: progress, name: observation.name },
  );
  await saveImage(result.image, values.out);
  const summary: Record<string, unknown> = {
    task: fit.task,
    preset: fit.preset,
    iterations: result.iterations,
    msPerStep: result.msPerStep,
    engine: result.engine,
    adapter: result.adapter,
    restores: result.restores,
    output: values.out,
  };
  if (fit.earlyStop) {
    summary.stopStep = result.stopStep ?? null;
    summary.wmvArgmin = result.wmvArgmin ?? null;
  }
  if (reference) {
    const clean = referenceAtSize(reference, result.image);
    summary.psnr = psnr(result.image, clean);
    summary.ssim = ssim(result.image, clean);
    summary.bestPsnr = result.bestPsnr;
    summary.bestStep = result.bestStep;
  }
  if (values.json) printLine(JSON.stringify(summary));
  else {
    const scores = reference
      ? `, PSNR ${(summary.psnr as number).toFixed(2)} dB, SSIM ${
        (summary.ssim as number).toFixed(4)
      }`
      : "";
    printLine(
      `${values.out}: ${result.iterations} steps on ${result.engine} (${result.adapter}), ` +
        `${result.msPerStep.toFixed(1)} ms/step${scores}`,
    );
  }
  return EXIT.ok;
}
