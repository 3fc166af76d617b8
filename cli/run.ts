/**
 * `dipline run <recipe.ts>`: runs a recipe (a module whose default export is a pipeline) over a
 * file, glob or folder, with resume, sharding, progress and a failure list at the end.
 *
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { isPipeline, type Pipeline } from "../pipeline/dsl.ts";
import { InputError } from "../core/errors.ts";
import { collectInputs, runPipeline } from "../pipeline/executor.ts";
import { jsonLinesReporter, terminalReporter } from "../pipeline/progress.ts";
import { parseShard } from "../pipeline/sources.ts";
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
  usage: `Usage: dipline run <recipe.ts> [options]

Runs the pipeline a recipe file default-exports over every input, writing its outputs under
--out. Inputs whose outputs all exist are skipped (resume) unless --force. A failing input is
reported and the run goes on; the exit code is 1 if any input failed. Each input's scores
(from metrics()) are printed on stdout, one line per input.

Options:
  --input PATH    a file, a glob ("photos/**/*.png") or a folder (recursive); default: the
                  recipe's own .input()
  --out DIR       output folder (default: out)
  --shard i/n     only inputs k with k mod n = i of the sorted list (0-based: 0/4 … 3/4)
  --force         run every input and overwrite existing outputs
  --json          print progress events as JSON lines on stdout, then one line
                  {"type":"summary","done":[…],"skipped":[…],"failed":[…],"ms":…}
                  with each input's metrics and outputs
  --dry-run       print the inputs and the compiled op graph, run nothing
  --max-pixels N  refuse inputs above N pixels (default 40000000)

Ctrl-C stops after the current input (a running fit is cancelled); a second Ctrl-C quits.

Example:
  deno run -A cli.ts run examples/degrade-noise.ts --input photos/ --out out/noisy`,
  async run(args) {
    const { values, positionals } = parseFlags(command, args, {
      input: { type: "string" },
      out: { type: "string", default: "out" },
      shard: { type: "string" },
      force: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      "dry-run": { type: "boolean", default: false },
      "max-pixels": { type: "string" },
    });
    const [recipePath] = expectPositionals(command, positionals, ["recipe.ts"]);
    let shard;
    try {
      shard = values.shard === undefined ? undefined : parseShard(values.shard);
    } catch (error) {
      throw new UsageError(`run: ${(error as Error).message}`);
    }
    const maxPixels = maxPixelsFlag(command, values["max-pixels"]);
    const recipe = await importRecipe(recipePath!);
    recipe.compile(); // a wrong recipe fails here, before the input is looked at
    const input = values.input ?? recipe.defaultInput;
    if (input === undefined) {
      throw new UsageError("run: no input; pass --input or set one in the recipe with .input()");
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
      printLine(recipe.explain(values.out));
      return EXIT.ok;
    }
    // First Ctrl-C: stop after the current input (a running fit is cancelled); second: quit.
    const controller = new AbortController();
    const interrupt = () => {
      if (controller.signal.aborted) Deno.exit(130);
      controller.abort();
      console.error("\nStopping after the current input (Ctrl-C again to quit now)");
    };
    Deno.addSignalListener("SIGINT", interrupt);
    let summary;
    try {
      summary = await runPipeline(recipe, {
        input,
        outDir: values.out,
        force: values.force,
        shard,
        maxPixels,
        signal: controller.signal,
        onEvent: reporter(values.json),
      });
    } finally {
      Deno.removeSignalListener("SIGINT", interrupt);
    }
    if (values.json) {
      printLine(JSON.stringify({ type: "summary", ...summary }));
    } else {
      for (const result of summary.done) {
        const scores = Object.entries(result.metrics).map(([key, value]) =>
          `${key} ${formatScore(value)}`
        );
        if (scores.length > 0) printLine(`${result.name}: ${scores.join(" · ")}`);
      }
      console.error(
        `${summary.done.length} done, ${summary.skipped.length} skipped, ${summary.failed.length} failed`,
      );
      if (summary.failed.length > 0) {
        console.error("Failed:");
        for (const failure of summary.failed) console.error(`  ${failure.error}`);
      }
    }
    if (controller.signal.aborted) return 130;
    return summary.failed.length > 0 ? EXIT.input : EXIT.ok;
  },
};

function formatScore(value: number): string {
  return Number.isFinite(value) ? value.toFixed(4) : String(value);
}

/** Imports a recipe module and returns its default-exported pipeline. */
export async function importRecipe(path: string): Promise<Pipeline> {
  const url = pathToFileURL(resolve(path)).href;
  try {
    await Deno.stat(resolve(path));
  } catch {
    throw new InputError("no such recipe file", { file: path });
  }
  const module = await import(url);
  if (!isPipeline(module.default)) {
    throw new InputError(
      "Expected a recipe whose default export is a pipeline() but it exports none",
      { file: path },
    );
  }
  return module.default;
}

function reporter(json: boolean): ((event: ProgressEvent) => void) | undefined {
  if (json) return jsonLinesReporter();
  if (Deno.stderr.isTerminal()) return terminalReporter();
  return undefined;
}
