/**
 * What a finished run leaves for people besides its images: one HTML report of the whole run
 * (`dipline run --report FILE`, ops/report/html.ts) and each fit's run record as JSON beside its
 * outputs (`--record`). Both read the run's summary, so inputs that were up to date (their
 * record comes back from the resume record) and failures are in them too.
 *
 * @module
 */
import { basename, dirname, extname, join, relative, resolve } from "node:path";
import { writeFileAtomic } from "../image/save.ts";
import { recordOf, renderReport, type ReportEntry } from "../ops/report/html.ts";
import type { Pipeline } from "./dsl.ts";
import type { InputResult, RunSummary } from "./executor.ts";
import type { InputItem } from "./sources.ts";

/** Options of {@link writeRunReport}. */
export interface RunReportOptions {
  /** The report file. */
  readonly path: string;
  readonly summary: RunSummary;
  /** The recipe (shown as its JSON document, or its explain() text). */
  readonly recipe?: Pipeline;
  /** The run's inputs, so thumbnails link to the input files. */
  readonly inputs?: readonly InputItem[];
  /** Lines for the header (input, output folder, threads, …). */
  readonly settings?: Readonly<Record<string, string | number | undefined>>;
  readonly title?: string;
}

/** Writes the run's report (atomically); resolves with its size in bytes. */
export async function writeRunReport(options: RunReportOptions): Promise<number> {
  const path = resolve(options.path);
  const folder = dirname(path);
  const link = (file: string | undefined) =>
    file === undefined ? undefined : relative(folder, resolve(file)).split("\\").join("/");
  const paths = new Map<string, string>();
  for (const item of options.inputs ?? []) {
    if (item.path !== undefined && !paths.has(item.name)) paths.set(item.name, item.path);
  }
  const entry = (result: InputResult, status: "done" | "resumed"): ReportEntry => ({
    name: result.name,
    status,
    metrics: result.metrics,
    info: result.info,
    outputs: result.outputs.map((o) => link(o)!),
    input: link(paths.get(result.name)),
  });
  const { summary } = options;
  const entries: ReportEntry[] = [
    ...summary.done.map((r) => entry(r, "done")),
    ...summary.resumed.map((r) => entry(r, "resumed")),
    ...summary.failed.map((f) => ({
      name: f.name,
      status: "failed" as const,
      error: f.error,
      metrics: {},
      info: {},
    })),
  ];
  let recipe: unknown;
  try {
    recipe = options.recipe?.toJSON();
  } catch {
    recipe = options.recipe?.explain();
  }
  const html = renderReport({
    title: options.title,
    created: new Date().toISOString(),
    recipe,
    settings: options.settings,
    entries,
  });
  const bytes = new TextEncoder().encode(html);
  await Deno.mkdir(folder, { recursive: true });
  await writeFileAtomic(path, bytes);
  return bytes.length;
}

/** Where `--record` writes an input's record: beside its first output, else in `outDir`. */
export function recordPath(result: Pick<InputResult, "name" | "outputs">, outDir: string): string {
  const first = result.outputs[0];
  if (first === undefined) return join(resolve(outDir), `${result.name}.record.json`);
  const stem = basename(first, extname(first));
  return join(dirname(first), `${stem}.record.json`);
}

/**
 * Writes each fit's run record (meta.info.record) of the run's inputs, done and up to date,
 * as JSON beside its outputs; returns the paths written.
 */
export async function writeRunRecords(summary: RunSummary, outDir: string): Promise<string[]> {
  const written: string[] = [];
  for (const result of [...summary.done, ...summary.resumed]) {
    const record = recordOf(result);
    if (record === undefined) continue;
    const path = recordPath(result, outDir);
    const body = { name: result.name, metrics: result.metrics, record };
    await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(body) + "\n"));
    written.push(path);
  }
  return written;
}
