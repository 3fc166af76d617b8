/**
 * The command line of `deno task bench:quality` (bench/quality.ts documents every flag): reads
 * the flags, then merges reports, stages files, estimates, or runs the comparison or
 * `--early-stop` and prints or writes what it found.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { findTorchPython } from "../side_by_side.ts";
import { FitBudget } from "./budget.ts";
import { DEFAULT_SETUP_S, DEVICE_BUDGET_S, printEstimate } from "./estimate.ts";
import {
  type Entry,
  FILES,
  type Item,
  listEntries,
  loadItems,
  setSizes,
  stageFiles,
} from "./items.ts";
import {
  EARLY_STOP,
  type EarlyStopSettings,
  type FitFlags,
  REDUCED,
  type Task,
  TASKS,
} from "./protocol.ts";
import { makeReport, mergeReports, readReport, type Row } from "./report.ts";
import { runComparison, runEarlyStop, type RunSettings } from "./run.ts";
import { printEarlyStop, printTable } from "./table.ts";
import { earlyStopVerdict } from "./verdicts.ts";
import { parseLearnedFlag } from "./learned.ts";
import type { ModelName } from "../../ops/model_named.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DEFAULT_DATA = join(ROOT, "..", "shared", "data", "paper-benchmarks");

/** A non-negative integer flag, or exits naming it. */
function integerFlag(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    console.error(`quality: expected an integer ≥ ${min} for --${name} but received "${value}"`);
    Deno.exit(2);
  }
  return n;
}

/** `--esrgan`, or exits 2 naming the bad entry. */
function learnedFlag(value: string | undefined): ModelName[] {
  try {
    return parseLearnedFlag(value);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(2);
  }
}

/** The parsed flags: what every mode of the command reads. */
interface Command {
  readonly values: ReturnType<typeof parse>["values"];
  /** The files after `--merge`. */
  readonly positionals: string[];
  /** `--task` as given (or its default). */
  readonly taskFlag: string;
  readonly tasks: Task[];
  readonly earlyStop: boolean;
  readonly budgetSeconds?: number;
  readonly flags: FitFlags;
  readonly seeds: number[];
  readonly esSettings: EarlyStopSettings;
  /** The Python with PyTorch of the torch column, when it runs and one was found. */
  readonly python?: string;
  /** `--only`'s image names, in their order. */
  readonly only?: Set<string>;
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      task: { type: "string" },
      reduced: { type: "boolean", default: false },
      engine: { type: "string", default: "auto" },
      threads: { type: "string" },
      data: { type: "string", default: DEFAULT_DATA },
      only: { type: "string" },
      iterations: { type: "string" },
      channels: { type: "string" },
      seed: { type: "string", default: "0" },
      seeds: { type: "string" },
      "early-stop": { type: "boolean", default: false },
      window: { type: "string" },
      patience: { type: "string" },
      "check-every": { type: "string" },
      torch: { type: "boolean" },
      "no-torch": { type: "boolean" },
      python: { type: "string" },
      out: { type: "string" },
      json: { type: "boolean", default: false },
      "json-out": { type: "string" },
      "budget-s": { type: "string" },
      merge: { type: "boolean", default: false },
      stage: { type: "string" },
      estimate: { type: "string" },
      "setup-s": { type: "string" },
      esrgan: { type: "string" },
      baselines: { type: "boolean", default: false },
    },
  });
}

/** Parses and checks the flags (exits 2 naming a bad one) and looks for the torch twin. */
async function readCommand(args: string[]): Promise<Command> {
  const { values, positionals } = parse(args);
  if (positionals.length > 0 && !values.merge) {
    console.error(
      `quality: expected no file arguments without --merge but received ${positionals.join(" ")}`,
    );
    Deno.exit(2);
  }
  if (values.merge && positionals.length === 0) {
    console.error("quality: expected the JSON files to merge after --merge but received none");
    Deno.exit(2);
  }
  const budgetSeconds = integerFlag("budget-s", values["budget-s"], 1);
  const earlyStop = values["early-stop"];
  const taskFlag = values.task ?? (earlyStop ? "denoise" : "all");
  const tasks: Task[] = taskFlag === "all" ? [...TASKS] : [taskFlag as Task];
  for (const t of tasks) {
    if (!TASKS.includes(t)) {
      console.error(`quality: expected --task denoise, sr, inpaint or all but received "${t}"`);
      Deno.exit(2);
    }
  }
  if (earlyStop && taskFlag !== "denoise") {
    console.error(
      `quality: expected --task denoise with --early-stop (issue 5 (b) is on the denoising images) ` +
        `but received "${taskFlag}"`,
    );
    Deno.exit(2);
  }
  const flags: FitFlags = {
    engine: values.engine,
    threads: integerFlag("threads", values.threads, 1),
    iterations: earlyStop ? undefined : integerFlag("iterations", values.iterations, 1),
    channels: integerFlag("channels", values.channels, 1),
  };
  const firstSeed = integerFlag("seed", values.seed, 0)!;
  const seedCount = integerFlag("seeds", values.seeds, 1) ?? (values.reduced ? REDUCED.seeds : 1);
  const seeds = Array.from({ length: seedCount }, (_, i) => firstSeed + i);
  const base = values.reduced ? EARLY_STOP.reduced : EARLY_STOP.full;
  const esSettings: EarlyStopSettings = {
    window: integerFlag("window", values.window, 1) ?? base.window,
    patience: integerFlag("patience", values.patience, 1) ?? base.patience,
    iterations: integerFlag("iterations", values.iterations, 1) ?? base.iterations,
    checkEvery: integerFlag("check-every", values["check-every"], 1) ?? base.checkEvery,
  };
  const useTorch = !earlyStop && (values.reduced ? !values["no-torch"] : values.torch === true);
  const python = useTorch ? await findTorchPython(values.python) : undefined;
  if (useTorch && !python) {
    console.error(
      "quality: no Python with PyTorch found (tried $DIPLINE_PYTHON, python3, /usr/bin/python3); " +
        "the torch column stays empty",
    );
  }
  const only = values.only ? new Set(values.only.split(",")) : undefined;
  return {
    values,
    positionals,
    taskFlag,
    tasks,
    earlyStop,
    budgetSeconds,
    flags,
    seeds,
    esSettings,
    python,
    only,
  };
}

/** `--merge`: one table (or report) over the slices' reports. */
async function mergeCommand(command: Command): Promise<void> {
  const reports = await Promise.all(command.positionals.map(readReport));
  const merged = mergeReports(reports);
  if (command.values.json) console.log(JSON.stringify(merged));
  else printTable(merged.rows, merged.reduced, merged.seeds.length, merged.setSizes);
}

/**
 * The selected images (`--only` also sets their order) and the size of every set; exits when the
 * data folder has no anchors.csv or `--only` names an unknown image.
 */
async function selectEntries(
  command: Command,
): Promise<{ entries: Entry[]; sizes: Record<string, number> }> {
  const { values, only } = command;
  try {
    await Deno.stat(join(values.data, FILES.anchors));
  } catch {
    console.error(
      `quality: expected the paper benchmarks (anchors.csv) under ${values.data}; pass --data DIR`,
    );
    Deno.exit(1);
  }
  const allEntries = await listEntries(values.data, command.tasks);
  const sizes = setSizes(allEntries);
  // --only also sets the order (a slice can start with its smallest image, see device_quality.sh).
  const order = [...(only ?? [])];
  const entries = allEntries.filter((e) => !only || only.has(e.name))
    .sort((a, b) => (only ? order.indexOf(a.name) - order.indexOf(b.name) : 0));
  if (only) {
    const unknown = [...only].filter((name) => !allEntries.some((e) => e.name === name));
    if (unknown.length > 0) {
      console.error(
        `quality: expected --only to name images of --task ${command.taskFlag} but received ` +
          `${unknown.join(", ")} (images: ${
            [...new Set(allEntries.map((e) => e.name))].join(",")
          })`,
      );
      Deno.exit(2);
    }
  }
  return { entries, sizes };
}

/** `--estimate MS`: the predicted times and slices; exits 2 on a bad MS. */
function estimateCommand(command: Command, items: readonly Item[]): void {
  const { values } = command;
  const msAt512 = Number(values.estimate);
  if (!(msAt512 > 0)) {
    console.error(
      `quality: expected a positive ms/step for --estimate but received "${values.estimate}"`,
    );
    Deno.exit(2);
  }
  printEstimate(items, values.reduced, command.flags, command.seeds, {
    msAt512,
    budgetS: command.budgetSeconds ?? DEVICE_BUDGET_S,
    setupS: Number(values["setup-s"] ?? DEFAULT_SETUP_S),
  });
}

/** `--early-stop`: the fits, then the JSON report or the table. */
async function earlyStopCommand(command: Command, items: Item[], run: RunSettings): Promise<void> {
  const { values, esSettings } = command;
  const jsonOut = values["json-out"];
  const rows = await runEarlyStop(items, run, esSettings);
  const report = {
    reduced: values.reduced,
    earlyStop: esSettings,
    seeds: command.seeds,
    rows,
    verdict: earlyStopVerdict(rows),
  };
  if (jsonOut) await Deno.writeTextFile(jsonOut, JSON.stringify(report) + "\n");
  if (values.json) console.log(JSON.stringify(report));
  else printEarlyStop(rows, esSettings);
}

/**
 * The comparison: the fits (the `--json-out` report rewritten after every image), then the JSON
 * report or the table, and the images left for a later run.
 */
async function comparisonCommand(
  command: Command,
  items: Item[],
  run: RunSettings,
  sizes: Readonly<Record<string, number>>,
): Promise<void> {
  const { values, seeds, flags } = command;
  const jsonOut = values["json-out"];
  const write = jsonOut
    ? (rows: Row[]) =>
      Deno.writeTextFile(
        jsonOut,
        JSON.stringify(makeReport(rows, values.reduced, seeds, sizes, flags.engine)) + "\n",
      )
    : undefined;
  const rows = await runComparison(items, run, write);
  const report = makeReport(rows, values.reduced, seeds, sizes, flags.engine);
  if (write) await write(rows);
  if (values.json) console.log(JSON.stringify(report));
  else printTable(rows, values.reduced, seeds.length, sizes);
  for (const slice of report.skipped) {
    console.error(
      `quality: not fitted, for a later run: --task ${slice.task} --only ${slice.only}`,
    );
  }
}

/** Runs bench/quality.ts with the command-line arguments `args`. */
export async function main(args: string[]): Promise<void> {
  const command = await readCommand(args);
  const { values } = command;
  if (values.merge) {
    await mergeCommand(command);
    Deno.exit(0);
  }
  const { entries, sizes } = await selectEntries(command);
  if (values.stage) {
    await stageFiles(values.data, values.stage, entries);
    Deno.exit(0);
  }
  const items = await loadItems(values.data, entries, values.reduced);
  if (values.estimate !== undefined) {
    estimateCommand(command, items);
    Deno.exit(0);
  }
  const scratch = await Deno.makeTempDir({ prefix: "dipline-quality-" });
  const run: RunSettings = {
    reduced: values.reduced,
    flags: command.flags,
    seeds: command.seeds,
    python: command.python,
    out: values.out,
    json: values.json,
    scratch,
    budget: new FitBudget(command.budgetSeconds),
    learned: learnedFlag(values.esrgan),
    baselinesOnly: values.baselines,
  };
  try {
    if (command.earlyStop) await earlyStopCommand(command, items, run);
    else await comparisonCommand(command, items, run, sizes);
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}
