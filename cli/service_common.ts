/**
 * What the service's client commands (`submit`, `status`, `watch`, `fetch`) share: the
 * `--server` and `--token` flags with their environment defaults, and one line per job.
 *
 * @module
 */
import { ApiClientError, DiplineClient } from "../service/client.ts";
import type { JobView } from "../service/jobs.ts";
import { InputError } from "../core/errors.ts";

/** The default server when neither `--server` nor `DIPLINE_SERVER` names one. */
export const DEFAULT_SERVER = "http://127.0.0.1:8417";

/** Flags every client command takes. */
export const CLIENT_FLAGS = {
  server: { type: "string" },
  token: { type: "string" },
} as const;

/** Help lines of {@link CLIENT_FLAGS}. */
export const CLIENT_USAGE =
  `  --server URL    the service (default: $DIPLINE_SERVER, else ${DEFAULT_SERVER})
  --token T       bearer token (default: $DIPLINE_TOKEN)`;

/** A client from the flags, then the environment, then the defaults. */
export function clientFrom(values: { server?: string; token?: string }): DiplineClient {
  const server = values.server ?? Deno.env.get("DIPLINE_SERVER") ?? DEFAULT_SERVER;
  const token = values.token ?? Deno.env.get("DIPLINE_TOKEN") ?? undefined;
  return new DiplineClient(server, token || undefined);
}

/** Runs `body`; an API error becomes an InputError (exit 1) of one line with its code. */
export async function withApiErrors<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof ApiClientError) {
      throw new InputError(`${error.message} (${error.code})`);
    }
    throw error;
  }
}

/** `3f2c… succeeded · 2/2 inputs · 1.2s`, then one line per input with its scores and files. */
export function describeJob(job: JobView): string {
  const p = job.progress;
  const parts = [`${job.id} ${job.status}`, `${p.inputsDone}/${p.inputsTotal} inputs`];
  if (p.inputsFailed > 0) parts.push(`${p.inputsFailed} failed`);
  if (p.inputsSkipped > 0) parts.push(`${p.inputsSkipped} skipped`);
  if (p.step !== undefined && p.steps !== undefined) {
    parts.push(`${p.current ?? ""} step ${p.step}/${p.steps}`.trim());
  }
  if (p.loss !== undefined) parts.push(`loss ${p.loss.toPrecision(3)}`);
  if (p.psnr !== undefined) parts.push(`${p.psnr.toFixed(2)} dB`);
  if (p.etaSeconds !== undefined && job.status === "running") {
    parts.push(`ETA ${Math.round(p.etaSeconds)}s`);
  }
  if (job.timings.runMs !== undefined) parts.push(`${(job.timings.runMs / 1000).toFixed(1)}s`);
  const lines = [parts.join(" · ")];
  if (job.error) lines.push(`  error: ${job.error}`);
  for (const result of job.results) {
    const scores = Object.entries(result.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`);
    const files = result.files.map((f) => f.name);
    lines.push(
      `  ${result.name}: ${result.status}${scores.length ? ` · ${scores.join(" · ")}` : ""}${
        files.length ? ` · ${files.join(", ")}` : ""
      }${result.error ? ` · ${result.error}` : ""}`,
    );
  }
  return lines.join("\n");
}
