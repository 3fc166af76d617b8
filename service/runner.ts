/**
 * The job processor: runs a queued job's recipe over its inputs with the executor, writes the
 * outputs (atomically, by the save op) under the job's folder, and turns the executor's events
 * into the job's progress and event stream.
 *
 * Idempotent, as at-least-once delivery needs: a job run again after a crash skips the inputs
 * whose outputs and records are up to date (the executor also removes temporary files a killed
 * write left behind, and never shows a partial file under an output's name).
 * A wrong recipe fails the job at once; failing inputs fail the attempt, and the next attempt
 * runs only those.
 *
 * @module
 */
import { join, relative, sep } from "node:path";
import type { ProgressEvent } from "../core/types.ts";
import { execute, type RunOptions } from "../pipeline/executor.ts";
import { fileInput, type InputItem } from "../pipeline/sources.ts";
import { ApiError } from "./errors.ts";
import { foldProgress, initialProgress, type JobData, type JobProgress } from "./jobs.ts";
import { resolveFileUnder } from "./paths.ts";
import { type Processor, UnrecoverableError } from "./queue.ts";
import { type RecipeCodec, withSeed } from "./recipes.ts";

/** The folders of a job under `--data`. */
export function jobFolders(dataDir: string, id: string) {
  const dir = join(dataDir, "jobs", id);
  return { dir, inputs: join(dir, "inputs"), outputs: join(dir, "outputs") };
}

/** What the processor needs from the server. */
export interface RunnerOptions {
  /** The server's data folder (a real path). */
  readonly dataDir: string;
  /** `--root` (a real path), when inputs may be named by path. */
  readonly root?: string;
  readonly codec: RecipeCodec;
  /** Largest image in pixels. */
  readonly maxPixels: number;
  /** Least milliseconds between two stored fit events (and progress writes) of one job. */
  readonly progressIntervalMs?: number;
}

/**
 * Replaces server paths in a message by what the client knows: the upload's name or the path
 * under `--root`.
 */
export function redactPaths(message: string, folders: readonly string[]): string {
  let out = message;
  for (const folder of folders) out = out.split(folder + sep).join("").split(folder).join(".");
  return out;
}

/** The processor of restoration jobs. */
export function restorationProcessor(
  options: RunnerOptions,
): Processor<JobData, JobProgress> {
  const interval = options.progressIntervalMs ?? 200;
  return async (job, ctx) => {
    const folders = jobFolders(options.dataDir, job.id);
    const redact = (text: string) =>
      redactPaths(text, [folders.inputs, folders.outputs, options.root ?? folders.dir]);

    let graph;
    try {
      graph = options.codec.fromJSON(withSeed(job.data.recipe, job.data.runOptions.seed))
        .compile();
    } catch (error) {
      throw new UnrecoverableError(`invalid recipe: ${(error as Error).message}`);
    }
    const items: InputItem[] = [];
    for (const input of job.data.inputs) {
      if (input.source === "upload") {
        items.push(fileInput(join(folders.inputs, input.file), folders.inputs));
        continue;
      }
      if (options.root === undefined) {
        throw new UnrecoverableError("the job names inputs by path but the server has no --root");
      }
      try {
        const real = await resolveFileUnder(options.root, input.file, "input");
        items.push({ ...fileInput(real, options.root), name: input.name });
      } catch (error) {
        const message = error instanceof ApiError ? error.message : String(error);
        throw new UnrecoverableError(message);
      }
    }

    let progress = initialProgress(job.data.inputs);
    const relativize = (path: string) => relative(folders.outputs, path).split(sep).join("/");
    let storedAt = 0;
    let lastFit: ProgressEvent | undefined;
    let fitShownFor: string | undefined;
    const store = (force: boolean) => {
      const now = performance.now();
      if (!force && now - storedAt < interval) return false;
      storedAt = now;
      ctx.progress(progress);
      return true;
    };
    const onEvent = (event: ProgressEvent) => {
      // Messages may name server folders (an input's path, a temp file): the client sees none.
      const shown = Object.fromEntries(
        Object.entries(event).map(([key, value]) => [
          key,
          typeof value === "string" ? redact(value) : value,
        ]),
      ) as ProgressEvent;
      const fromOutputs = event.type === "input-done"
        ? { ...shown, outputs: event.outputs.map(relativize) }
        : shown;
      progress = foldProgress(progress, shown as ProgressEvent, relativize);
      if (event.type === "fit") {
        // Fits report every few steps; the stream and the store get an input's first report at
        // once (the fit has started), then at most one per interval.
        lastFit = fromOutputs;
        const first = fitShownFor !== event.name;
        fitShownFor = event.name;
        if (store(first)) {
          ctx.emit(event.type, fromOutputs);
          lastFit = undefined;
        }
        return;
      }
      if (lastFit !== undefined && event.type === "input-done") ctx.emit(lastFit.type, lastFit);
      lastFit = undefined;
      ctx.emit(event.type, fromOutputs);
      store(true);
    };

    const runOptions: RunOptions = {
      outDir: folders.outputs,
      signal: ctx.signal,
      onEvent,
      maxPixels: options.maxPixels,
      engine: job.data.runOptions.engine,
    };
    const summary = await execute(graph, items, runOptions);
    const results = new Map([...summary.done, ...summary.resumed].map((r) => [r.name, r]));
    let engine: string | undefined;
    let adapter: string | undefined;
    progress = {
      ...progress,
      inputs: progress.inputs.map((input) => {
        const result = results.get(input.name);
        if (result === undefined) return input;
        if (typeof result.info.engine === "string") engine = result.info.engine;
        if (typeof result.info.adapter === "string") adapter = result.info.adapter;
        return {
          ...input,
          metrics: result.metrics,
          timings: result.timings,
          outputs: result.outputs.map(relativize),
        };
      }),
    };
    progress = {
      ...progress,
      engine: engine ?? progress.engine,
      adapter: adapter ?? progress.adapter,
    };
    ctx.progress(progress);
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (summary.failed.length > 0) {
      const first = summary.failed[0]!;
      throw new Error(
        `${summary.failed.length} of ${items.length} inputs failed; ${first.name}: ${
          redact(first.error)
        }`,
      );
    }
    return progress;
  };
}
