/**
 * Resume records: a small JSON sidecar per input, `.<first output>.dipline.json` beside its
 * first output, written (atomically) after all of the input's outputs. It holds a hash of the
 * recipe (every op's kind and params, in order), the input's size and modification time, the
 * outputs and the scores. A rerun skips an input only when its outputs exist and its record
 * matches the recipe and the input, so a changed recipe (noise 25 → 50) or a changed input is
 * redone, and skipped inputs still report their scores.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import type { CompiledGraph } from "../core/graph.ts";
import { writeFileAtomic } from "../image/save.ts";

/** Records end with this. */
export const RECORD_SUFFIX = ".dipline.json";

/** What a record holds. */
export interface ResumeRecord {
  /** Format version. */
  readonly version: 1;
  /** {@link recipeHash} of the graph that wrote the outputs. */
  readonly recipe: string;
  /** The input's size in bytes and modification time (ms), when it is a file. */
  readonly input?: { readonly size: number; readonly mtime: number };
  /** The output files, in the order the graph writes them. */
  readonly outputs: readonly string[];
  /** The input's scores. */
  readonly metrics: Readonly<Record<string, number>>;
  /** What the ops reported (engine, steps, …). */
  readonly info: Readonly<Record<string, unknown>>;
  /** When the outputs were finished (ISO 8601). */
  readonly written: string;
}

/** The record file of the input whose first output is `output`. */
export function recordPathFor(output: string): string {
  return join(dirname(output), `.${basename(output)}${RECORD_SUFFIX}`);
}

/**
 * A SHA-256 (hex) of what produces the outputs: each op's kind and params, in order, as
 * canonical JSON (keys sorted). How a run executes (engine, threads, outDir) is not part of it.
 */
export async function recipeHash(graph: CompiledGraph): Promise<string> {
  const text = canonicalJson(graph.nodes.map(({ op }) => ({ kind: op.kind, params: op.params })));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** JSON with object keys sorted at every level; functions and undefined are left out. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as never)[k]]));
  });
}

/** Size and modification time of an input file, undefined for an in-memory input. */
export async function inputStamp(
  path: string | undefined,
): Promise<ResumeRecord["input"] | undefined> {
  if (path === undefined) return undefined;
  const info = await Deno.stat(path).catch(() => undefined);
  return info ? { size: info.size, mtime: info.mtime?.getTime() ?? 0 } : undefined;
}

/** Reads the record beside `output`; undefined when there is none or it is unreadable. */
export async function readRecord(output: string): Promise<ResumeRecord | undefined> {
  try {
    const value = JSON.parse(await Deno.readTextFile(recordPathFor(output)));
    return value?.version === 1 && typeof value.recipe === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the record beside `output`, atomically. */
export async function writeRecord(output: string, record: ResumeRecord): Promise<void> {
  await writeFileAtomic(
    recordPathFor(output),
    new TextEncoder().encode(JSON.stringify(record, null, 1) + "\n"),
  );
}

/** Removes the record beside `output` (before its outputs are rewritten). */
export async function removeRecord(output: string): Promise<void> {
  await Deno.remove(recordPathFor(output)).catch(() => {});
}

/**
 * Why an input with all outputs present must run again, or undefined when its record says
 * they are up to date.
 */
export function staleReason(
  record: ResumeRecord | undefined,
  recipe: string,
  stamp: ResumeRecord["input"] | undefined,
): string | undefined {
  if (record === undefined) return "no record of the recipe that wrote its outputs";
  if (record.recipe !== recipe) return "the recipe changed since its outputs were written";
  if (
    stamp && record.input &&
    (stamp.size !== record.input.size || stamp.mtime !== record.input.mtime)
  ) {
    return "the input changed since its outputs were written";
  }
  return undefined;
}
