/**
 * Saving images: PNG (8- or 16-bit, gray or RGB) and JPEG (with a quality), written
 * atomically (a recognisable temp file, fsync, rename, fsync of the folder), and the checks
 * that run before any work: every output target writable, none of them an input.
 *
 * @module
 */
import { basename, dirname, extname, join, resolve } from "node:path";
import { InputError } from "../core/errors.ts";
import type { Image } from "../core/image.ts";
import { encodeJpegRgba } from "./codecs.ts";
import { encodePng } from "./png.ts";

/** Options of {@link saveImage} and {@link encodeImage}. */
export interface SaveOptions {
  /** Output format; by default taken from the extension (`.png`, `.jpg`, `.jpeg`). */
  format?: "png" | "jpeg";
  /** PNG bit depth (default 8). Ignored for JPEG, which is always 8-bit. */
  bitDepth?: 8 | 16;
  /** JPEG quality 1–100 (default 90). */
  quality?: number;
}

/** Default JPEG quality (imagescript's own default). */
export const DEFAULT_JPEG_QUALITY = 90;

/**
 * Encodes an image. PNG keeps gray as gray and writes 8 or 16 bits per sample; JPEG is
 * 8-bit with the given quality and always stores three channels (gray is replicated).
 * Values are clamped to [0, 1] and rounded.
 */
export async function encodeImage(
  image: Image,
  options: SaveOptions & { format: "png" | "jpeg" },
): Promise<Uint8Array> {
  if (options.format === "png") {
    const depth = options.bitDepth ?? 8;
    if (depth !== 8 && depth !== 16) {
      throw new RangeError(`encodeImage: expected bitDepth 8 or 16 but received ${depth}`);
    }
    return encodePng(image, depth);
  }
  if (options.format !== "jpeg") {
    throw new RangeError(
      `encodeImage: expected format "png" or "jpeg" but received ${options.format}`,
    );
  }
  const quality = options.quality ?? DEFAULT_JPEG_QUALITY;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new RangeError(
      `encodeImage: expected an integer JPEG quality in 1–100 but received ${quality}`,
    );
  }
  return await encodeJpegRgba(toRgba8(image), image.width, image.height, quality);
}

/** Converts to interleaved 8-bit RGBA (alpha 255; gray replicated; clamped and rounded). */
export function toRgba8(image: Image): Uint8Array {
  const { channels, height, width, data } = image;
  const plane = height * width;
  const rgba = new Uint8Array(plane * 4);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = data[(channels === 3 ? c : 0) * plane + i]!;
      rgba[i * 4 + c] = v > 0 ? (v < 1 ? Math.round(v * 255) : 255) : 0;
    }
    rgba[i * 4 + 3] = 255;
  }
  return rgba;
}

/** The format an output path implies, or undefined for an unknown extension. */
export function formatOfPath(path: string): "png" | "jpeg" | undefined {
  const ext = extname(path).toLowerCase();
  return ext === ".png" ? "png" : ext === ".jpg" || ext === ".jpeg" ? "jpeg" : undefined;
}

/**
 * Saves an image atomically (temp file in the target folder, then rename), creating parent
 * folders. The format comes from `options.format`, else from the extension. An image holding a
 * non-finite value (a diverged fit) is refused: it would silently become black pixels.
 *
 * @example
 * ```ts
 * await saveImage(image, "out/photo.png", { bitDepth: 16 });
 * ```
 */
export async function saveImage(image: Image, path: string, options?: SaveOptions): Promise<void> {
  const format = options?.format ?? formatOfPath(path);
  if (format === undefined) {
    throw new InputError(
      `cannot tell the output format from the extension "${
        extname(path)
      }" (expected .png, .jpg or .jpeg)`,
      { file: path },
    );
  }
  const bad = image.data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    throw new InputError(
      `refusing to write an image with a non-finite value (${image.data[bad]} at index ${bad})`,
      { file: path },
    );
  }
  const bytes = await encodeImage(image, { ...options, format });
  await writeFileAtomic(path, bytes);
}

/** Every temp file dipline writes ends with this (see {@link tempPathFor}). */
export const TEMP_SUFFIX = ".dipline-tmp";
/** The target name of the probe files {@link checkOutputTargets} writes (swept like temp files). */
export const PROBE_NAME = "dipline-probe";
/** A temp file older than this is stale whoever wrote it (a write takes seconds). */
export const TEMP_MAX_AGE_MS = 60 * 60 * 1000;

/**
 * The temp file {@link writeFileAtomic} writes before renaming it to `path`: hidden, in the same
 * folder, named after the target, the writing host and process and a random tag, e.g.
 * `.cat.png.host-4242-k3j9.dipline-tmp`, so a later run can tell whose it is.
 */
export function tempPathFor(path: string): string {
  const tag = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);
  return join(dirname(path), `.${basename(path)}.${hostTag()}-${Deno.pid}-${tag}${TEMP_SUFFIX}`);
}

/** The owner a temp file's name records, or undefined for a name that is not one of ours. */
export function parseTempName(
  name: string,
): { target: string; host: string; pid: number } | undefined {
  const match = /^\.(.+)\.(.+)-(\d+)-([a-z0-9]+)\.dipline-tmp$/.exec(name);
  if (!match) return undefined;
  return { target: match[1]!, host: match[2]!, pid: Number(match[3]) };
}

/**
 * Whether process `pid` runs on this host: true or false where /proc tells, undefined where
 * nothing can tell (then only age makes a file stale).
 */
export function isProcessAlive(pid: number): boolean | undefined {
  if (pid === Deno.pid) return true;
  if (Deno.build.os !== "linux") return undefined;
  try {
    if (Deno.permissions.querySync({ name: "read", path: "/proc" }).state !== "granted") {
      return undefined;
    }
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch (error) {
    return error instanceof Deno.errors.NotFound ? false : undefined;
  }
}

/** This host's name as it appears in temp and lock files (no path or name separators). */
export function hostTag(): string {
  let host = "host";
  try {
    // Asking would prompt on a terminal: without --allow-sys every host is "host".
    if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted") {
      host = Deno.hostname();
    }
  } catch { /* unknown: one name for all */ }
  return host.replace(/[^A-Za-z0-9_-]/g, "_") || "host";
}

/**
 * Removes the temp files our writes left in `folder` (a kill during a write): those of a dead
 * process on this host, and any older than {@link TEMP_MAX_AGE_MS}. With `targets`, only temp
 * files of those file names (and probe files). Never touches a live process's temp file.
 * Returns the removed paths.
 */
export async function removeStaleTemps(
  folder: string,
  targets?: ReadonlySet<string>,
): Promise<string[]> {
  const removed: string[] = [];
  const host = hostTag();
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(folder));
  } catch {
    return removed; // no folder, no temp files
  }
  for (const entry of entries) {
    const owner = entry.isFile ? parseTempName(entry.name) : undefined;
    if (!owner || (targets && !targets.has(owner.target) && owner.target !== PROBE_NAME)) continue;
    const path = join(folder, entry.name);
    let stale = owner.host === host && isProcessAlive(owner.pid) === false;
    if (!stale) {
      const mtime = (await Deno.lstat(path).catch(() => undefined))?.mtime?.getTime();
      stale = mtime !== undefined && Date.now() - mtime > TEMP_MAX_AGE_MS;
    }
    if (stale && await Deno.remove(path).then(() => true, () => false)) removed.push(path);
  }
  return removed;
}

/**
 * Writes `bytes` to `path` atomically: into a temp file in the same folder
 * ({@link tempPathFor}), flushed to the disk, then renamed over the target, and the folder
 * flushed so the rename survives a power cut; readers never see a partial file. Creates parent
 * folders. The temp file is removed if anything fails.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const folder = dirname(path);
  await Deno.mkdir(folder, { recursive: true });
  const temp = tempPathFor(path);
  try {
    const file = await Deno.open(temp, { write: true, createNew: true });
    try {
      for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  await syncFolder(folder);
}

/** fsync of a folder (makes a rename in it durable); a no-op where folders cannot be opened. */
async function syncFolder(folder: string): Promise<void> {
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(folder, { read: true });
    await handle.sync();
  } catch {
    // Windows cannot open a folder; the rename itself is already atomic there.
  } finally {
    handle?.close();
  }
}

/**
 * The path with symbolic links resolved, also for a path that does not exist yet (its nearest
 * existing ancestor is resolved and the rest appended), so two spellings of one file compare
 * equal.
 */
export async function realPathOf(path: string): Promise<string> {
  const absolute = resolve(path);
  try {
    return await Deno.realPath(absolute);
  } catch {
    const parent = dirname(absolute);
    if (parent === absolute) return absolute;
    return join(await realPathOf(parent), basename(absolute));
  }
}

/** Options of {@link checkOutputTargets}. */
export interface OutputCheckOptions {
  /** Input files no output may overwrite (compared after resolving symbolic links). */
  readonly inputs?: readonly string[];
  /** Refuse a target whose extension names no format (default true). */
  readonly format?: boolean;
}

/**
 * Checks, before any work, that every output target can be written: its extension names a
 * format (unless `format: false`), it is not an input file (after resolving symbolic links and
 * hard links), it is not a folder, and its folder exists or can be created and accepts a new
 * file (a probe file is created and removed).
 *
 * @throws {InputError} one line naming the target and the reason
 */
export async function checkOutputTargets(
  paths: readonly string[],
  options: OutputCheckOptions = {},
): Promise<void> {
  const inputs = new Map<string, string>();
  const inputIds = new Map<string, string>();
  for (const input of options.inputs ?? []) {
    inputs.set(await realPathOf(input), input);
    const id = await fileId(input);
    if (id) inputIds.set(id, input);
  }
  const folders = new Set<string>();
  for (const path of paths) {
    const info = await Deno.stat(path).catch(() => undefined);
    if (info?.isDirectory) {
      throw new InputError("output is a folder, expected a file name", { file: path });
    }
    if (options.format !== false && formatOfPath(path) === undefined) {
      throw new InputError(
        `cannot tell the output format from the extension "${
          extname(path)
        }" (expected .png, .jpg or .jpeg)`,
        { file: path },
      );
    }
    const real = await realPathOf(path);
    const id = await fileId(path);
    const input = inputs.get(real) ?? (id ? inputIds.get(id) : undefined);
    if (input !== undefined) {
      throw new InputError(
        `output would overwrite the input ${input}; choose another output name or folder`,
        { file: path },
      );
    }
    folders.add(dirname(resolve(path)));
  }
  for (const folder of folders) await probeFolder(folder);
}

/** Creates `folder` if needed and proves it takes a new file (created, then removed). */
async function probeFolder(folder: string): Promise<void> {
  try {
    await Deno.mkdir(folder, { recursive: true });
  } catch (error) {
    throw new InputError(`cannot create the output folder (${reason(error)})`, { file: folder });
  }
  const probe = tempPathFor(join(folder, PROBE_NAME));
  try {
    (await Deno.open(probe, { write: true, create: true, truncate: true })).close();
  } catch (error) {
    throw new InputError(`cannot write in the output folder (${reason(error)})`, { file: folder });
  }
  await Deno.remove(probe).catch(() => {});
}

/** Device and inode of an existing file ("dev:ino"), undefined where unknown. */
async function fileId(path: string): Promise<string | undefined> {
  const info = await Deno.stat(path).catch(() => undefined);
  return info?.ino ? `${info.dev}:${info.ino}` : undefined;
}

function reason(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
    return "permission denied";
  }
  if (error instanceof Deno.errors.AlreadyExists || error instanceof Deno.errors.NotADirectory) {
    return "a part of the path is a file";
  }
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0]!.replace(/:? \(os error \d+\).*$/, "").replace(/, [a-z]+ '.*$/, "");
}
