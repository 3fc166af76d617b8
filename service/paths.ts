/**
 * Paths a client names, resolved so that they cannot leave their folder: input paths under
 * `--root`, recipe names under `--recipes`, output file names under a job's folder. Absolute
 * paths, `..` segments, backslashes, NUL bytes and hidden names are refused from the text alone;
 * then the real path (symbolic links followed) must still lie inside the folder. Errors quote
 * what the client sent, never a server path.
 *
 * @module
 */
import { join, sep } from "node:path";
import { ApiError } from "./errors.ts";

/** One path segment a client may name: no leading dot (hidden and temporary files), no slash. */
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.@+=,-]*$/;

/** A recipe name: a file name in `--recipes`, with or without its extension. */
const RECIPE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/;

/** Extensions a recipe file may have, in the order a bare name is looked up. */
export const RECIPE_EXTENSIONS: readonly string[] = [".json", ".ts", ".js"];

/**
 * Splits a relative `/`-separated path into checked segments.
 *
 * @throws {ApiError} `path_escape` for an absolute path, `..`, a backslash, NUL or a hidden name
 */
export function checkRelative(path: unknown, what: string): string[] {
  if (typeof path !== "string" || path.length === 0 || path.length > 1024) {
    throw new ApiError("invalid_input", `Expected a non-empty relative path for ${what}`);
  }
  const segments = path.split("/");
  const bad = path.startsWith("/") || path.includes("\\") || path.includes("\0") ||
    segments.some((s) => s === ".." || s === "." || s === "" || !SEGMENT.test(s));
  if (bad) {
    throw new ApiError(
      "path_escape",
      `${what} ${JSON.stringify(path)} must be a relative path of plain names (no "..", no ` +
        `leading "/" or ".", no backslash)`,
    );
  }
  return segments;
}

/** Whether real path `path` lies inside real folder `root`. */
function inside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The real path of the regular file `path` names under `root` (itself a real path).
 *
 * @throws {ApiError} `path_escape` when the path or a link in it leads outside `root`;
 *   `notFound` when there is no such file
 */
export async function resolveFileUnder(
  root: string,
  path: unknown,
  what: string,
  notFound: "invalid_input" | "file_not_found" = "invalid_input",
): Promise<string> {
  const segments = checkRelative(path, what);
  let real: string;
  try {
    real = await Deno.realPath(join(root, ...segments));
  } catch {
    throw new ApiError(notFound, `${what} ${JSON.stringify(path)} does not exist`);
  }
  if (!inside(root, real)) {
    throw new ApiError("path_escape", `${what} ${JSON.stringify(path)} leads outside its folder`);
  }
  const info = await Deno.stat(real);
  if (!info.isFile) {
    throw new ApiError(notFound, `${what} ${JSON.stringify(path)} is not a file`);
  }
  return real;
}

/**
 * The real path of recipe `name` in the folder `recipes` (a real path): `name` itself when it
 * has a recipe extension, else the first of `name.json`, `name.ts`, `name.js` that exists.
 *
 * @throws {ApiError} `path_escape` for a name with a slash or `..`; `unknown_recipe` when none exists
 */
export async function resolveRecipeName(recipes: string, name: string): Promise<string> {
  if (!RECIPE_NAME.test(name) || name.includes("..")) {
    throw new ApiError(
      "path_escape",
      `recipe name ${JSON.stringify(name.slice(0, 120))} must be a file name in the recipes ` +
        "folder (letters, digits, _ . -; no slash, no ..)",
    );
  }
  const hasExtension = RECIPE_EXTENSIONS.some((ext) => name.endsWith(ext));
  const candidates = hasExtension ? [name] : RECIPE_EXTENSIONS.map((ext) => name + ext);
  for (const candidate of candidates) {
    try {
      return await resolveFileUnder(recipes, candidate, "recipe");
    } catch (error) {
      if (error instanceof ApiError && error.code === "path_escape") throw error;
    }
  }
  throw new ApiError("unknown_recipe", `no recipe named ${JSON.stringify(name)}`);
}

/** A safe file name for an upload: its base name, with characters outside [\w.-] replaced. */
export function uploadName(fileName: string, index: number): string {
  const base = fileName.split(/[\\/]/).pop() ?? "";
  const cleaned = base.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^[._-]+/, "").slice(0, 100);
  return cleaned.length > 0 ? cleaned : `upload-${index + 1}.png`;
}
