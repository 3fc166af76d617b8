/**
 * A restoration job as the service stores and shows it: what is queued ({@link JobData}), the
 * progress folded from the executor's events ({@link JobProgress}), and the public view the API
 * answers with ({@link jobView}).
 *
 * @module
 */
import type { z } from "zod";
import type { ProgressEvent } from "../core/types.ts";
import type { Job } from "./queue.ts";
import type { JobViewSchema, RunOptionsSchema } from "./schemas.ts";

/** One input of a job: an uploaded file (in the job's folder) or a path under `--root`. */
export interface JobInput {
  /** The name outputs are named after (file name without extension). */
  readonly name: string;
  readonly source: "upload" | "path";
  /** Upload: the file name in the job's `inputs/` folder; path: the path relative to `--root`. */
  readonly file: string;
}

/** How to run, not what (the recipe says what). */
export type JobRunOptions = z.output<typeof RunOptionsSchema>;

/** What the queue holds for a job: all JSON. */
export interface JobData {
  /** The recipe document (JSON recipe, validated at submit time). */
  readonly recipe: unknown;
  /** The recipe file's name when the job named one in `--recipes`. */
  readonly recipeName?: string;
  readonly inputs: readonly JobInput[];
  readonly runOptions: JobRunOptions;
  /** Called with the job when it ends. */
  readonly webhook?: string;
}

/** Where one input of a job is. */
export type InputStatus = "pending" | "running" | "done" | "skipped" | "failed";

/** One input's outcome. */
export interface InputOutcome {
  readonly name: string;
  readonly status: InputStatus;
  /** Output files, relative to the job's output folder. */
  readonly outputs: readonly string[];
  readonly metrics: Readonly<Record<string, number>>;
  /** Milliseconds per op kind. */
  readonly timings: Readonly<Record<string, number>>;
  /** Milliseconds the input took. */
  readonly ms?: number;
  readonly error?: string;
}

/** A job's progress and per-input results, updated as the executor reports. */
export interface JobProgress {
  readonly inputsTotal: number;
  readonly inputsDone: number;
  readonly inputsFailed: number;
  readonly inputsSkipped: number;
  /** The input running now. */
  readonly current?: string;
  /** The running fit's step and steps. */
  readonly step?: number;
  readonly steps?: number;
  readonly loss?: number;
  /** PSNR against the clean image, when the recipe has one. */
  readonly psnr?: number;
  readonly stepsPerSecond?: number;
  /** Seconds left, estimated from the fit's rate and the inputs done so far. */
  readonly etaSeconds?: number;
  /** Training engine and adapter of the last fit. */
  readonly engine?: string;
  readonly adapter?: string;
  readonly inputs: readonly InputOutcome[];
}

/** A job's progress before anything ran. */
export function initialProgress(inputs: readonly JobInput[]): JobProgress {
  return {
    inputsTotal: inputs.length,
    inputsDone: 0,
    inputsFailed: 0,
    inputsSkipped: 0,
    inputs: inputs.map((input) => ({
      name: input.name,
      status: "pending",
      outputs: [],
      metrics: {},
      timings: {},
    })),
  };
}

function updateInput(
  progress: JobProgress,
  name: string,
  change: Partial<InputOutcome>,
): JobProgress["inputs"] {
  return progress.inputs.map((input) => input.name === name ? { ...input, ...change } : input);
}

/** Seconds left: the running fit's rest plus the inputs not started, at the rate seen so far. */
function eta(progress: JobProgress): number | undefined {
  const finished = progress.inputs.filter((i) => i.status === "done" || i.status === "failed");
  const pending = progress.inputs.filter((i) => i.status === "pending").length;
  const fitLeft = progress.step !== undefined && progress.steps !== undefined &&
      progress.stepsPerSecond !== undefined && progress.stepsPerSecond > 0
    ? (progress.steps - progress.step) / progress.stepsPerSecond
    : undefined;
  const timed = finished.filter((i) => i.ms !== undefined);
  const perInput = timed.length > 0
    ? timed.reduce((sum, i) => sum + i.ms!, 0) / timed.length / 1000
    : progress.steps !== undefined && progress.stepsPerSecond
    ? progress.steps / progress.stepsPerSecond
    : undefined;
  if (fitLeft === undefined && (pending === 0 || perInput === undefined)) {
    return pending === 0 ? fitLeft : undefined;
  }
  return (fitLeft ?? 0) + pending * (perInput ?? 0);
}

/**
 * Folds one executor event into the progress; `relativize` turns an output path into its name
 * under the job's output folder.
 */
export function foldProgress(
  progress: JobProgress,
  event: ProgressEvent,
  relativize: (path: string) => string,
): JobProgress {
  switch (event.type) {
    case "start":
      return { ...progress, inputsTotal: event.total };
    case "input-skipped":
      return {
        ...progress,
        inputsSkipped: progress.inputsSkipped + 1,
        inputs: updateInput(progress, event.name, { status: "skipped" }),
      };
    case "input-start":
      return {
        ...progress,
        current: event.name,
        step: undefined,
        steps: undefined,
        loss: undefined,
        psnr: undefined,
        inputs: updateInput(progress, event.name, { status: "running" }),
      };
    case "fit": {
      const next = {
        ...progress,
        current: event.name,
        step: event.step,
        steps: event.total,
        loss: event.loss,
        psnr: event.psnr,
        stepsPerSecond: event.stepsPerSecond,
      };
      return { ...next, etaSeconds: eta(next) };
    }
    case "input-done": {
      const next = {
        ...progress,
        inputsDone: progress.inputsDone + 1,
        current: undefined,
        inputs: updateInput(progress, event.name, {
          status: "done",
          ms: event.ms,
          outputs: event.outputs.map(relativize),
        }),
      };
      return { ...next, step: undefined, etaSeconds: eta({ ...next, step: undefined }) };
    }
    case "input-failed":
      return {
        ...progress,
        inputsFailed: progress.inputsFailed + 1,
        current: undefined,
        inputs: updateInput(progress, event.name, { status: "failed", error: event.error }),
      };
    case "input-interrupted":
      // Canceled or stopped while it ran: nothing was written, a rerun redoes it.
      return {
        ...progress,
        current: undefined,
        inputs: updateInput(progress, event.name, { status: "pending" }),
      };
    case "done":
      return { ...progress, current: undefined, etaSeconds: 0 };
    default:
      return progress;
  }
}

/** The API's view of a job. */
export type JobView = z.output<typeof JobViewSchema>;

const iso = (ms: number | undefined) => ms === undefined ? undefined : new Date(ms).toISOString();

/** The API's view of `job`; URLs are relative to `base` (e.g. `/v1`). */
export function jobView(job: Job<JobData, JobProgress>, base = "/v1"): JobView {
  const self = `${base}/jobs/${job.id}`;
  const progress = (job.result ?? job.progress as JobProgress | undefined) ??
    initialProgress(job.data.inputs);
  const { inputs, ...counts } = progress;
  const recipe = job.data.recipe as { steps?: unknown[] } | undefined;
  return {
    id: job.id,
    status: job.status,
    recipe: {
      name: job.data.recipeName,
      steps: Array.isArray(recipe?.steps) ? recipe.steps.length : 0,
    },
    inputs: job.data.inputs.map((input) => input.name),
    runOptions: job.data.runOptions,
    webhook: job.data.webhook,
    attempts: { made: job.attemptsMade, max: job.attempts },
    cancelRequested: job.cancelRequested,
    progress: counts,
    results: inputs.map(({ outputs, ...rest }) => ({
      ...rest,
      files: outputs.map((name) => ({
        name,
        url: `${self}/files/${name.split("/").map(encodeURIComponent).join("/")}`,
      })),
    })),
    error: job.error,
    engine: progress.engine,
    adapter: progress.adapter,
    createdAt: iso(job.createdAt)!,
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    timings: {
      queuedMs: job.startedAt === undefined ? undefined : job.startedAt - job.createdAt,
      runMs: job.startedAt === undefined || job.finishedAt === undefined
        ? undefined
        : job.finishedAt - job.startedAt,
    },
    links: { self, events: `${self}/events`, cancel: `${self}/cancel` },
  };
}
