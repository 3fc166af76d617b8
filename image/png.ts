/**
 * A small, strict PNG codec on `node:zlib`.
 *
 * imagescript decodes every PNG to 8-bit RGBA, which loses 16-bit precision and hides whether
 * the file was gray, so dipline reads PNGs itself: every colour type (gray, gray+alpha, RGB,
 * RGBA, palette), every bit depth (1, 2, 4, 8, 16), Adam7 interlacing, with CRC checks and a
 * pixel limit enforced from the header before anything is allocated. The writer produces 8- or
 * 16-bit gray or RGB.
 *
 * @module
 */
import { deflateSync, inflateSync } from "node:zlib";
import { InputError } from "../core/errors.ts";
import type { Image } from "../core/image.ts";

/** The eight bytes every PNG file starts with. */
export const PNG_SIGNATURE: Uint8Array = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);

/** What {@link decodePng} returns: planar CHW samples in [0, 1] plus the file's own layout. */
export interface DecodedPng {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** 1 for gray and gray+alpha files (unless `keepGray` is false), else 3. */
  readonly channels: 1 | 3;
  /** Planar CHW values in [0, 1]; alpha is not included. */
  readonly data: Float32Array;
  /** The file's bit depth per sample (1, 2, 4, 8 or 16). */
  readonly bitDepth: number;
  /** The file's colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA. */
  readonly colorType: number;
}

/** Options of {@link decodePng}. */
export interface DecodePngOptions {
  /** Refuse images with more pixels than this (checked from the header). */
  readonly maxPixels: number;
  /** Keep gray files as 1 channel (default true); false replicates them to RGB. */
  readonly keepGray?: boolean;
}

const CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309, as PNG uses it) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** Samples per pixel of each valid colour type. */
const SAMPLES: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Bit depths the PNG specification allows per colour type. */
const DEPTHS: Readonly<Record<number, readonly number[]>> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
/** Adam7 passes: x0, y0, dx, dy (PNG specification, section 8.2). */
const ADAM7: readonly (readonly [number, number, number, number])[] = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

function chunkName(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
}

/** True when `bytes` starts with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/**
 * Decodes a PNG into planar CHW floats in [0, 1]. Alpha is ignored: the colour samples are
 * kept as stored. Throws {@link InputError} naming `name` and one reason for anything wrong
 * (bad signature, truncation, bad CRC, corrupt zlib stream, too many pixels, invalid header).
 */
export function decodePng(bytes: Uint8Array, name: string, options: DecodePngOptions): DecodedPng {
  const fail = (reason: string, cause?: unknown): never => {
    throw new InputError(reason, { file: name, cause });
  };
  if (!isPng(bytes)) fail("not a PNG (bad signature)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 8;
  let header:
    | { width: number; height: number; depth: number; type: number; interlace: number }
    | undefined;
  let palette: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let ended = false;
  while (offset < bytes.length) {
    if (offset + 8 > bytes.length) fail("truncated PNG (chunk header cut short)");
    const length = view.getUint32(offset);
    const type = chunkName(bytes, offset + 4);
    if (!/^[A-Za-z]{4}$/.test(type)) fail(`damaged PNG (invalid chunk type at byte ${offset + 4})`);
    if (length > 0x7fffffff || offset + 12 + length > bytes.length) {
      fail(`truncated PNG (${type} chunk cut short)`);
    }
    const body = bytes.subarray(offset + 8, offset + 8 + length);
    const storedCrc = view.getUint32(offset + 8 + length);
    if (crc32(bytes.subarray(offset + 4, offset + 8 + length)) !== storedCrc) {
      fail(`damaged PNG (bad CRC in ${type} chunk)`);
    }
    if (header === undefined && type !== "IHDR") fail("damaged PNG (first chunk is not IHDR)");
    if (type === "IHDR") {
      if (header !== undefined) fail("damaged PNG (second IHDR chunk)");
      if (length !== 13) fail(`damaged PNG (IHDR is ${length} bytes, expected 13)`);
      header = readHeader(body, fail, options.maxPixels);
    } else if (type === "PLTE") {
      if (length === 0 || length % 3 !== 0 || length > 768) {
        fail(`damaged PNG (PLTE is ${length} bytes, expected a multiple of 3 up to 768)`);
      }
      palette = body;
    } else if (type === "IDAT") {
      idat.push(body);
    } else if (type === "IEND") {
      ended = true;
      break;
    } else if ((bytes[offset + 4]! & 0x20) === 0) {
      // An unknown chunk with the "critical" bit set cannot be skipped safely (PNG spec 5.4).
      fail(`unsupported PNG (unknown critical chunk ${type})`);
    }
    offset += 12 + length;
  }
  if (header === undefined) return fail("truncated PNG (IHDR chunk missing)");
  if (!ended) fail("truncated PNG (IEND chunk missing)");
  if (idat.length === 0) fail("damaged PNG (no IDAT chunk)");
  if (header.type === 3 && palette === undefined) fail("damaged PNG (palette image without PLTE)");

  const { width, height, depth, type, interlace } = header;
  const samples = SAMPLES[type]!;
  const bitsPerPixel = samples * depth;
  const passes = interlace === 1 ? ADAM7 : [[0, 0, 1, 1] as const];
  let expected = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((width - x0) / dx);
    const ph = Math.ceil((height - y0) / dy);
    if (pw > 0 && ph > 0) expected += ph * (1 + Math.ceil((pw * bitsPerPixel) / 8));
  }
  const compressed = concat(idat);
  let raw: Uint8Array;
  try {
    // maxOutputLength bounds memory even when the stream claims to inflate to far more.
    raw = inflateSync(compressed, { maxOutputLength: expected + 1 });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      return fail(
        `damaged PNG (image data inflates to more than the ${expected} bytes expected)`,
        error,
      );
    }
    return fail(`damaged PNG (corrupt image data: ${message})`, error);
  }
  if (raw.length < expected) {
    fail(`damaged PNG (image data is ${raw.length} bytes, expected ${expected})`);
  }

  const gray = type === 0 || type === 4;
  const channels: 1 | 3 = gray && options.keepGray !== false ? 1 : 3;
  const plane = width * height;
  const data = new Float32Array(channels * plane);
  const maxValue = (1 << depth) - 1;
  const bytesPerPixel = Math.max(1, bitsPerPixel >> 3);
  let at = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((width - x0) / dx);
    const ph = Math.ceil((height - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    const rowBytes = Math.ceil((pw * bitsPerPixel) / 8);
    let previous = new Uint8Array(rowBytes);
    for (let r = 0; r < ph; r++) {
      const filter = raw[at]!;
      const row = raw.slice(at + 1, at + 1 + rowBytes);
      at += 1 + rowBytes;
      if (filter > 4) fail(`damaged PNG (unknown filter type ${filter} in row ${r})`);
      unfilter(filter, row, previous, bytesPerPixel);
      previous = row;
      const y = y0 + r * dy;
      for (let i = 0; i < pw; i++) {
        const pixel = y * width + x0 + i * dx;
        if (type === 3) {
          const index = readSample(row, i, 0, 1, depth);
          if (index * 3 + 2 >= palette!.length) {
            fail(`damaged PNG (palette index ${index} beyond the ${palette!.length / 3} entries)`);
          }
          data[pixel] = palette![index * 3]! / 255;
          data[plane + pixel] = palette![index * 3 + 1]! / 255;
          data[2 * plane + pixel] = palette![index * 3 + 2]! / 255;
        } else if (gray) {
          const value = readSample(row, i, 0, samples, depth) / maxValue;
          for (let c = 0; c < channels; c++) data[c * plane + pixel] = value;
        } else {
          for (let c = 0; c < 3; c++) {
            data[c * plane + pixel] = readSample(row, i, c, samples, depth) / maxValue;
          }
        }
      }
    }
  }
  return { width, height, channels, data, bitDepth: depth, colorType: type };
}

function readHeader(
  body: Uint8Array,
  fail: (reason: string) => never,
  maxPixels: number,
): { width: number; height: number; depth: number; type: number; interlace: number } {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const width = view.getUint32(0);
  const height = view.getUint32(4);
  const [depth, type, compression, filter, interlace] = [
    body[8]!,
    body[9]!,
    body[10]!,
    body[11]!,
    body[12]!,
  ];
  if (width === 0 || height === 0) fail(`damaged PNG (header says ${width}×${height} pixels)`);
  if (width * height > maxPixels) {
    fail(`image too large (${width}×${height} = ${width * height} pixels, limit ${maxPixels})`);
  }
  const allowed = DEPTHS[type];
  if (allowed === undefined) fail(`damaged PNG (invalid colour type ${type})`);
  if (!allowed!.includes(depth)) {
    fail(`damaged PNG (bit depth ${depth} is invalid for colour type ${type})`);
  }
  if (compression !== 0 || filter !== 0) fail("damaged PNG (unknown compression or filter method)");
  if (interlace > 1) fail(`damaged PNG (invalid interlace method ${interlace})`);
  return { width, height, depth, type, interlace };
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Sample `c` of pixel `i` in an unfiltered row of `samples`-sample pixels at `depth` bits. */
function readSample(row: Uint8Array, i: number, c: number, samples: number, depth: number): number {
  if (depth === 8) return row[i * samples + c]!;
  if (depth === 16) {
    const at = (i * samples + c) * 2;
    return (row[at]! << 8) | row[at + 1]!;
  }
  // Sub-byte depths only occur with one sample per pixel, packed from the high bit down.
  const bit = i * depth;
  return (row[bit >> 3]! >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Reverses a PNG row filter in place (PNG specification, section 9). */
function unfilter(filter: number, row: Uint8Array, prior: Uint8Array, bpp: number): void {
  const n = row.length;
  switch (filter) {
    case 1:
      for (let i = bpp; i < n; i++) row[i] = row[i]! + row[i - bpp]!;
      break;
    case 2:
      for (let i = 0; i < n; i++) row[i] = row[i]! + prior[i]!;
      break;
    case 3:
      for (let i = 0; i < n; i++) {
        row[i] = row[i]! + (((i >= bpp ? row[i - bpp]! : 0) + prior[i]!) >> 1);
      }
      break;
    case 4:
      for (let i = 0; i < n; i++) {
        const a = i >= bpp ? row[i - bpp]! : 0;
        const c = i >= bpp ? prior[i - bpp]! : 0;
        row[i] = row[i]! + paeth(a, prior[i]!, c);
      }
      break;
  }
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

/** What {@link encodePng} needs of an image: planar CHW floats (clamped to [0, 1] when written). */
export type PngSource = Pick<Image, "channels" | "width" | "height" | "data">;

/**
 * Encodes planar CHW floats as an 8- or 16-bit gray (1 channel) or RGB (3 channels) PNG.
 * Values are clamped to [0, 1] and rounded to the nearest level; NaN is written as 0.
 */
export function encodePng(image: PngSource, bitDepth: 8 | 16 = 8): Uint8Array {
  const { channels, width, height, data } = image;
  const plane = width * height;
  const bpp = channels * (bitDepth / 8);
  const rowBytes = width * bpp;
  const maxValue = bitDepth === 16 ? 65535 : 255;
  const filtered = new Uint8Array(height * (rowBytes + 1));
  let previous = new Uint8Array(rowBytes);
  const row = new Uint8Array(rowBytes);
  const candidate = new Uint8Array(rowBytes);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const v = data[c * plane + y * width + x]!;
        const level = v > 0 ? (v < 1 ? Math.round(v * maxValue) : maxValue) : 0;
        const at = (x * channels + c) * (bitDepth / 8);
        if (bitDepth === 16) {
          row[at] = level >> 8;
          row[at + 1] = level & 0xff;
        } else {
          row[at] = level;
        }
      }
    }
    // Pick the filter with the smallest sum of absolute residuals (PNG spec 12.8 heuristic).
    let best = 0;
    let bestCost = Infinity;
    const out = filtered.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    for (let f = 0; f <= 4; f++) {
      let cost = 0;
      for (let i = 0; i < rowBytes; i++) {
        const a = i >= bpp ? row[i - bpp]! : 0;
        const b = previous[i]!;
        const c = i >= bpp ? previous[i - bpp]! : 0;
        const predicted = f === 0
          ? 0
          : f === 1
          ? a
          : f === 2
          ? b
          : f === 3
          ? (a + b) >> 1
          : paeth(a, b, c);
        const residual = (row[i]! - predicted) & 0xff;
        candidate[i] = residual;
        cost += residual < 128 ? residual : 256 - residual;
      }
      if (cost < bestCost) {
        bestCost = cost;
        best = f;
        out.set(candidate);
      }
    }
    filtered[y * (rowBytes + 1)] = best;
    previous = row.slice();
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr[8] = bitDepth;
  ihdr[9] = channels === 1 ? 0 : 2;
  const parts = [
    PNG_SIGNATURE,
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(filtered, { level: 6 })),
    chunk("IEND", new Uint8Array(0)),
  ];
  return concat(parts);
}
