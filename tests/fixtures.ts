/**
 * Test helpers that generate image files independently of the code under test: raw PNGs of
 * any colour type, bit depth and interlacing built on `node:zlib` (its own CRC-32), and EXIF
 * orientation segments spliced into JPEGs.
 *
 * @module
 */
import { crc32, deflateSync } from "node:zlib";

/** A fresh temp folder for one test. */
export function tempDir(): Promise<string> {
  return Deno.makeTempDir({ prefix: "dipline-test-" });
}

/** Description of a PNG to build: samples are row-major, interleaved, in file units. */
export interface RawPng {
  width: number;
  height: number;
  /** 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA. */
  colorType: 0 | 2 | 3 | 4 | 6;
  bitDepth: 1 | 2 | 4 | 8 | 16;
  /** width·height·samplesPerPixel integer samples (palette indices for colour type 3). */
  samples: number[];
  /** RGB triples for colour type 3. */
  palette?: [number, number, number][];
  /** Write Adam7-interlaced data. */
  interlace?: boolean;
}

const SAMPLES_PER_PIXEL = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as const;

function pngChunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

function joinBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Packs one row of samples at `depth` bits (MSB first for sub-byte depths), filter type 0. */
function packRow(values: number[], depth: number): number[] {
  const bytes: number[] = [0];
  if (depth === 16) {
    for (const v of values) bytes.push(v >> 8, v & 0xff);
  } else if (depth === 8) {
    bytes.push(...values);
  } else {
    let acc = 0;
    let bits = 0;
    for (const v of values) {
      acc = (acc << depth) | v;
      bits += depth;
      if (bits === 8) {
        bytes.push(acc);
        acc = 0;
        bits = 0;
      }
    }
    if (bits > 0) bytes.push(acc << (8 - bits));
  }
  return bytes;
}

/** Builds a valid PNG file from raw samples (filter type 0 on every row). */
export function buildPng(spec: RawPng): Uint8Array {
  const { width, height, colorType, bitDepth, samples } = spec;
  const spp = SAMPLES_PER_PIXEL[colorType];
  if (samples.length !== width * height * spp) throw new Error("buildPng: wrong sample count");
  const pixel = (x: number, y: number) =>
    samples.slice((y * width + x) * spp, (y * width + x + 1) * spp);
  const raw: number[] = [];
  const passes = spec.interlace
    ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [
      0,
      1,
      1,
      2,
    ]]
    : [[0, 0, 1, 1]];
  for (const [x0, y0, dx, dy] of passes as [number, number, number, number][]) {
    for (let y = y0; y < height; y += dy) {
      const row: number[] = [];
      for (let x = x0; x < width; x += dx) row.push(...pixel(x, y));
      if (row.length > 0) raw.push(...packRow(row, bitDepth));
    }
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([bitDepth, colorType, 0, 0, spec.interlace ? 1 : 0], 8);
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), pngChunk("IHDR", ihdr)];
  if (spec.palette) parts.push(pngChunk("PLTE", new Uint8Array(spec.palette.flat())));
  parts.push(pngChunk("IDAT", new Uint8Array(deflateSync(new Uint8Array(raw)))));
  parts.push(pngChunk("IEND", new Uint8Array(0)));
  return joinBytes(parts);
}

/** A PNG whose IHDR claims width×height but carries no pixel data worth the name. */
export function pngHeaderOnly(width: number, height: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return joinBytes([
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", new Uint8Array(deflateSync(new Uint8Array(16)))),
    pngChunk("IEND", new Uint8Array(0)),
  ]);
}

/** Inserts an APP1 Exif segment with the given orientation right after the JPEG's SOI. */
export function withExifOrientation(
  jpeg: Uint8Array,
  orientation: number,
  littleEndian = false,
): Uint8Array {
  // "Exif\0\0", then a TIFF header and IFD0 with one SHORT entry: tag 0x0112 = orientation.
  const tiff = new Uint8Array(8 + 2 + 12 + 4);
  const view = new DataView(tiff.buffer);
  view.setUint16(0, littleEndian ? 0x4949 : 0x4d4d);
  view.setUint16(2, 42, littleEndian);
  view.setUint32(4, 8, littleEndian);
  view.setUint16(8, 1, littleEndian);
  view.setUint16(10, 0x0112, littleEndian);
  view.setUint16(12, 3, littleEndian); // type SHORT
  view.setUint32(14, 1, littleEndian); // count
  view.setUint16(18, orientation, littleEndian);
  const body = joinBytes([new Uint8Array([0x45, 0x78, 0x69, 0x66, 0, 0]), tiff]);
  const segment = new Uint8Array(4 + body.length);
  segment.set([0xff, 0xe1, (body.length + 2) >> 8, (body.length + 2) & 0xff]);
  segment.set(body, 4);
  return joinBytes([jpeg.subarray(0, 2), segment, jpeg.subarray(2)]);
}

/** Replaces the 16-bit height and width of a JPEG's first SOFn segment. */
export function withJpegSize(jpeg: Uint8Array, height: number, width: number): Uint8Array {
  const out = jpeg.slice();
  let at = 2;
  while (at + 4 < out.length) {
    const marker = out[at + 1]!;
    const length = (out[at + 2]! << 8) | out[at + 3]!;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      out.set([height >> 8, height & 0xff, width >> 8, width & 0xff], at + 5);
      return out;
    }
    at += 2 + length;
  }
  throw new Error("withJpegSize: no frame header");
}

/**
 * A minimal valid GIF89a: a global palette of up to 4 colours and one frame of `indices`,
 * covering the whole screen unless `frame` gives its rectangle.
 */
export function buildGif(
  width: number,
  height: number,
  palette: [number, number, number][],
  indices: number[],
  frame: { x: number; y: number; width: number; height: number } = { x: 0, y: 0, width, height },
): Uint8Array {
  // LZW with minimum code size 2 and a clear code before every pixel keeps the encoder trivial.
  const codes: number[] = [];
  for (const index of indices) codes.push(4, index);
  codes.push(5);
  const bits: number[] = [];
  for (const code of codes) for (let b = 0; b < 3; b++) bits.push((code >> b) & 1);
  const data: number[] = [];
  for (let i = 0; i < bits.length; i += 8) {
    let byte = 0;
    for (let b = 0; b < 8 && i + b < bits.length; b++) byte |= bits[i + b]! << b;
    data.push(byte);
  }
  const blocks: number[] = [];
  for (let i = 0; i < data.length; i += 255) {
    const part = data.slice(i, i + 255);
    blocks.push(part.length, ...part);
  }
  const table = palette.concat(Array(4 - palette.length).fill([0, 0, 0])).slice(0, 4).flat();
  return new Uint8Array([
    ...new TextEncoder().encode("GIF89a"),
    width & 0xff,
    width >> 8,
    height & 0xff,
    height >> 8,
    0x81, // global colour table of 2^(1+1) = 4 entries
    0,
    0,
    ...table,
    0x2c, // image descriptor
    frame.x,
    0,
    frame.y,
    0,
    frame.width,
    0,
    frame.height,
    0,
    0,
    2, // LZW minimum code size
    ...blocks,
    0,
    0x3b,
  ]);
}

/**
 * A baseline 1-component (gray) JPEG of 8×8 blocks side by side, each a flat block of
 * `levels[i]` (a multiple of 8 away from 128 decodes exactly). Hand-assembled: quantiser all 1,
 * a DC table holding categories 0–11 as 4-bit codes, an AC table holding only EOB.
 */
export function buildGrayJpeg(levels: number[]): Uint8Array {
  const bits: number[] = [];
  const put = (value: number, length: number) => {
    for (let b = length - 1; b >= 0; b--) bits.push((value >> b) & 1);
  };
  let previous = 0;
  for (const level of levels) {
    // A flat block's DC coefficient is 8·(level − 128) (the JPEG DCT scales DC by N/8 = 1·8).
    const dc = 8 * (level - 128);
    const diff = dc - previous;
    previous = dc;
    const category = diff === 0 ? 0 : Math.floor(Math.log2(Math.abs(diff))) + 1;
    put(category, 4); // DC code: 12 symbols of length 4, codes 0000…1011 in symbol order
    if (category > 0) put(diff > 0 ? diff : diff + (1 << category) - 1, category);
    put(0, 1); // EOB, the AC table's only code
  }
  while (bits.length % 8 !== 0) bits.push(1);
  const scan: number[] = [];
  for (let i = 0; i < bits.length; i += 8) {
    let byte = 0;
    for (let b = 0; b < 8; b++) byte = (byte << 1) | bits[i + b]!;
    scan.push(byte);
    if (byte === 0xff) scan.push(0); // byte stuffing
  }
  const segment = (
    marker: number,
    body: number[],
  ) => [0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 0xff, ...body];
  const width = 8 * levels.length;
  const dcCounts = [0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  const acCounts = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  return new Uint8Array([
    0xff,
    0xd8,
    ...segment(0xdb, [0, ...Array(64).fill(1)]),
    ...segment(0xc0, [8, 0, 8, width >> 8, width & 0xff, 1, 1, 0x11, 0]),
    ...segment(0xc4, [0x00, ...dcCounts, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
    ...segment(0xc4, [0x10, ...acCounts, 0]),
    ...segment(0xda, [1, 1, 0x00, 0, 63, 0]),
    ...scan,
    0xff,
    0xd9,
  ]);
}
