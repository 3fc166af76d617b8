/**
 * The API's bodies as zod schemas: one schema per shape gives the TypeScript type, the request
 * checks and their messages, and the OpenAPI document (service/openapi.ts), beside the recipe
 * schema of pipeline/recipe.ts.
 *
 * @module
 */
import { z } from "zod";
import { ERROR_CODES, type ErrorCode } from "./errors.ts";
import { JOB_STATUSES } from "./queue.ts";

/** The schemas the OpenAPI document names under `components/schemas`. */
export const API_SCHEMAS = z.registry<{ id: string }>();

/** How a job runs (not what): the engine, and a seed for every dipFit. */
export const RunOptionsSchema = z.strictObject({
  engine: z.enum(["webgpu", "cpu", "reference", "auto"]).optional().meta({
    description: "Training engine for every fit (default: the recipe's, else auto)",
  }),
  seed: z.int().min(0).max(2 ** 32 - 1).optional().meta({
    description: "Replaces the seed of every dipFit step",
  }),
}).register(API_SCHEMAS, { id: "RunOptions" });

/**
 * `POST /v1/jobs` as JSON. As multipart/form-data the same keys are form fields (`recipe` a
 * name or a JSON document as text, `runOptions` as JSON text, `paths` repeated) and the images
 * are file parts named `images`.
 */
export const CreateJobSchema = z.strictObject({
  recipe: z.union([
    z.string().min(1).max(100).meta({ description: "The name of a recipe file in --recipes" }),
    z.record(z.string(), z.unknown()).meta({
      description: "An inline JSON recipe (see the Recipe schema)",
    }),
  ]),
  paths: z.array(z.string().min(1).max(1024)).max(1000).optional().meta({
    description: "Input images by path relative to the server's --root",
  }),
  runOptions: RunOptionsSchema.optional(),
  webhook: z.url({ protocol: /^https?$/ }).max(2048).optional().meta({
    description: "POSTed the job (JSON) when it ends; retried with backoff",
  }),
}).register(API_SCHEMAS, { id: "CreateJob" });

/** The request body of `POST /v1/jobs`, checked. */
export type CreateJob = z.output<typeof CreateJobSchema>;

const FileSchema = z.object({ name: z.string(), url: z.string() });

/** One input's outcome in a job. */
export const InputResultSchema = z.object({
  name: z.string(),
  status: z.enum(["pending", "running", "done", "skipped", "failed"]),
  metrics: z.record(z.string(), z.number()),
  timings: z.record(z.string(), z.number()).meta({ description: "Milliseconds per op kind" }),
  ms: z.number().optional(),
  error: z.string().optional(),
  files: z.array(FileSchema),
}).register(API_SCHEMAS, { id: "InputResult" });

/** A job's progress counters. */
export const ProgressSchema = z.object({
  inputsTotal: z.int(),
  inputsDone: z.int(),
  inputsFailed: z.int(),
  inputsSkipped: z.int(),
  current: z.string().optional().meta({ description: "The input running now" }),
  step: z.int().optional(),
  steps: z.int().optional(),
  loss: z.number().optional(),
  psnr: z.number().optional(),
  stepsPerSecond: z.number().optional(),
  etaSeconds: z.number().optional(),
  engine: z.string().optional(),
  adapter: z.string().optional(),
}).register(API_SCHEMAS, { id: "Progress" });

/** The API's view of a job. */
export const JobViewSchema = z.object({
  id: z.string(),
  status: z.enum(JOB_STATUSES as [string, ...string[]]),
  recipe: z.object({ name: z.string().optional(), steps: z.int() }),
  inputs: z.array(z.string()),
  runOptions: RunOptionsSchema,
  webhook: z.string().optional(),
  attempts: z.object({ made: z.int(), max: z.int() }),
  cancelRequested: z.boolean(),
  progress: ProgressSchema,
  results: z.array(InputResultSchema),
  error: z.string().optional(),
  engine: z.string().optional(),
  adapter: z.string().optional(),
  createdAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  timings: z.object({ queuedMs: z.number().optional(), runMs: z.number().optional() }),
  links: z.object({ self: z.string(), events: z.string(), cancel: z.string() }),
}).register(API_SCHEMAS, { id: "Job" });

/** A page of jobs, newest first. */
export const JobPageSchema = z.object({
  jobs: z.array(JobViewSchema),
  next: z.string().optional().meta({ description: "Pass as ?cursor= for the next page" }),
}).register(API_SCHEMAS, { id: "JobPage" });

/** Every error answer. */
export const ErrorSchema = z.object({
  error: z.object({
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
  }),
}).register(API_SCHEMAS, { id: "Error" });

/** `GET /v1/health`. */
export const HealthSchema = z.object({
  status: z.literal("ok"),
  version: z.string(),
}).register(API_SCHEMAS, { id: "Health" });

/** Query of `GET /v1/jobs`. */
export const ListQuerySchema = z.strictObject({
  limit: z.coerce.number().pipe(z.int().min(1).max(100)).optional(),
  cursor: z.string().regex(/^\d{1,15}$/).optional(),
  status: z.enum(JOB_STATUSES as [string, ...string[]]).optional(),
});

/**
 * The first problem zod found, as one sentence: `runOptions.seed: Too small: expected number
 * to be >=0`.
 */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return "invalid value";
  const path = issue.path.map(String).join(".");
  return path ? `${path}: ${issue.message}` : issue.message;
}
