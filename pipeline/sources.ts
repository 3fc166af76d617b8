/**
 * Where a run's inputs come from: one file, a glob, a folder (recursive), or an image in memory;
 * and a shard `i/n` of any of them so that several hosts can share one folder.
 *
 * Folders and globs yield image files only (by extension, see `IMAGE_EXTENSIONS`), sorted by
 * their path relative to the source root (code-point order), skipping hidden entries (names
 * starting with `.`). A file named explicitly is always tried, whatever its extension.
 *
 * A path that exists is always taken literally, even when it holds `[`, `*` or `?`
 * (`shot[1].png` is that file, never `shot1.png`); `glob:` in front forces a glob
 * (`glob:shot[1].png` matches `shot1.png`).
 *
 * @module
 */
import { basename, dirname, extname, join, relative, resolve, sep } from "node:path";
import type { Image } from "../core/image.ts";
import { DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, loadImage } from "../image/load.ts";
import { InputError } from "../core/errors.ts";

/** One input of a run. */
export interface InputItem {
  /** The name outputs are named after: the file name without folder and extension. */
  readonly name: string;
  /** The file it is loaded from, if any. */
  readonly path?: string;
  /** The path relative to the source root, with `/` separators (keeps sub-folders in outputs). */
  readonly relative?: string;
  /** Loads the image; a failure is this input's failure, not the run's. */
  load(options?: { maxPixels?: number }): Promise<Image>;
}

/** A shard of a sorted input list: item k belongs to shard `k mod count`. */
export interface Shard {
  /** 0-based: 0 ≤ index < count. */
  readonly index: number;
  /** How many shards the list is split into. */
  readonly count: number;
}

/** An input read from a file with `loadImage`. */
export function fileInput(path: string, root?: string): InputItem {
  const rel = root === undefined ? undefined : toPosix(relative(root, path));
  return {
    name: basename(path, extname(path)),
    path,
    relative: rel,
    load: (options) => loadImage(path, { maxPixels: options?.maxPixels ?? DEFAULT_MAX_PIXELS }),
  };
}

/** An input that is already in memory (the demo's generated test card, a test image). */
export function imageInput(image: Image, name = image.name): InputItem {
  return { name, load: () => Promise.resolve(image) };
}

/** Whether a path has one of the image extensions `loadImage` reads (case-insensitive). */
export function isImagePath(path: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(path).toLowerCase());
}

/** Prefix that makes an input spec a glob even when a file of that name exists. */
export const GLOB_PREFIX = "glob:";

/** Whether a spec contains glob syntax (`*`, `?`, `[`). */
export function isGlob(spec: string): boolean {
  return /[*?[]/.test(spec);
}

/**
 * Turns a glob into a regular expression over `/`-separated relative paths: `*` matches within
 * one segment, `**` any number of whole segments (zero included), `?` one character, `[abc]`,
 * `[a-z]` and `[!abc]` one character of (or not of) a set.
 *
 * @throws {InputError} on an unclosed `[`
 */
export function globToRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        const atStart = i === 0 || glob[i - 1] === "/";
        const atEnd = i + 2 === glob.length || glob[i + 2] === "/";
        if (atStart && atEnd) {
          // `**/` matches zero or more whole segments; a trailing `**` matches everything below.
          source += i + 2 === glob.length ? ".*" : "(?:[^/]+/)*";
          i += 2;
          continue;
        }
      }
      source += "[^/]*";
    } else if (c === "?") {
      source += "[^/]";
    } else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close < 0) {
        throw new InputError(`Expected a closing ] in glob but received ${JSON.stringify(glob)}`);
      }
      let body = glob.slice(i + 1, close);
      const negate = body.startsWith("!") || body.startsWith("^");
      if (negate) body = body.slice(1);
      source += `[${negate ? "^/" : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
      i = close;
    } else {
      source += c.replace(/[.+^${}()|\\]/g, "\\$&");
    }
  }
  return new RegExp(`^${source}$`);
}

/** Lists image files under `dir`, recursively, sorted by relative path. */
export async function listFolder(dir: string): Promise<InputItem[]> {
  const root = resolve(dir);
  const files = (await walk(root)).filter(isImagePath);
  return sortByRelative(files.map((file) => fileInput(file, root)));
}

/** The folder a glob is walked from: its segments before the first one with glob syntax. */
function globParts(pattern: string, cwd: string): { root: string; rest: string } {
  const absolute = toPosix(resolve(cwd, pattern));
  const segments = absolute.split("/");
  const firstGlob = segments.findIndex(isGlob);
  if (firstGlob < 0) return { root: dirname(absolute), rest: basename(absolute) };
  return {
    root: segments.slice(0, firstGlob).join("/") || "/",
    rest: segments.slice(firstGlob).join("/"),
  };
}

function globRoot(pattern: string, cwd: string): string {
  return globParts(pattern, cwd).root;
}

/** Lists image files matching a glob (relative globs are resolved against `cwd`). */
export async function matchGlob(pattern: string, cwd: string = Deno.cwd()): Promise<InputItem[]> {
  const { root, rest } = globParts(pattern, cwd);
  const matcher = globToRegExp(rest);
  // Without `**` the match can only be as deep as the pattern has segments.
  const maxDepth = rest.includes("**") ? Infinity : rest.split("/").length;
  const files = await walk(root, maxDepth).catch(() => []);
  return sortByRelative(
    files
      .filter((file) => matcher.test(toPosix(relative(root, file))) && isImagePath(file))
      .map((file) => fileInput(file, root)),
  );
}

/** A resolved input spec: its items and where they were found. */
export interface ResolvedSource {
  /** What the spec named. */
  readonly kind: "file" | "folder" | "glob";
  /** The folder a folder or glob was walked from (absolute); the file's folder for a file. */
  readonly root: string;
  /** The inputs, sorted by relative path. */
  readonly items: InputItem[];
}

/**
 * Resolves an input spec: an existing file or folder (taken literally, whatever characters its
 * name holds), else a glob; `glob:` in front forces a glob.
 *
 * @throws {InputError} naming the spec when nothing exists there or nothing matches
 */
export async function resolveSource(
  spec: string,
  cwd: string = Deno.cwd(),
): Promise<ResolvedSource> {
  const forced = spec.startsWith(GLOB_PREFIX);
  const pattern = forced ? spec.slice(GLOB_PREFIX.length) : spec;
  const path = resolve(cwd, pattern);
  const info = forced ? undefined : await Deno.stat(path).catch(() => undefined);
  if (info === undefined && (forced || isGlob(spec))) {
    const items = await matchGlob(pattern, cwd);
    if (items.length === 0) throw new InputError("no image file matches this glob", { file: spec });
    return { kind: "glob", root: globRoot(pattern, cwd), items };
  }
  if (info === undefined) throw new InputError("no such file or folder", { file: spec });
  if (info.isDirectory) {
    const items = await listFolder(path);
    if (items.length === 0) {
      throw new InputError(`folder holds no image files (${IMAGE_EXTENSIONS.join(", ")})`, {
        file: spec,
      });
    }
    return { kind: "folder", root: path, items };
  }
  return { kind: "file", root: dirname(path), items: [fileInput(path, dirname(path))] };
}

/**
 * Resolves an input spec to its items (see {@link resolveSource}).
 *
 * @throws {InputError} naming the spec when nothing exists there or nothing matches
 */
export async function resolveInputs(spec: string, cwd: string = Deno.cwd()): Promise<InputItem[]> {
  return (await resolveSource(spec, cwd)).items;
}

/**
 * Parses a shard spec `"i/n"` (0-based: `0/4` … `3/4` split one list over four hosts), or
 * `"auto"`: the index and count of the batch-cluster task this process is (see
 * {@link shardFromEnvironment}).
 *
 * @throws {InputError} unless 0 ≤ i < n are integers, or for `auto` outside a cluster task
 */
export function parseShard(
  spec: string,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Shard {
  if (spec.trim() === "auto") return shardFromEnvironment(env);
  const match = /^(\d+)\/(\d+)$/.exec(spec.trim());
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || count < 1 || index >= count) {
    throw new InputError(
      `Expected shard i/n with 0 ≤ i < n (0-based, e.g. 0/4) but received ${JSON.stringify(spec)}`,
    );
  }
  return { index, count };
}

/**
 * The shard of a Kubernetes Indexed Job's pod (`JOB_COMPLETION_INDEX` of `JOB_COMPLETIONS`,
 * which the manifest sets to the Job's `completions`) or of a Slurm array task
 * (`(SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP` of
 * `SLURM_ARRAY_TASK_COUNT`).
 *
 * @throws {InputError} when neither is set, or a value is missing or out of range
 */
export function shardFromEnvironment(env: (name: string) => string | undefined): Shard {
  const int = (name: string, fallback?: number): number => {
    const text = env(name);
    if (text === undefined || text.trim() === "") {
      if (fallback !== undefined) return fallback;
      throw new InputError(`--shard auto: ${name} is not set`);
    }
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0) {
      throw new InputError(
        `--shard auto: Expected integer ≥ 0 for ${name} but received ${JSON.stringify(text)}`,
      );
    }
    return value;
  };
  let index: number;
  let count: number;
  let from: string;
  if (env("JOB_COMPLETION_INDEX") !== undefined) {
    index = int("JOB_COMPLETION_INDEX");
    if (env("JOB_COMPLETIONS") === undefined) {
      throw new InputError(
        "--shard auto: JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not; set it in the " +
          "pod's env to the Job's completions",
      );
    }
    count = int("JOB_COMPLETIONS");
    from = "Kubernetes Indexed Job";
  } else if (env("SLURM_ARRAY_TASK_ID") !== undefined) {
    const id = int("SLURM_ARRAY_TASK_ID");
    const min = int("SLURM_ARRAY_TASK_MIN", 0);
    const step = Math.max(1, int("SLURM_ARRAY_TASK_STEP", 1));
    count = int("SLURM_ARRAY_TASK_COUNT");
    index = (id - min) / step;
    from = "Slurm array";
  } else {
    throw new InputError(
      "--shard auto found no batch-cluster task: set by a Kubernetes Indexed Job " +
        "(JOB_COMPLETION_INDEX with JOB_COMPLETIONS) or a Slurm array (SLURM_ARRAY_TASK_ID, " +
        "SLURM_ARRAY_TASK_COUNT, SLURM_ARRAY_TASK_MIN); elsewhere use --shard i/n",
    );
  }
  if (!Number.isInteger(index) || index < 0 || count < 1 || index >= count) {
    throw new InputError(
      `--shard auto: Expected a ${from} index in 0…${count - 1} but received ${index} of ${count}`,
    );
  }
  return { index, count };
}

/** The items of shard `index` of `count`: item k of the sorted list goes to shard k mod count. */
export function takeShard<T>(items: readonly T[], shard: Shard): T[] {
  return items.filter((_, k) => k % shard.count === shard.index);
}

async function walk(dir: string, maxDepth = Infinity): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    let isFile = entry.isFile;
    let isDirectory = entry.isDirectory;
    if (entry.isSymlink) {
      // Follow links to files; links to folders are not followed (no cycles).
      const target = await Deno.stat(path).catch(() => undefined);
      isFile = target?.isFile ?? false;
      isDirectory = false;
    }
    if (isFile) files.push(path);
    else if (isDirectory && maxDepth > 1) files.push(...await walk(path, maxDepth - 1));
  }
  return files;
}

function sortByRelative(items: InputItem[]): InputItem[] {
  const key = (item: InputItem) => item.relative ?? item.path ?? item.name;
  return items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

function toPosix(path: string): string {
  return sep === "/" ? path : path.split(sep).join("/");
}
