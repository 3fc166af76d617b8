/**
 * `dipline run <recipe.ts|recipe.json>`: runs a recipe (a module whose default export is a
 * pipeline, or a recipe's JSON document) over a file, glob or folder, with resume, sharding,
 * progress and a failure list at the end. `--engine`, `--threads` and `--batch` are the run's
 * schedule: how fits run, never what they compute.
 *
 * @module
 */
import type { EstimableOp } from "../core/graph.ts";
import type { Pipeline } from "../pipeline/dsl.ts";
import { ENGINES } from "../dip/options.ts";
import { detectEngine } from "../engine/mod.ts";
import { loadRecipe } from "../pipeline/recipe.ts";
import { collectInputs, runPipeline, type RunSummary } from "../pipeline/executor.ts";
import { jsonLinesReporter, terminalReporter } from "../pipeline/progress.ts";
import { writeRunRecords, writeRunReport } from "../pipeline/run_report.ts";
import { parseShard } from "../pipeline/sources.ts";
import { runOnQueue } from "./run_queue.ts";
import type { ProgressEvent } from "../core/types.ts";
import {
  type Command,
  EXIT,
  expectPositionals,
  maxPixelsFlag,
  parseFlags,
  printLine,
  UsageError,
} from "./common.ts";

/** The `run` subcommand. */
export const command: Command = {
  name: "run",
  summary: "Run a recipe over a file, glob or folder",
  usage: `Usage: dipline run <recipe.ts|recipe.json> [options]

Runs the pipeline a recipe file default-exports (or a recipe's JSON document, see
\`dipline recipe\`) over every input, writing its outputs under
--out. Inputs whose outputs all exist are skipped (resume) unless --force. A failing input is
reported and the run goes on; the exit code is 1 if any input failed. Each input's scores
(from metrics()) are printed on stdout, one line per input, then their means.

Every output target is checked before the first input runs. Resume is keyed on the recipe: a
record beside each input's outputs holds the recipe's hash, the input's size and time and its
scores; an input is skipped only when that record matches (and still reports its scores), so
a changed recipe or input is redone. Runs that share an output folder (processes, or hosts on
a shared filesystem) split it: each input is claimed with a lock file beside its first output
and inputs another live run holds are left to it.

Options:
  --input PATH    a file, a glob ("photos/**/*.png") or a folder (recursive); default: the
                  recipe's own .input(). An existing path is always literal, even with
                  [ * ? in its name; glob:PATTERN forces a glob
  --out DIR       output folder (default: out); not the input folder itself
  --shard i/n     only inputs k with k mod n = i of the sorted list (0-based: 0/4 … 3/4);
                  auto: this Kubernetes Indexed Job pod's or Slurm array task's share
  --force         run every input and overwrite existing outputs
  --json          print progress events as JSON lines on stdout, then one line
                  {"type":"summary","done":[…],"resumed":[…],"failed":[…],…}
                  with each input's metrics and outputs
  --dry-run       print the inputs and the compiled op graph, run nothing
  --max-pixels N  refuse inputs above N pixels (default 40000000)
  --report FILE   write one self-contained HTML report of the run: settings, a summary
                  sorted by PSNR gain, failures, and per input thumbnails, scores and the
                  fit's curves with the early-stopping and best steps marked
  --record        write each fit's run record (loss, PSNRs, variance, events at every
                  check) as <first output>.record.json beside its outputs

How fits run (the run's choice; a recipe's engine is only a hint):
  --engine E      ${ENGINES.join(" | ")} (default: the recipe's hint, else auto)
  --threads N     cpu engine worker threads
  --batch N       fits trained at once by average() (default: as many as memory allows)

Many hosts (a shared Redis queue; \`dipline worker\` runs on each GPU host):
  --queue URL     enqueue one job per input on redis://HOST:PORT as one batch and follow
                  its progress; free workers take the next input, so hosts share the folder
                  by speed (not with --shard or --report)
  --data DIR      the shared data folder that holds --input and --out (default: the one the
                  queue was first used with, if it is at the same path here)
  --detach        enqueue, print the batch id and return

Ctrl-C or SIGTERM: the running input finishes, then the run stops and prints its summary; a
second one cancels the running input (listed as interrupted, a rerun redoes it) and prints
the summary; a third quits at once. The exit code is then 130 (SIGINT) or 143 (SIGTERM).

Example:
  deno run -A cli.ts run examples/degrade-noise.ts --input photos/ --out out/noisy`,
  async run(args) {
    const { values, positionals } = parseFlags(command, args, {
      input: { type: "string" },
      out: { type: "string", default: "out" },
      shard: { type: "string" },
      force: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      report: { type: "string" },
      record: { type: "boolean", default: false },
      "dry-run": { type: "boolean", default: false },
      "max-pixels": { type: "string" },
      engine: { type: "string" },
      threads: { type: "string" },
      batch: { type: "string" },
      queue: { type: "string" },
      data: { type: "string" },
      detach: { type: "boolean", default: false },
    });
    const schedule = scheduleFlags(values);
    const [recipePath] = expectPositionals(command, positionals, ["recipe.ts"]);
    let shard;
    try {
      shard = values.shard === undefined ? undefined : parseShard(values.shard);
    } catch (error) {
      throw new UsageError(`run: ${(error as Error).message}`);
    }
    const maxPixels = maxPixelsFlag(command, values["max-pixels"]);
    const recipe = await loadRecipe(recipePath!);
    recipe.compile(); // a wrong recipe fails here, before the input is looked at
    const input = values.input ?? recipe.defaultInput;
    if (input === undefined) {
      throw new UsageError("run: no input; pass --input or set one in the recipe with .input()");
    }
    if (values.queue !== undefined) {
      if (shard !== undefined || values.report !== undefined) {
        throw new UsageError(
          "run: --queue shares the inputs out itself; drop --shard and --report",
        );
      }
      return await runOnQueue(recipe, recipePath!, input, {
        queue: values.queue,
        data: values.data,
        out: values.out,
        force: values.force,
        json: values.json,
        dryRun: values["dry-run"],
        detach: values.detach,
        schedule,
      });
    }
    if (values["dry-run"]) {
      const mine = await collectInputs(input, { outDir: values.out, shard });
      const shown = mine.slice(0, 10).map((item) => `  ${item.relative ?? item.name}`);
      if (mine.length > shown.length) shown.push(`  … ${mine.length - shown.length} more`);
      const part = shard ? `, shard ${shard.index}/${shard.count}` : "";
      printLine(
        `recipe: ${recipePath}\ninput: ${input} (${mine.length} file${
          mine.length === 1 ? "" : "s"
        }${part})\n${shown.join("\n")}`,
      );
      const first = await mine[0]?.load({ maxPixels }).catch(() => undefined);
      const engine = schedule.engine === undefined || schedule.engine === "auto"
        ? `auto → ${await detectEngine()}`
        : schedule.engine;
      printLine(recipe.explain(values.out, { input: first, engine }));
      if (first) {
        // A short calibration of every fit on the engine that will run it.
        for (const { op } of recipe.compile().nodes) {
          const estimate = (op as Partial<EstimableOp>).estimate;
          if (estimate) printLine(`${op.kind}: ${await estimate.call(op, first, schedule)}`);
        }
      }
      return EXIT.ok;
    }
    // SIGINT/SIGTERM: first finish the current input, second cancel it, third quit.
    const stop = stopOnSignals();
    const controller = stop.cancel;
    let summary;
    try {
      summary = await runPipeline(recipe, {
        input,
        outDir: values.out,
        force: values.force,
        shard,
        maxPixels,
        ...schedule,
        signal: controller.signal,
        onEvent: reporter(values.json),
        drain: stop.drain,
      });
    } finally {
      stop.dispose();
    }
    if (values.json) {
      printLine(JSON.stringify({ type: "summary", ...summary }));
    } else printSummary(summary);
    if (values.record) {
      const written = await writeRunRecords(summary, values.out);
      console.error(`records: ${written.length} written beside the outputs`);
    }
    if (values.report !== undefined) {
      const bytes = await writeRunReport({
        path: values.report,
        summary,
        recipe,
        inputs: await collectInputs(input, { outDir: values.out, shard }).catch(() => []),
        settings: { recipe: recipePath, input, output: values.out, ...schedule },
      });
      console.error(`report: ${values.report} (${(bytes / 1024).toFixed(0)} KiB)`);
    }
    if (stop.received !== undefined) return stop.received === "SIGTERM" ? 143 : 130;
    return summary.failed.length > 0 ? EXIT.input : EXIT.ok;
  },
};

/** What {@link stopOnSignals} hands the run. */
interface SignalStop {
  /** Aborted by the first signal: stop before the next input. */
  readonly drain: AbortSignal;
  /** Aborts `signal` on the second signal: cancel the running input. */
  readonly cancel: AbortController;
  /** The first signal received, if any. */
  readonly received: Deno.Signal | undefined;
  /** Removes the listeners. */
  dispose(): void;
}

/**
 * SIGINT and SIGTERM alike: the first lets the running input finish and stops, the second
 * cancels it, the third exits at once; each says so on stderr.
 */
function stopOnSignals(): SignalStop {
  const drain = new AbortController();
  const cancel = new AbortController();
  let received: Deno.Signal | undefined;
  let count = 0;
  const listeners: [Deno.Signal, () => void][] = [];
  for (const name of ["SIGINT", "SIGTERM"] as const) {
    const listener = () => {
      received ??= name;
      count++;
      if (count === 1) {
        drain.abort();
        console.error(`\n${name}: finishing the current input, then stopping (again: cancel it)`);
      } else if (count === 2) {
        cancel.abort(new Error(`cancelled by ${name}`));
        console.error(`\n${name}: cancelling the current input (again: quit at once)`);
      } else {
        console.error(`\n${name}: quitting now`);
        Deno.exit(name === "SIGTERM" ? 143 : 130);
      }
    };
    try {
      Deno.addSignalListener(name, listener);
      listeners.push([name, listener]);
    } catch { /* SIGTERM cannot be listened to on Windows */ }
  }
  return {
    drain: drain.signal,
    cancel,
    get received() {
      return received;
    },
    dispose() {
      for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
    },
  };
}

/** Scores per input (run now or up to date), their means, the counts and the failures. */
function printSummary(summary: RunSummary): void {
  const results = [...summary.done, ...summary.resumed];
  const sums = new Map<string, { total: number; count: number }>();
  for (const result of results) {
    const scores = Object.entries(result.metrics).map(([key, value]) =>
      `${key} ${formatScore(value)}`
    );
    if (scores.length > 0) printLine(`${result.name}: ${scores.join(" · ")}`);
    for (const [key, value] of Object.entries(result.metrics)) {
      if (!Number.isFinite(value)) continue;
      const sum = sums.get(key) ?? { total: 0, count: 0 };
      sums.set(key, { total: sum.total + value, count: sum.count + 1 });
    }
  }
  if (results.length > 1 && sums.size > 0) {
    const means = [...sums].map(([key, { total, count }]) =>
      `${key} ${formatScore(total / count)}${count < results.length ? ` (of ${count})` : ""}`
    );
    printLine(`mean of ${results.length}: ${means.join(" · ")}`);
  }
  const { resumed, claimed, redone, interrupted, notStarted, failed } = summary;
  const parts = [
    `${summary.done.length} done`,
    `${summary.skipped.length} skipped` +
    (claimed.length > 0
      ? ` (${resumed.length} up to date, ${claimed.length} claimed by other runs)`
      : ""),
    `${failed.length} failed`,
  ];
  if (redone.length > 0) parts.push(`${redone.length} redone (recipe or input changed)`);
  if (interrupted.length > 0) parts.push(`${interrupted.length} interrupted`);
  if (notStarted.length > 0) parts.push(`${notStarted.length} not started`);
  console.error(parts.join(", "));
  if (failed.length > 0) {
    console.error("Failed:");
    for (const failure of failed) console.error(`  ${failure.error}`);
  }
  if (interrupted.length > 0) {
    console.error(`Interrupted (a rerun redoes them): ${interrupted.join(", ")}`);
  }
}

function formatScore(value: number): string {
  return Number.isFinite(value) ? value.toFixed(4) : String(value);
}

/** Loads a recipe file (`.ts` default export, or `.json`): pipeline/recipe.ts loadRecipe. */
export function importRecipe(path: string): Promise<Pipeline> {
  return loadRecipe(path);
}

/** `--engine`, `--threads`, `--batch`: the run's schedule. */
function scheduleFlags(
  values: { engine?: string; threads?: string; batch?: string },
): { engine?: (typeof ENGINES)[number]; threads?: number; batch?: number } {
  const engine = values.engine;
  if (engine !== undefined && !(ENGINES as readonly string[]).includes(engine)) {
    throw new UsageError(
      `run: Expected one of ${ENGINES.join(", ")} for --engine but received "${engine}"`,
    );
  }
  const count = (flag: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) {
      throw new UsageError(`run: Expected integer ≥ 1 for --${flag} but received "${text}"`);
    }
    return n;
  };
  return {
    ...(engine === undefined ? {} : { engine: engine as (typeof ENGINES)[number] }),
    ...(values.threads === undefined ? {} : { threads: count("threads", values.threads) }),
    ...(values.batch === undefined ? {} : { batch: count("batch", values.batch) }),
  };
}

function reporter(json: boolean): ((event: ProgressEvent) => void) | undefined {
  if (json) return jsonLinesReporter();
  if (Deno.stderr.isTerminal()) return terminalReporter();
  return undefined;
}
