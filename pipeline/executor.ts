/**
 * The executor: runs a compiled graph over every input of a source. It loads each input, runs
 * the ops in order, skips inputs whose outputs all exist (resume) unless forced, goes on past
 * a failing input and lists the failures at the end, and reports everything as
 * {@link ProgressEvent}s. Outputs are written atomically by the save op.
 *
 * @module
 */
import { resolve, sep } from "node:path";
import type { Pipeline } from "./dsl.ts";
import { InputError } from "../core/errors.ts";
import { type CompiledGraph, graphOutputs } from "../core/graph.ts";
import { type InputItem, parseShard, resolveInputs, type Shard, takeShard } from "./sources.ts";
import type { Frame, OpContext, ProgressEvent } from "../core/types.ts";

/** Options of a run. */
export interface RunOptions {
  /**
   * A file, glob or folder, or items already made; default: the recipe's own input. Files under
   * `outDir` are left out, so outputs never become inputs of the next run.
   */
  readonly input?: string | readonly InputItem[];
  /** Folder outputs are resolved against; default `"out"`. */
  readonly outDir?: string;
  /** Run inputs whose outputs exist and overwrite them; default false (resume). */
  readonly force?: boolean;
  /** Only this shard of the sorted inputs, e.g. `"1/4"` (0-based). */
  readonly shard?: Shard | string;
  /** Receives every progress event. */
  readonly onEvent?: (event: ProgressEvent) => void;
  /** Stops before the next input (and cancels a running fit) when aborted. */
  readonly signal?: AbortSignal;
  /** Largest image `loadImage` accepts, in pixels; default `DEFAULT_MAX_PIXELS`. */
  readonly maxPixels?: number;
  /** Folder relative input specs are resolved against; default the working folder. */
  readonly cwd?: string;
}

/** What one input produced. */
export interface InputResult {
  /** The input's name (file name without folder and extension). */
  readonly name: string;
  /** Output files (all of them, written now or kept from before). */
  readonly outputs: readonly string[];
  /** Scores the ops computed, e.g. `{ "noisy.psnr": 20.8 }`. */
  readonly metrics: Readonly<Record<string, number>>;
  /** Milliseconds per op kind. */
  readonly timings: Readonly<Record<string, number>>;
  /** What ops reported besides scores (a fit's engine, steps, stop step, …). */
  readonly info: Readonly<Record<string, unknown>>;
}

/** An input that failed, and why (one line that names the file). */
export interface InputFailure {
  /** The input's name. */
  readonly name: string;
  /** The input's file, when it came from one. */
  readonly file?: string;
  /** The reason, one line that names the file (or the input) and the failing op. */
  readonly error: string;
}

/** The outcome of a run; `failed` is non-empty when some input failed. */
export interface RunSummary {
  /** Inputs that ran to the end, in input order. */
  readonly done: readonly InputResult[];
  /** Names of inputs skipped because all their outputs existed. */
  readonly skipped: readonly string[];
  /** Inputs that failed, and why. */
  readonly failed: readonly InputFailure[];
  /** Wall time of the whole run. */
  readonly ms: number;
}

/**
 * Compiles `recipe` (so a wrong recipe fails before any input is touched), resolves its input
 * and runs it.
 *
 * @throws {RecipeError} when the recipe is wrong
 * @throws {InputError} when there is no input, the input does not exist or matches nothing
 */
export async function runPipeline(recipe: Pipeline, options: RunOptions = {}): Promise<RunSummary> {
  const graph = recipe.compile();
  const input = options.input ?? recipe.defaultInput;
  if (input === undefined) {
    throw new InputError(
      "No input: pass one to run() (or --input) or set one with .input() in the recipe",
    );
  }
  const items = await collectInputs(input, options);
  return await execute(graph, items, options);
}

/**
 * The inputs a run takes: `input` resolved (a file, glob or folder), less files under the output
 * folder (so outputs never become inputs of the next run), then `options.shard` of them.
 *
 * @throws {InputError} when the input does not exist or matches nothing
 */
export async function collectInputs(
  input: string | readonly InputItem[],
  options: Pick<RunOptions, "outDir" | "shard" | "cwd"> = {},
): Promise<InputItem[]> {
  const items = typeof input === "string" ? await resolveInputs(input, options.cwd) : [...input];
  const outDir = resolve(options.outDir ?? "out") + sep;
  const kept = items.filter((item) => item.path === undefined || !item.path.startsWith(outDir));
  if (options.shard === undefined) return kept;
  return takeShard(
    kept,
    typeof options.shard === "string" ? parseShard(options.shard) : options.shard,
  );
}

/**
 * Runs `graph` over `items` in order.
 *
 * @throws {InputError} before any work when two inputs would write the same output file
 */
export async function execute(
  graph: CompiledGraph,
  items: readonly InputItem[],
  options: RunOptions = {},
): Promise<RunSummary> {
  const started = performance.now();
  const outDir = options.outDir ?? "out";
  const emit = options.onEvent ?? (() => {});
  const outputsOf = items.map((item) => graphOutputs(graph, item.name, item.relative, outDir));
  checkCollisions(items, outputsOf);

  const pending: number[] = [];
  const skipped: string[] = [];
  for (const [k, outputs] of outputsOf.entries()) {
    if (!options.force && outputs.length > 0 && (await allExist(outputs))) {
      skipped.push(items[k]!.name);
    } else pending.push(k);
  }
  emit({ type: "start", total: items.length, skipped: skipped.length });
  for (const name of skipped) emit({ type: "input-skipped", name, reason: "outputs exist" });

  const ctx: OpContext = {
    emit,
    signal: options.signal,
    outDir,
    overwrite: options.force ?? false,
  };
  const done: InputResult[] = [];
  const failed: InputFailure[] = [];
  for (const k of pending) {
    if (options.signal?.aborted) break;
    const item = items[k]!;
    const t0 = performance.now();
    emit({ type: "input-start", name: item.name, index: k });
    try {
      const frame = await runOne(graph, item, ctx, options.maxPixels);
      const outputs = outputsOf[k]!;
      const { metrics, timings, info } = frame.meta;
      done.push({ name: item.name, outputs, metrics, timings, info });
      emit({ type: "input-done", name: item.name, index: k, ms: performance.now() - t0, outputs });
    } catch (error) {
      const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
      failed.push({ name: item.name, file: item.path, error: message });
      emit({ type: "input-failed", name: item.name, error: message });
    }
  }
  const ms = performance.now() - started;
  emit({ type: "done", done: done.length, failed: failed.length, skipped: skipped.length, ms });
  return { done, skipped, failed, ms };
}

async function runOne(
  graph: CompiledGraph,
  item: InputItem,
  ctx: OpContext,
  maxPixels: number | undefined,
): Promise<Frame> {
  const image = await item.load({ maxPixels });
  let frame: Frame = {
    slots: { image },
    meta: {
      name: item.name,
      source: item.path,
      relative: item.relative,
      metrics: {},
      timings: {},
      info: {},
    },
  };
  for (const [i, { op }] of graph.nodes.entries()) {
    const t0 = performance.now();
    try {
      frame = await op.run(frame, ctx);
    } catch (error) {
      if (error instanceof InputError && error.file !== undefined) throw error; // names its file
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`${item.path ?? item.name}: op #${i + 1} ${op.kind} failed: ${message}`, {
        cause: error,
      });
    }
    const ms = performance.now() - t0;
    const timings = { ...frame.meta.timings, [op.kind]: (frame.meta.timings[op.kind] ?? 0) + ms };
    frame = { ...frame, meta: { ...frame.meta, timings } };
    ctx.emit({ type: "op", name: item.name, op: op.kind, ms });
  }
  return frame;
}

function checkCollisions(items: readonly InputItem[], outputsOf: readonly string[][]): void {
  const writer = new Map<string, InputItem>();
  for (const [k, outputs] of outputsOf.entries()) {
    const item = items[k]!;
    for (const file of outputs) {
      const other = writer.get(file);
      if (other) {
        throw new InputError(
          `${other.relative ?? other.name} and ${
            item.relative ?? item.name
          } would both write ${file}; ` +
            "add {dir} to the save pattern",
        );
      }
      writer.set(file, item);
    }
  }
}

async function allExist(paths: readonly string[]): Promise<boolean> {
  for (const path of paths) {
    try {
      await Deno.stat(path);
    } catch {
      return false;
    }
  }
  return true;
}
