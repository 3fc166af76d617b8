/**
 * Saving images: PNG (8- or 16-bit, gray or RGB) and JPEG (with a quality), written
 * atomically, plus the pipeline's `save` op.
 *
 * @module
 */
import { basename, dirname, extname, join } from "node:path";
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
 * folders. The format comes from `options.format`, else from the extension.
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
  const bytes = await encodeImage(image, { ...options, format });
  await writeFileAtomic(path, bytes);
}

/**
 * Writes `bytes` to `path` atomically: into a temp file in the same folder, then renamed over
 * the target, so readers never see a partial file. Creates parent folders. The temp file is
 * removed if anything fails.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const folder = dirname(path);
  await Deno.mkdir(folder, { recursive: true });
  const suffix = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);
  const temp = join(folder, `.${basename(path)}.${suffix}.tmp`);
  try {
    await Deno.writeFile(temp, bytes);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}
