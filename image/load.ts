/**
 * Loading images: PNG (any colour type and bit depth, via {@link decodePng}), JPEG (gray or
 * colour, EXIF orientation applied) and GIF (first frame), normalised to the planar
 * Float32 CHW {@link Image} in [0, 1] with 1 or 3 channels.
 *
 * Alpha is ignored: the colour channels are kept as stored, not composited, because a
 * restoration should see the pixels the file holds. Every failure is one {@link InputError}
 * whose message names the file and the reason; no codec exception escapes. Needs only read
 * permission (the JPEG and GIF codecs are WebAssembly, see `codecs.ts`).
 *
 * @module
 */
import { InputError } from "../core/errors.ts";
import { type Image, makeImage } from "../core/image.ts";
import { decodeGifFirstFrame, decodeJpegRaster, type Raster } from "./codecs.ts";
import { decodePng, isPng } from "./png.ts";

/** Default pixel limit (height × width): 40 megapixels, well above any DIP workload. */
export const DEFAULT_MAX_PIXELS = 40_000_000;

/** File extensions {@link loadImage} reads, lower case with the dot. */
export const IMAGE_EXTENSIONS: readonly string[] = [".png", ".jpg", ".jpeg", ".gif"];

/** Options of {@link loadImage} and {@link decodeImage}. */
export interface LoadOptions {
  /** Refuse images with more pixels than this, judged from the header before decoding
   * (default {@link DEFAULT_MAX_PIXELS}). */
  maxPixels?: number;
  /** Keep gray images as 1 channel (default true); false replicates them to RGB. */
  keepGray?: boolean;
}

/**
 * Reads and decodes an image file. Throws {@link InputError} (with `file` set) when the path
 * is missing, is a folder, is empty, is not a PNG/JPEG/GIF, is truncated or damaged, or
 * claims more than `maxPixels` pixels.
 *
 * @example
 * ```ts
 * const image = await loadImage("photo.png");
 * console.log(image.channels, image.height, image.width);
 * ```
 */
export async function loadImage(path: string, options?: LoadOptions): Promise<Image> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new InputError("file not found", { file: path });
    }
    if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
      throw new InputError("permission denied reading the file", { file: path, cause: error });
    }
    throw new InputError(`cannot read the file (${String(error)})`, { file: path, cause: error });
  }
  if (info.isDirectory) throw new InputError("is a folder, expected an image file", { file: path });
  if (!info.isFile) throw new InputError("is not a regular file", { file: path });
  if (info.size === 0) throw new InputError("empty file (0 bytes)", { file: path });
  const maxPixels = options?.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxBytes = maxFileBytes(maxPixels);
  if (info.size > maxBytes) {
    // Not read at all: no image within the pixel limit needs that many bytes.
    throw new InputError(
      `file too large for the pixel limit (${info.size} bytes; at most ${maxBytes} for ${maxPixels} pixels)`,
      { file: path },
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new InputError(`cannot read the file (${String(error)})`, { file: path, cause: error });
  }
  return decodeImage(bytes, path, options);
}

/**
 * The largest file {@link loadImage} reads for a pixel limit: 8 bytes a pixel (16-bit RGBA PNG,
 * stored uncompressed) plus 64 MiB of metadata; anything larger is refused unread.
 */
export function maxFileBytes(maxPixels: number): number {
  return maxPixels * 8 + 64 * 2 ** 20;
}

/**
 * Decodes image bytes (the format is sniffed from the content, not the name). `name` is used
 * in error messages and as the image's name. Same errors as {@link loadImage}.
 */
export async function decodeImage(
  bytes: Uint8Array,
  name: string,
  options?: LoadOptions,
): Promise<Image> {
  const maxPixels = options?.maxPixels ?? DEFAULT_MAX_PIXELS;
  const keepGray = options?.keepGray ?? true;
  if (bytes.length === 0) throw new InputError("empty file (0 bytes)", { file: name });
  if (isPng(bytes)) {
    const png = decodePng(bytes, name, { maxPixels, keepGray });
    return makeImage(png.channels, png.height, png.width, png.data, name);
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    return await decodeJpeg(bytes, name, maxPixels, keepGray);
  }
  if (isGif(bytes)) return await decodeGif(bytes, name, maxPixels);
  throw new InputError("not a supported image (expected PNG, JPEG or GIF content)", { file: name });
}

/** What the JPEG markers before the scan data say. */
interface JpegHeader {
  readonly width: number;
  readonly height: number;
  readonly components: number;
  /** EXIF orientation 1–8 (1 when absent or invalid). */
  readonly orientation: number;
}

/** Walks the JPEG marker segments up to the first scan; throws InputError on damage. */
function readJpegHeader(bytes: Uint8Array, name: string): JpegHeader {
  const fail = (reason: string): never => {
    throw new InputError(reason, { file: name });
  };
  let offset = 2;
  let frame: { width: number; height: number; components: number } | undefined;
  let orientation = 1;
  for (;;) {
    if (offset + 2 > bytes.length) fail("truncated JPEG (headers cut short)");
    if (bytes[offset] !== 0xff) fail(`damaged JPEG (expected a marker at byte ${offset})`);
    let marker = bytes[offset + 1]!;
    while (marker === 0xff && offset + 2 < bytes.length) marker = bytes[++offset + 1]!;
    offset += 2;
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (marker === 0xd9) fail("damaged JPEG (end-of-image marker before any scan)");
    if (offset + 2 > bytes.length) fail("truncated JPEG (headers cut short)");
    const length = (bytes[offset]! << 8) | bytes[offset + 1]!;
    if (length < 2 || offset + length > bytes.length) fail("truncated JPEG (headers cut short)");
    const body = bytes.subarray(offset + 2, offset + length);
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 &&
      marker !== 0xcc;
    if (isFrame) {
      if (body.length < 6) fail("damaged JPEG (frame header too short)");
      // Only hierarchical JPEG has several frames; the decoder would size itself by another.
      if (frame !== undefined) fail("damaged JPEG (a second frame header)");
      frame = {
        height: (body[1]! << 8) | body[2]!,
        width: (body[3]! << 8) | body[4]!,
        components: body[5]!,
      };
    } else if (marker === 0xe1) {
      orientation = readExifOrientation(body) ?? orientation;
    } else if (marker === 0xda) {
      if (frame === undefined) fail("damaged JPEG (scan before the frame header)");
      // The entropy-coded data stuffs every 0xFF as FF 00, so FF D9 after it is the real EOI.
      if (lastIndexOfEoi(bytes) < offset + length) {
        fail("truncated JPEG (end-of-image marker missing)");
      }
      return { ...frame!, orientation };
    }
    offset += length;
  }
}

function lastIndexOfEoi(bytes: Uint8Array): number {
  for (let i = bytes.length - 2; i >= 0; i--) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) return i;
  }
  return -1;
}

/** The orientation tag (0x0112) of IFD0 in an APP1 Exif segment, or undefined. */
function readExifOrientation(body: Uint8Array): number | undefined {
  const exif = [0x45, 0x78, 0x69, 0x66, 0, 0]; // "Exif\0\0"
  if (body.length < 14 || !exif.every((b, i) => body[i] === b)) return undefined;
  const tiff = new DataView(body.buffer, body.byteOffset + 6, body.byteLength - 6);
  const order = tiff.getUint16(0);
  if (order !== 0x4949 && order !== 0x4d4d) return undefined;
  const little = order === 0x4949;
  const ifd = tiff.getUint32(4, little);
  if (ifd + 2 > tiff.byteLength) return undefined;
  const count = tiff.getUint16(ifd, little);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.byteLength) return undefined;
    if (tiff.getUint16(entry, little) === 0x0112) {
      const value = tiff.getUint16(entry + 8, little);
      return value >= 1 && value <= 8 ? value : undefined;
    }
  }
  return undefined;
}

async function decodeJpeg(
  bytes: Uint8Array,
  name: string,
  maxPixels: number,
  keepGray: boolean,
): Promise<Image> {
  const header = readJpegHeader(bytes, name);
  const { width, height } = header;
  if (width === 0 || height === 0) {
    throw new InputError(`unsupported JPEG (header says ${width}×${height} pixels)`, {
      file: name,
    });
  }
  checkPixels(width, height, maxPixels, name);
  let decoded: Raster;
  try {
    decoded = await decodeJpegRaster(bytes);
  } catch (error) {
    throw new InputError(`damaged JPEG (${codecMessage(error)})`, { file: name, cause: error });
  }
  if (decoded.width !== width || decoded.height !== height) {
    throw new InputError(
      `damaged JPEG (decoded ${decoded.width}×${decoded.height}, header says ${width}×${height})`,
      { file: name },
    );
  }
  const channels: 1 | 3 = decoded.samples === 1 && keepGray ? 1 : 3;
  const planar = rasterToPlanar(decoded, channels);
  return orient(makeImage(channels, height, width, planar, name), header.orientation);
}

function isGif(bytes: Uint8Array): boolean {
  const magic = String.fromCharCode(...bytes.subarray(0, 6));
  return magic === "GIF87a" || magic === "GIF89a";
}

async function decodeGif(bytes: Uint8Array, name: string, maxPixels: number): Promise<Image> {
  if (bytes.length < 13) throw new InputError("truncated GIF (header cut short)", { file: name });
  const width = bytes[6]! | (bytes[7]! << 8);
  const height = bytes[8]! | (bytes[9]! << 8);
  if (width === 0 || height === 0) {
    throw new InputError(`damaged GIF (header says ${width}×${height} pixels)`, { file: name });
  }
  checkPixels(width, height, maxPixels, name);
  const first = firstGifFrameSize(bytes, name);
  checkPixels(first.width, first.height, maxPixels, name);
  let frame: Raster;
  try {
    frame = await decodeGifFirstFrame(bytes);
  } catch (error) {
    throw new InputError(`damaged GIF (${codecMessage(error)})`, { file: name, cause: error });
  }
  return makeImage(3, frame.height, frame.width, rasterToPlanar(frame, 3), name);
}

/** The size of the first image descriptor, found by skipping the palette and extension blocks. */
function firstGifFrameSize(bytes: Uint8Array, name: string): { width: number; height: number } {
  const truncated = () =>
    new InputError("truncated GIF (no complete image descriptor)", { file: name });
  const flags = bytes[10]!;
  let at = 13 + (flags & 0x80 ? 3 * (2 << (flags & 7)) : 0);
  for (;;) {
    if (at >= bytes.length) throw truncated();
    const block = bytes[at]!;
    if (block === 0x2c) {
      if (at + 10 > bytes.length) throw truncated();
      return {
        width: bytes[at + 5]! | (bytes[at + 6]! << 8),
        height: bytes[at + 7]! | (bytes[at + 8]! << 8),
      };
    }
    if (block !== 0x21) {
      throw new InputError(`damaged GIF (unexpected block 0x${block.toString(16)} at byte ${at})`, {
        file: name,
      });
    }
    at += 2; // introducer and label, then data sub-blocks until a zero length
    while (at < bytes.length && bytes[at] !== 0) at += 1 + bytes[at]!;
    at += 1;
  }
}

function checkPixels(width: number, height: number, maxPixels: number, name: string): void {
  if (width * height > maxPixels) {
    throw new InputError(
      `image too large (${width}×${height} = ${width * height} pixels, limit ${maxPixels})`,
      { file: name },
    );
  }
}

function codecMessage(error: unknown): string {
  // A trap inside the WebAssembly codec ("unreachable", "memory access out of bounds").
  if (error instanceof WebAssembly.RuntimeError) return "the decoder stopped on invalid data";
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0]!.trim() || "decoder failed";
}

/** Interleaved 8-bit gray, RGB or RGBA to planar floats in [0, 1] (gray replicated to 3 channels when asked; alpha dropped). */
function rasterToPlanar(raster: Raster, channels: 1 | 3): Float32Array {
  const { width, height, samples, data } = raster;
  const plane = width * height;
  const out = new Float32Array(channels * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < channels; c++) {
      out[c * plane + i] = data[i * samples + (samples === 1 ? 0 : c)]! / 255;
    }
  }
  return out;
}

/**
 * Applies an EXIF orientation (1–8) so the image is upright: each value names where the
 * stored rows and columns belong (EXIF 2.3, tag 0x0112).
 */
export function orient(image: Image, orientation: number): Image {
  if (orientation <= 1 || orientation > 8) return image;
  const { channels, height: h, width: w, data } = image;
  const swap = orientation >= 5;
  const oh = swap ? w : h;
  const ow = swap ? h : w;
  const out = new Float32Array(data.length);
  const plane = h * w;
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      // (sy, sx): the stored pixel that appears at display (y, x).
      let sy: number;
      let sx: number;
      switch (orientation) {
        case 2:
          [sy, sx] = [y, w - 1 - x];
          break; // mirrored horizontally
        case 3:
          [sy, sx] = [h - 1 - y, w - 1 - x];
          break; // rotated 180°
        case 4:
          [sy, sx] = [h - 1 - y, x];
          break; // mirrored vertically
        case 5:
          [sy, sx] = [x, y];
          break; // transposed
        case 6:
          [sy, sx] = [h - 1 - x, y];
          break; // needs 90° clockwise
        case 7:
          [sy, sx] = [h - 1 - x, w - 1 - y];
          break; // transversed
        default:
          [sy, sx] = [x, w - 1 - y];
          break; // 8: needs 90° counter-clockwise
      }
      for (let c = 0; c < channels; c++) {
        out[c * plane + y * ow + x] = data[c * plane + sy * w + sx]!;
      }
    }
  }
  return makeImage(channels, oh, ow, out, image.name);
}
