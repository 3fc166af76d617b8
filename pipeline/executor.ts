/**
 * The executor: runs a compiled graph over every input of a source. It checks every output
 * target before the first input (writable, not an input), loads each input, runs the ops in
 * order, goes on past a failing input and lists the failures at the end, and reports
 * everything as {@link ProgressEvent}s. Outputs are written atomically by the save op.
 *
 * Resume is keyed on the recipe: after an input's outputs a small record (pipeline/records.ts)
 * notes the recipe's hash, the input's stamp and its scores; a rerun skips an input only when
 * its outputs exist and the record matches, and reports the recorded scores. Each input is
 * claimed with a lock file (pipeline/claims.ts) before it runs, so runs that share an output
 * folder split it between them instead of doing everything twice.
 *
 * @module
 */
import { createRunContext, type RunSchedule } from "./run_context.ts";
import { dirname, relative as relativePath, resolve, sep } from "node:path";
import type { Pipeline } from "./dsl.ts";
import { InputError } from "../core/errors.ts";
import { type CompiledGraph, graphOutputs } from "../core/graph.ts";
import { checkOutputTargets, realPathOf, removeStaleTemps } from "../image/save.ts";
import { type Claim, type LockOwner, newOwner, tryClaim } from "./claims.ts";
import {
  inputStamp,
  readRecord,
  recipeHash,
  removeRecord,
  staleReason,
  writeRecord,
} from "./records.ts";
import { type InputItem, parseShard, resolveSource, type Shard, takeShard } from "./sources.ts";
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
  /** Run inputs whose outputs are up to date and overwrite them; default false (resume). */
  readonly force?: boolean;
  /** Only this shard of the sorted inputs, e.g. `"1/4"` (0-based). */
  readonly shard?: Shard | string;
  /** Receives every progress event. */
  readonly onEvent?: (event: ProgressEvent) => void;
  /**
   * Cancels the running input (a fit stops at its next check) and stops the run when aborted;
   * the cancelled input is listed as interrupted, not failed.
   */
  readonly signal?: AbortSignal;
  /** Stops before the next input when aborted; the running input finishes. */
  readonly drain?: AbortSignal;
  /**
   * Claim each input with a lock file beside its first output, so concurrent runs over one
   * output folder split the inputs between them (default true).
   */
  readonly claims?: boolean;
  /**
   * Resume by the recipe: write a record beside each input's outputs and skip an input only
   * when its outputs exist and its record matches the recipe and the input (default true).
   * With false, existing outputs alone mean "done" (and nothing is written beside them).
   */
  readonly records?: boolean;
  /** Largest image `loadImage` accepts, in pixels; default `DEFAULT_MAX_PIXELS`. */
  readonly maxPixels?: number;
  /** Folder relative input specs are resolved against; default the working folder. */
  readonly cwd?: string;
  /** Engine for fits; wins over a recipe's hint (the run's schedule, not the recipe's). */
  readonly engine?: RunSchedule["engine"];
  /** Cpu engine worker threads. */
  readonly threads?: number;
  /** Fits trained at once (default: as many as memory allows). */
  readonly batch?: number;
  /** Reuse compiled trainers across inputs of the same size (default true). */
  readonly reuse?: boolean;
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
  /** Names of inputs this run did not run: up to date (`resumed`) or claimed by another run. */
  readonly skipped: readonly string[];
  /** Inputs that failed, and why. */
  readonly failed: readonly InputFailure[];
  /** Wall time of the whole run. */
  readonly ms: number;
  /** Up-to-date inputs with the scores their record holds (so averages cover them too). */
  readonly resumed: readonly InputResult[];
  /** Names of inputs run again although their outputs existed (recipe or input changed). */
  readonly redone: readonly string[];
  /** Inputs left to another live run that holds their lock, and who that is. */
  readonly claimed: readonly { readonly name: string; readonly owner: string }[];
  /** Inputs cancelled by the signal while they ran (a rerun redoes them). */
  readonly interrupted: readonly string[];
  /** Inputs not started because the run was stopped. */
  readonly notStarted: readonly string[];
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
 * folder when it lies inside the input folder (so outputs never become inputs of the next run;
 * real paths are compared, so a symbolic link changes nothing), then `options.shard` of them.
 * A file named directly is always taken.
 *
 * @throws {InputError} when the input does not exist or matches nothing, or when the output
 * folder is the input folder
 */
export async function collectInputs(
  input: string | readonly InputItem[],
  options: Pick<RunOptions, "outDir" | "shard" | "cwd"> = {},
): Promise<InputItem[]> {
  let kept: InputItem[];
  if (typeof input !== "string") kept = [...input];
  else {
    const source = await resolveSource(input, options.cwd);
    kept = source.items;
    if (source.kind !== "file") {
      const root = await realPathOf(source.root);
      const out = await realPathOf(resolve(options.cwd ?? Deno.cwd(), options.outDir ?? "out"));
      if (out === root) {
        throw new InputError(
          `the output folder is the input folder (${out}): outputs would be read as inputs; ` +
            "choose another --out, e.g. a sub-folder",
          { file: input },
        );
      }
      if (isInside(out, root)) {
        const reals = await Promise.all(kept.map((item) => realPathOf(item.path!)));
        kept = kept.filter((_, k) => !isInside(reals[k]!, out));
      }
    }
  }
  if (options.shard === undefined) return kept;
  return takeShard(
    kept,
    typeof options.shard === "string" ? parseShard(options.shard) : options.shard,
  );
}

/** Whether `path` lies strictly inside `folder` (both absolute, resolved). */
function isInside(path: string, folder: string): boolean {
  const rel = relativePath(folder, path);
  return rel !== "" && !rel.startsWith("..") && !rel.startsWith(sep) && !/^[A-Za-z]:/.test(rel);
}

/**
 * Runs `graph` over `items` in order: checks every output target first, skips inputs whose
 * outputs are up to date (unless forced), claims each input before it runs (unless
 * `claims: false`) and records each finished input's scores beside its outputs.
 *
 * @throws {InputError} before any work when two inputs would write the same output file, an
 * output would overwrite an input, or an output folder cannot be written
 */
export async function execute(
  graph: CompiledGraph,
  items: readonly InputItem[],
  options: RunOptions = {},
): Promise<RunSummary> {
  const started = performance.now();
  const outDir = options.outDir ?? "out";
  const emit = options.onEvent ?? (() => {});
  const force = options.force ?? false;
  const useClaims = options.claims ?? true;
  const useRecords = options.records ?? true;
  const outputsOf = items.map((item) => graphOutputs(graph, item.name, item.relative, outDir));
  checkCollisions(items, outputsOf);
  const allOutputs = outputsOf.flat();
  if (allOutputs.length > 0) {
    const inputs = items.flatMap((item) => (item.path === undefined ? [] : [item.path]));
    await checkOutputTargets(allOutputs, { inputs, format: false });
  }
  const recipe = await recipeHash(graph);
  const owner = newOwner();
  for (const folder of new Set(allOutputs.map((path) => dirname(path)))) {
    const removed = await removeStaleTemps(folder);
    if (removed.length > 0) {
      emit({
        type: "note",
        message: `removed ${removed.length} temp file(s) an interrupted run left in ${folder}`,
      });
    }
  }

  /** Why input k must run (undefined: it is up to date and `resumedResult` holds its record). */
  const upToDate = async (k: number): Promise<InputResult | string> => {
    const outputs = outputsOf[k]!;
    if (!await allExist(outputs)) return "";
    if (!useRecords) return { name: items[k]!.name, outputs, metrics: {}, timings: {}, info: {} };
    const record = await readRecord(outputs[0]!);
    const reason = staleReason(record, recipe, await inputStamp(items[k]!.path));
    if (reason !== undefined) return reason;
    const { metrics, info } = record!;
    return { name: items[k]!.name, outputs, metrics, timings: {}, info };
  };

  const pending: { k: number; reason?: string }[] = [];
  const resumed: InputResult[] = [];
  for (const [k, outputs] of outputsOf.entries()) {
    if (force || outputs.length === 0) {
      pending.push({ k });
      continue;
    }
    const state = await upToDate(k);
    if (typeof state === "string") pending.push({ k, reason: state || undefined });
    else resumed.push(state);
  }
  emit({ type: "start", total: items.length, skipped: resumed.length });
  for (const result of resumed) {
    emit({ type: "input-skipped", name: result.name, reason: "up to date" });
  }

  // An input that runs rewrites its outputs: they are missing, stale or forced.
  const runContext = createRunContext(options);
  const ctx: OpContext = { emit, signal: options.signal, outDir, overwrite: true, run: runContext };
  const done: InputResult[] = [];
  const failed: InputFailure[] = [];
  const redone: string[] = [];
  const interrupted: string[] = [];
  const claimed: { name: string; owner: string }[] = [];
  const deferred: { k: number; reason?: string; holder?: LockOwner }[] = [];
  const stopped = () => options.signal?.aborted || options.drain?.aborted;

  /** Claims and runs input k; returns the live owner when another run holds it. */
  const attempt = async (
    k: number,
    reason: string | undefined,
  ): Promise<{ holder: LockOwner | undefined } | undefined> => {
    const item = items[k]!;
    const outputs = outputsOf[k]!;
    let claim: Claim | undefined;
    if (useClaims && outputs.length > 0) {
      const result = await tryClaim(outputs[0]!, { owner });
      if ("heldBy" in result) return { holder: result.heldBy };
      claim = result.claim;
      if (result.tookOver) {
        emit({
          type: "note",
          message: `took over ${item.name} from a run that stopped (${
            describeOwner(result.tookOver)
          })`,
        });
      }
    }
    try {
      if (claim && !force) {
        // Another run may have finished it between the scan and the claim.
        const state = await upToDate(k);
        if (typeof state !== "string") {
          resumed.push(state);
          emit({ type: "input-skipped", name: item.name, reason: "finished by another run" });
          return undefined;
        }
        reason = state || reason;
      }
      if (useRecords && outputs.length > 0) await removeRecord(outputs[0]!);
      if (reason) redone.push(item.name);
      const t0 = performance.now();
      emit({ type: "input-start", name: item.name, index: k, ...(reason ? { reason } : {}) });
      try {
        const frame = await runOne(graph, item, ctx, options.maxPixels);
        const { metrics, timings, info } = frame.meta;
        if (useRecords && outputs.length > 0) {
          await writeRecord(outputs[0]!, {
            version: 1,
            recipe,
            input: await inputStamp(item.path),
            outputs: outputs.map((path) => relativePath(dirname(outputs[0]!), path)),
            metrics,
            info: jsonSafe(info),
            written: new Date().toISOString(),
          });
        }
        done.push({ name: item.name, outputs, metrics, timings, info });
        emit({
          type: "input-done",
          name: item.name,
          index: k,
          ms: performance.now() - t0,
          outputs,
        });
      } catch (error) {
        if (options.signal?.aborted) {
          interrupted.push(item.name);
          emit({ type: "input-interrupted", name: item.name });
        } else {
          const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
          failed.push({ name: item.name, file: item.path, error: message });
          emit({ type: "input-failed", name: item.name, error: message });
        }
      }
      return undefined;
    } finally {
      await claim?.release();
    }
  };

  let next = 0;
  for (; next < pending.length && !stopped(); next++) {
    const { k, reason } = pending[next]!;
    const held = await attempt(k, reason);
    if (held) deferred.push({ k, reason, holder: held.holder });
  }
  // A second look at inputs another run held: finished by now, or its owner died.
  for (const entry of deferred) {
    const held = stopped() ? { holder: entry.holder } : await attempt(entry.k, entry.reason);
    if (!held) continue;
    const name = items[entry.k]!.name;
    const who = held.holder ? describeOwner(held.holder) : "another run";
    claimed.push({ name, owner: who });
    emit({ type: "input-skipped", name, reason: `claimed by ${who}` });
  }
  runContext.dispose();
  const notStarted = pending.slice(next).map(({ k }) => items[k]!.name);
  const skipped = [...resumed.map((r) => r.name), ...claimed.map((c) => c.name)];
  const ms = performance.now() - started;
  emit({
    type: "done",
    done: done.length,
    failed: failed.length,
    skipped: skipped.length,
    ms,
    ...(interrupted.length > 0 ? { interrupted: interrupted.length } : {}),
  });
  return { done, skipped, failed, ms, resumed, redone, claimed, interrupted, notStarted };
}

function describeOwner(owner: LockOwner): string {
  return `${owner.host} pid ${owner.pid}`;
}

/** `info` as JSON keeps it (functions, cycles and the like dropped). */
function jsonSafe(info: Readonly<Record<string, unknown>>): Record<string, unknown> {
  try {
    return JSON.parse(JSON.stringify(info));
  } catch {
    return {};
  }
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
