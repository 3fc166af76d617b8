/**
 * The restoration shortcuts (`dipline denoise`, `sr`, `inpaint`, `deblur`, `denoise-poisson`,
 * `restore-flash`): one command per task record that has a `shortcut` (dip/tasks.ts). Their
 * flags and `--help` come from dipFit's option schema (the options with a `flag`) and the
 * task's own options; each run is a pipeline — `load` the reference → `dipFit` → `save` —
 * through the executor, with `--engine`/`--threads` as the run's schedule, not the recipe's.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import type { ParseArgsOptionsConfig } from "node:util";
import { innerOf, metaOf, type OptionMeta, z } from "../core/schema.ts";
import type { ProgressEvent } from "../core/types.ts";
import {
  type DipFitOptions,
  DipFitOptionsSchema,
  ENGINES,
  resolveFitOptions,
} from "../dip/options.ts";
import { channelsOverride, type TaskName, TASKS, type TaskSpec } from "../dip/tasks.ts";
import { pipeline } from "../pipeline/dsl.ts";
import { execute } from "../pipeline/executor.ts";
import { fitEndLine, formatDuration, sparkline, SPARKLINE_CHECKS } from "../pipeline/progress.ts";
import { fileInput } from "../pipeline/sources.ts";
import {
  asUsageError,
  type Command,
  EXIT,
  expectPositionals,
  numberFlag,
  parseFlags,
  printLine,
  UsageError,
} from "./common.ts";

/** A dipFit option as a command-line flag. */
interface FlagSpec {
  /** The dipFit option it sets. */
  readonly key: string;
  /** The flag without dashes, e.g. `check-every`. */
  readonly flag: string;
  /** A boolean flag (no value), or one that takes a string to parse. */
  readonly kind: "boolean" | "number" | "string";
  readonly meta: OptionMeta;
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function flagKind(schema: z.ZodType): FlagSpec["kind"] {
  const inner = innerOf(schema);
  if (inner instanceof z.ZodBoolean) return "boolean";
  if (inner instanceof z.ZodUnion) {
    const options = inner.options as z.ZodType[];
    if (options.some((o) => innerOf(o) instanceof z.ZodBoolean)) return "boolean";
    if (options.every((o) => innerOf(o) instanceof z.ZodLiteral)) return "number";
  }
  if (inner instanceof z.ZodNumber) return "number";
  return "string";
}

/** The flags every shortcut takes: dipFit's options whose schema metadata names a flag. */
function fitFlags(): FlagSpec[] {
  const shape = DipFitOptionsSchema.shape as Record<string, z.ZodType>;
  return Object.entries(shape)
    .map(([key, schema]) => ({ key, schema, meta: metaOf(schema) }))
    .filter(({ meta }) => meta.flag !== undefined)
    .map(({ key, schema, meta }) => ({ key, flag: meta.flag!, kind: flagKind(schema), meta }));
}

/** A task's own options as flags (SR's --factor, inpainting's --mask, …). */
function taskFlags(task: TaskSpec, positional: Readonly<Record<string, string>>): FlagSpec[] {
  const taken = new Set(Object.values(positional));
  return Object.entries(task.options)
    .filter(([key]) => !taken.has(key))
    .map(([key, schema]) => ({
      key,
      flag: kebab(key),
      kind: flagKind(schema),
      meta: metaOf(schema),
    }));
}

/** Flags of the shortcuts that are not dipFit options. */
const COMMAND_FLAGS = {
  out: { type: "string", short: "o" },
  channels: { type: "string" },
  reference: { type: "string" },
  json: { type: "boolean" },
} as const satisfies ParseArgsOptionsConfig;

function helpLine(spec: FlagSpec): string {
  const value = spec.kind === "boolean" ? "" : ` ${spec.meta.placeholder ?? "X"}`;
  // A boolean fit option has a --no- form: a default that is on can be turned off.
  const left = `  --${spec.kind === "boolean" ? "[no-]" : ""}${spec.flag}${value}`;
  const description = spec.key === "engine"
    ? `${ENGINES.join(" | ")} (default auto: WebGPU on a hardware adapter, else cpu)`
    : spec.meta.description ?? "";
  return `${left.padEnd(24)}${description}`;
}

function usageOf(name: TaskName, task: TaskSpec, flags: FlagSpec[], own: FlagSpec[]): string {
  const shortcut = task.shortcut!;
  const positionals = shortcut.positionals.map((p) => `<${p}>`).join(" ");
  const required = own.filter((f) => task.required?.includes(f.key));
  const requiredText = required.map((f) => ` --${f.flag} ${f.meta.placeholder ?? "X"}`).join("");
  const presets = task.presets.join(", ");
  return `Usage: dipline ${shortcut.command} ${positionals} -o <out>${requiredText} [options]

${shortcut.description}

Task options (task "${name}"; presets: ${presets}):
${own.map(helpLine).join("\n") || "  (none)"}

Fit options (defaults: the preset's, the reference notebook's settings):
  -o, --out PATH        restored image (PNG or JPEG by extension; required)
${flags.map(helpLine).join("\n")}
  --channels C          network width: C channels at every level (smaller = faster)
  --reference REF       ground truth: report PSNR/SSIM of the result (and the best PSNR seen)
  --json                print one JSON object with iterations, msPerStep, engine, adapter
                        (and psnr, ssim with --reference)

Example:
  deno task dipline ${shortcut.command} ${
    shortcut.positionals.map((p) => `${p}.png`).join(" ")
  } -o restored.png${requiredText.replace(/ [A-Z]+/g, (m) => m === " FILE" ? " mask.png" : " 2")}`;
}

/** Parsed flag values → dipFit options (a usage error when a value is wrong). */
function optionsFromFlags(
  command: Pick<Command, "name">,
  task: TaskName,
  specs: readonly FlagSpec[],
  values: Record<string, string | boolean | undefined>,
  positional: Readonly<Record<string, string>>,
): DipFitOptions {
  const options: Record<string, unknown> = { task, ...positional };
  for (const spec of specs) {
    if (spec.kind === "boolean" && values[`no-${spec.flag}`] === true) {
      options[spec.key] = false;
      continue;
    }
    const value = values[spec.flag];
    if (value === undefined || value === false) continue;
    if (spec.kind === "boolean") options[spec.key] = true;
    else if (spec.kind === "number") {
      options[spec.key] = numberFlag(command, spec.flag, value as string);
    } else options[spec.key] = value;
  }
  for (const key of (TASKS[task] as TaskSpec).required ?? []) {
    const spec = specs.find((s) => s.key === key);
    if (options[key] === undefined && spec) {
      throw new UsageError(
        `${command.name}: Expected --${spec.flag} ${
          spec.meta.placeholder ?? "X"
        } but received none`,
      );
    }
  }
  try {
    const channels = numberFlag(command, "channels", values.channels as string | undefined);
    if (channels !== undefined) {
      if (!Number.isInteger(channels) || channels < 1) {
        throw new UsageError(
          `${command.name}: Expected integer ≥ 1 for --channels but received ${values.channels}`,
        );
      }
      const fit = resolveFitOptions(options as DipFitOptions);
      options.net = channelsOverride(fit.arch, fit.net, channels);
    }
    resolveFitOptions(options as DipFitOptions);
  } catch (error) {
    throw asUsageError(command, error);
  }
  return options as DipFitOptions;
}

/**
 * A progress line on stderr when it is a terminal: step, loss, rate and ETA; nothing otherwise
 * (so pipes and `--json` output stay clean).
 */
export function fitProgressLine(): ((event: ProgressEvent) => void) | undefined {
  if (!Deno.stderr.isTerminal()) return undefined;
  const encoder = new TextEncoder();
  let trend: number[] = [];
  return (event) => {
    if (event.type === "record") {
      // How it ended: the step early stopping chose, or the best one (pipeline/progress.ts).
      const end = fitEndLine(event);
      Deno.stderr.writeSync(encoder.encode(end ? `\r\x1b[2K${end}\n` : "\n"));
      trend = [];
      return;
    }
    if (event.type !== "fit") return;
    trend = [...trend, event.psnr ?? event.loss].slice(-SPARKLINE_CHECKS);
    const eta = event.stepsPerSecond > 0 ? (event.total - event.step) / event.stepsPerSecond : 0;
    const psnrText = event.psnr === undefined ? "" : `  ${event.psnr.toFixed(2)} dB`;
    const line =
      `step ${event.step}/${event.total}  loss ${event.loss.toPrecision(4)}${psnrText}  ` +
      `${sparkline(trend)}  ${event.stepsPerSecond.toFixed(2)} steps/s  ETA ${formatDuration(eta)}`;
    Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
  };
}

/** A shortcut command; `parse` turns its arguments into dipFit options without running. */
export interface ShortcutCommand extends Command {
  parse(args: string[]): {
    options: DipFitOptions;
    input: string;
    values: Record<string, string | boolean | undefined>;
  };
}

/** The shortcut command of task `name` (which must have a `shortcut`). */
export function shortcutCommand(name: TaskName): ShortcutCommand {
  const task: TaskSpec = TASKS[name];
  const shortcut = task.shortcut!;
  // Positionals before the last one name files of the task's images (flash: the guide).
  const imageOptions = (task.images ?? []).map((image) => image.option);
  const positionalOptions = shortcut.positionals.slice(0, -1);
  const byPosition: Record<string, string> = {};
  positionalOptions.forEach((p, i) => byPosition[p] = imageOptions[i]!);
  const own = taskFlags(task, byPosition);
  const specs = [...fitFlags(), ...own];
  const parseConfig: ParseArgsOptionsConfig = { ...COMMAND_FLAGS };
  for (const spec of specs) {
    parseConfig[spec.flag] = { type: spec.kind === "boolean" ? "boolean" : "string" };
    if (spec.kind === "boolean") parseConfig[`no-${spec.flag}`] = { type: "boolean" };
  }
  const command: ShortcutCommand = {
    name: shortcut.command,
    summary: shortcut.summary,
    usage: usageOf(name, task, fitFlags(), own),
    parse(args) {
      const { values, positionals } = parseFlags(command, args, parseConfig);
      const given = expectPositionals(command, positionals, shortcut.positionals);
      const input = given.at(-1)!;
      const positional: Record<string, string> = {};
      positionalOptions.forEach((p, i) => positional[byPosition[p]!] = resolve(given[i]!));
      // A task image that no positional gives must come from its flag (no slot on the CLI).
      for (const image of task.images ?? []) {
        const spec = own.find((s) => s.key === image.option);
        if (spec && values[spec.flag] === undefined) {
          throw new UsageError(
            `${command.name}: Expected --${spec.flag} ${
              spec.meta.placeholder ?? "FILE"
            } but received none`,
          );
        }
      }
      const flagValues = values as Record<string, string | boolean | undefined>;
      const options = optionsFromFlags(command, name, specs, flagValues, positional);
      return { options, input, values: flagValues };
    },
    async run(args) {
      const { options, input, values } = command.parse(args);
      const { engine, threads, ...fitOptions } = options;
      for (const image of task.images ?? []) {
        const file = (fitOptions as Record<string, unknown>)[image.option];
        if (typeof file === "string") {
          (fitOptions as Record<string, unknown>)[image.option] = resolve(file);
        }
      }
      const out = values.out as string | undefined;
      if (out === undefined) {
        throw new UsageError(`${command.name}: Expected -o <out> but received none`);
      }
      return await runShortcut(command, fitOptions as DipFitOptions, {
        input,
        out,
        reference: values.reference as string | undefined,
        json: values.json === true,
        engine,
        threads,
      });
    },
  };
  return command;
}

/** One shortcut run: the recipe, how to run it, and what to print. */
async function runShortcut(
  command: Pick<Command, "name">,
  options: DipFitOptions,
  run: {
    input: string;
    out: string;
    reference?: string;
    json: boolean;
    engine?: DipFitOptions["engine"];
    threads?: number;
  },
): Promise<number> {
  let recipe = pipeline();
  if (run.reference !== undefined) {
    recipe = recipe.load({ slot: "clean", path: resolve(run.reference) });
  }
  let graph;
  try {
    recipe = recipe.dipFit(options).save(resolve(run.out));
    graph = recipe.compile();
  } catch (error) {
    throw asUsageError(command, error);
  }
  const progress = fitProgressLine();
  const summary = await execute(graph, [fileInput(resolve(run.input))], {
    outDir: dirname(resolve(run.out)),
    force: true,
    records: false, // one named output file: no resume record beside it
    engine: run.engine,
    threads: run.threads,
    onEvent: progress,
  });
  const failure = summary.failed[0];
  if (failure) {
    console.error(failure.error);
    return EXIT.input;
  }
  const done = summary.done[0]!;
  const info = done.info;
  const result: Record<string, unknown> = {
    task: info.task,
    preset: info.preset,
    iterations: info.iterations,
    msPerStep: info.msPerStep,
    engine: info.engine,
    adapter: info.adapter,
    restores: info.restores,
    output: run.out,
  };
  if ("stopStep" in info) {
    result.stopStep = info.stopStep;
    // The step whose output was written (the stopping rule's choice).
    result.returnedStep = info.returnedStep;
    if ("wmvArgmin" in info) result.wmvArgmin = info.wmvArgmin;
  }
  if (run.reference !== undefined) {
    result.psnr = done.metrics.psnr;
    result.ssim = done.metrics.ssim;
    result.bestPsnr = done.metrics.bestPsnr;
    result.bestStep = info.bestStep;
  }
  if (run.json) printLine(JSON.stringify(result));
  else {
    const scores = run.reference !== undefined
      ? `, PSNR ${(result.psnr as number).toFixed(2)} dB` +
        (result.ssim === undefined ? "" : `, SSIM ${(result.ssim as number).toFixed(4)}`)
      : "";
    printLine(
      `${run.out}: ${info.iterations} steps on ${info.engine} (${info.adapter}), ` +
        `${(info.msPerStep as number).toFixed(1)} ms/step${scores}`,
    );
  }
  return EXIT.ok;
}

/** Every task's shortcut command, in the registry's order. */
export function shortcutCommands(): Command[] {
  return (Object.keys(TASKS) as TaskName[])
    .filter((name) => (TASKS[name] as TaskSpec).shortcut !== undefined)
    .map(shortcutCommand);
}
