/**
 * Decoder fuzz: mutations of valid PNG, JPEG and GIF files (bit flips, byte sets, truncations,
 * chunk and segment length edits, dimension edits, body edits with the CRC fixed so the damage
 * reaches past the checksum, insertions, splices) go through `decodeImage` in a worker. Every
 * case must give a valid image within the pixel limit or one `InputError` of one line naming
 * the file; none may take over 1 s or allocate past what the pixel limit allows.
 *
 * `deno task test` runs a bounded number of cases; `deno task test:faults` (DIPLINE_FAULTS=full)
 * runs 20,000. DIPLINE_FUZZ_CASES=N sets the count, DIPLINE_FUZZ_ONLY=id reruns one case.
 */
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { makeImage } from "../core/image.ts";
import { decodeImage, loadImage, maxFileBytes } from "../image/load.ts";
import { encodeImage } from "../image/save.ts";
import { testCard } from "../image/testcard.ts";
import { buildGif, buildGrayJpeg, buildPng } from "./fixtures.ts";
import type { FuzzCase, FuzzResult } from "./fuzz_worker.ts";

const FULL = Deno.env.get("DIPLINE_FAULTS") === "full";
const CASES = Number(Deno.env.get("DIPLINE_FUZZ_CASES") ?? (FULL ? 20_000 : 600));
const ONLY = Deno.env.get("DIPLINE_FUZZ_ONLY");
/** The pixel limit every case is decoded with (256 × 256). */
const MAX_PIXELS = 1 << 16;
/** A case slower than this is a failure. */
const SLOW_MS = 1_000;
/** A case that has not answered after this is a hang: the worker is terminated. */
const HANG_MS = 10_000;
/**
 * No case may allocate more than this in the worker (heap plus array buffers and WebAssembly
 * memories): a decode within the 256 × 256 limit needs a few MiB, one past it gigabytes.
 */
const CASE_ALLOC_BYTES = 64 * 2 ** 20;

type Format = "png" | "jpeg" | "gif";
interface Seed {
  readonly name: string;
  readonly format: Format;
  readonly bytes: Uint8Array;
}

async function seeds(): Promise<Seed[]> {
  const card = testCard(16, 16);
  const gray = makeImage(1, 12, 10, card.data.slice(0, 120), "gray");
  const indices = Array.from({ length: 12 * 9 }, (_, i) => (i * 7) % 16);
  return [
    { name: "png-rgb8", format: "png", bytes: await encodeImage(card, { format: "png" }) },
    {
      name: "png-gray16",
      format: "png",
      bytes: await encodeImage(gray, { format: "png", bitDepth: 16 }),
    },
    {
      name: "png-palette4-interlaced",
      format: "png",
      bytes: buildPng({
        width: 12,
        height: 9,
        colorType: 3,
        bitDepth: 4,
        samples: indices,
        palette: Array.from({ length: 16 }, (_, i) => [i * 16, 255 - i * 16, i * 8]),
        interlace: true,
      }),
    },
    {
      name: "png-gray1",
      format: "png",
      bytes: buildPng({
        width: 9,
        height: 5,
        colorType: 0,
        bitDepth: 1,
        samples: Array.from({ length: 45 }, (_, i) => i % 3 === 0 ? 1 : 0),
      }),
    },
    {
      name: "png-rgba16",
      format: "png",
      bytes: buildPng({
        width: 4,
        height: 3,
        colorType: 6,
        bitDepth: 16,
        samples: Array.from({ length: 48 }, (_, i) => (i * 4099) % 65536),
      }),
    },
    {
      name: "jpeg-rgb",
      format: "jpeg",
      bytes: await encodeImage(card, { format: "jpeg", quality: 90 }),
    },
    { name: "jpeg-gray", format: "jpeg", bytes: buildGrayJpeg([64, 128, 192, 136]) },
    {
      name: "gif",
      format: "gif",
      bytes: buildGif(
        5,
        4,
        [[255, 0, 0], [0, 255, 0], [0, 0, 255]],
        Array(20).fill(0).map((_, i) => i % 3),
      ),
    },
    {
      name: "gif-frame",
      format: "gif",
      bytes: buildGif(6, 5, [[0, 0, 0], [255, 255, 255]], [0, 1, 1, 0, 1, 0], {
        x: 1,
        y: 2,
        width: 3,
        height: 2,
      }),
    },
  ];
}

/** mulberry32: a small seeded generator, so case `id` is the same mutation on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Region {
  /** Where the length field starts, how wide it is (bytes, big-endian unless `little`). */
  readonly lengthAt: number;
  readonly lengthBytes: 1 | 2 | 4;
  readonly little?: boolean;
  /** The body the length covers. */
  readonly bodyAt: number;
  readonly bodyLength: number;
  /** PNG: the CRC covers type + body (4 bytes before the body) and sits after it. */
  readonly crc?: boolean;
  readonly kind: string;
}

/** The length-prefixed regions of a file: PNG chunks, JPEG marker segments, GIF sub-blocks. */
function regions(bytes: Uint8Array, format: Format): Region[] {
  const out: Region[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === "png") {
    for (let at = 8; at + 12 <= bytes.length;) {
      const length = view.getUint32(at);
      if (at + 12 + length > bytes.length) break;
      const kind = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
      out.push({
        lengthAt: at,
        lengthBytes: 4,
        bodyAt: at + 8,
        bodyLength: length,
        crc: true,
        kind,
      });
      at += 12 + length;
    }
  } else if (format === "jpeg") {
    for (let at = 2; at + 4 <= bytes.length;) {
      if (bytes[at] !== 0xff) break;
      const marker = bytes[at + 1]!;
      if (marker === 0xd9) break;
      const length = view.getUint16(at + 2);
      out.push({
        lengthAt: at + 2,
        lengthBytes: 2,
        bodyAt: at + 4,
        bodyLength: length - 2,
        kind: `FF${marker.toString(16).toUpperCase()}`,
      });
      if (marker === 0xda) {
        out.push({
          lengthAt: -1,
          lengthBytes: 1,
          bodyAt: at + 2 + length,
          bodyLength: bytes.length - 4 - at - length,
          kind: "scan",
        });
        break;
      }
      at += 2 + length;
    }
  } else {
    const flags = bytes[10]!;
    let at = 13 + (flags & 0x80 ? 3 * (2 << (flags & 7)) : 0);
    out.push({ lengthAt: -1, lengthBytes: 1, bodyAt: 6, bodyLength: 7, kind: "screen" });
    while (at < bytes.length && bytes[at] !== 0x3b) {
      if (bytes[at] === 0x2c) {
        out.push({
          lengthAt: -1,
          lengthBytes: 1,
          bodyAt: at + 1,
          bodyLength: 9,
          kind: "descriptor",
        });
        at += 10;
        if (at < bytes.length) at += 1; // LZW minimum code size
      } else if (bytes[at] === 0x21) at += 2;
      else break;
      while (at < bytes.length && bytes[at] !== 0) {
        const length = bytes[at]!;
        out.push({
          lengthAt: at,
          lengthBytes: 1,
          bodyAt: at + 1,
          bodyLength: length,
          kind: "sub-block",
        });
        at += 1 + length;
      }
      at += 1;
    }
  }
  return out;
}

function fixCrc(bytes: Uint8Array, region: Region): void {
  if (!region.crc) return;
  const end = region.bodyAt + region.bodyLength;
  if (end + 4 > bytes.length) return;
  const crc = crc32(bytes.subarray(region.bodyAt - 4, end)) >>> 0;
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(end, crc);
}

const LENGTHS = [0, 1, 2, 3, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];
const DIMENSIONS = [0, 1, 2, 7, 255, 256, 257, 4096, 65535, 65536, 0x7fffffff, 0xffffffff];

function writeNumber(bytes: Uint8Array, at: number, width: 1 | 2 | 4, value: number): void {
  for (let b = 0; b < width; b++) bytes[at + b] = (value >>> (8 * (width - 1 - b))) & 0xff;
}

const MUTATORS = [
  "bit-flip",
  "byte-set",
  "truncate",
  "length-edit",
  "dimension-edit",
  "body-edit-crc-fixed",
  "insert",
  "splice",
] as const;
type Mutator = (typeof MUTATORS)[number];

/** Case `id`: one seed, one to three mutations, all drawn from `id`. */
function makeCase(
  id: number,
  all: readonly Seed[],
): { seed: Seed; mutators: Mutator[]; bytes: Uint8Array } {
  const rand = random(id * 2654435761);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const seed = all[id % all.length]!;
  let bytes = seed.bytes.slice();
  const count = rand() < 0.7 ? 1 : 1 + Math.floor(rand() * 3);
  const mutators: Mutator[] = [];
  for (let m = 0; m < count; m++) {
    const mutator = m === 0
      ? MUTATORS[Math.floor(id / all.length) % MUTATORS.length]!
      : pick(MUTATORS);
    mutators.push(mutator);
    const at = () => Math.floor(rand() * bytes.length);
    let list: Region[] = [];
    try {
      list = regions(bytes, seed.format);
    } catch { /* a file cut short by an earlier mutation */ }
    try {
      switch (mutator) {
        case "bit-flip":
          for (let i = 1 + Math.floor(rand() * 8); i > 0; i--) {
            bytes[at()]! ^= 1 << Math.floor(rand() * 8);
          }
          break;
        case "byte-set":
          for (let i = 1 + Math.floor(rand() * 4); i > 0; i--) {
            bytes[at()] = pick([0, 0xff, 0x80, Math.floor(rand() * 256)]);
          }
          break;
        case "truncate":
          bytes = bytes.slice(0, at());
          break;
        case "length-edit": {
          const region = pick(list.filter((r) => r.lengthAt >= 0));
          if (!region) break;
          const value = rand() < 0.5
            ? pick(LENGTHS)
            : region.bodyLength + Math.floor(rand() * 9) - 4 + (region.lengthBytes === 2 ? 2 : 0);
          writeNumber(bytes, region.lengthAt, region.lengthBytes, value >>> 0);
          break;
        }
        case "dimension-edit": {
          const value = pick(DIMENSIONS);
          const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          if (seed.format === "png") {
            const ihdr = list.find((r) => r.kind === "IHDR");
            if (!ihdr) break;
            view.setUint32(ihdr.bodyAt + (rand() < 0.5 ? 0 : 4), value >>> 0);
            if (rand() < 0.3) view.setUint32(ihdr.bodyAt + 4, pick(DIMENSIONS) >>> 0);
            fixCrc(bytes, ihdr);
          } else if (seed.format === "jpeg") {
            const sof = list.find((r) => /^FFC[0-3]$/.test(r.kind));
            if (!sof) break;
            view.setUint16(sof.bodyAt + (rand() < 0.5 ? 1 : 3), value & 0xffff);
          } else {
            const target = pick(list.filter((r) => r.kind === "screen" || r.kind === "descriptor"));
            if (!target) break;
            const offset = target.kind === "screen" ? 0 : 4;
            view.setUint16(target.bodyAt + offset + (rand() < 0.5 ? 0 : 2), value & 0xffff, true);
          }
          break;
        }
        case "body-edit-crc-fixed": {
          const region = pick(list.filter((r) => r.bodyLength > 0));
          if (!region) break;
          for (let i = 1 + Math.floor(rand() * 4); i > 0; i--) {
            const k = region.bodyAt + Math.floor(rand() * region.bodyLength);
            if (k < bytes.length) {
              bytes[k] = rand() < 0.5
                ? bytes[k]! ^ (1 << Math.floor(rand() * 8))
                : Math.floor(rand() * 256);
            }
          }
          fixCrc(bytes, region);
          break;
        }
        case "insert": {
          const k = at();
          const from = at();
          const piece = rand() < 0.5
            ? bytes.slice(from, from + 1 + Math.floor(rand() * 64)) // a duplicated range
            : Uint8Array.from(
              { length: 1 + Math.floor(rand() * 16) },
              () => Math.floor(rand() * 256),
            );
          const out = new Uint8Array(bytes.length + piece.length);
          out.set(bytes.subarray(0, k));
          out.set(piece, k);
          out.set(bytes.subarray(k), k + piece.length);
          bytes = out;
          break;
        }
        case "splice": {
          const other = pick(all.filter((s) => s.format === seed.format)).bytes;
          const k = at();
          const j = Math.floor(rand() * other.length);
          const out = new Uint8Array(k + other.length - j);
          out.set(bytes.subarray(0, k));
          out.set(other.subarray(j), k);
          bytes = out;
          break;
        }
      }
    } catch (error) {
      // an earlier mutation cut the region this one edits short: leave the bytes as they are
      if (!(error instanceof RangeError)) throw error;
    }
  }
  return { seed, mutators, bytes };
}

/** Runs cases on a worker, restarting it after a hang. */
class FuzzRunner {
  #worker = this.#spawn();
  #spawn(): Worker {
    return new Worker(new URL("./fuzz_worker.ts", import.meta.url), { type: "module" });
  }
  run(c: FuzzCase): Promise<FuzzResult | "hang"> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#worker.terminate();
        this.#worker = this.#spawn();
        resolve("hang");
      }, HANG_MS);
      this.#worker.onmessage = (event: MessageEvent<FuzzResult>) => {
        clearTimeout(timer);
        resolve(event.data);
      };
      this.#worker.postMessage(c, [c.bytes.buffer as ArrayBuffer]);
    });
  }
  close(): void {
    this.#worker.terminate();
  }
}

Deno.test(`decoder fuzz: ${ONLY ? `case ${ONLY}` : `${CASES} mutated PNG/JPEG/GIF files`} never crash, hang or overrun the pixel limit`, async () => {
  const all = await seeds();
  const runner = new FuzzRunner();
  const failures: string[] = [];
  const byFormat: Record<string, number> = {};
  const byMutator: Record<string, number> = {};
  const outcomes: Record<string, number> = {};
  let slowest = { ms: 0, id: -1 };
  let peakRss = 0;
  let largest = { bytes: 0, id: -1 };
  const ids = ONLY ? [Number(ONLY)] : Array.from({ length: CASES }, (_, i) => i);
  const started = performance.now();
  try {
    for (const id of ids) {
      const { seed, mutators, bytes } = makeCase(id, all);
      byFormat[seed.format] = (byFormat[seed.format] ?? 0) + 1;
      for (const m of mutators) byMutator[m] = (byMutator[m] ?? 0) + 1;
      const label = `case ${id} (${seed.name}: ${mutators.join(" + ")}, ${bytes.length} bytes)`;
      const result = await runner.run({ id, bytes, maxPixels: MAX_PIXELS });
      if (result === "hang") {
        failures.push(`${label}: no answer after ${HANG_MS} ms (hang)`);
        outcomes.hang = (outcomes.hang ?? 0) + 1;
        continue;
      }
      const { outcome, ms, rss, allocated } = result;
      if (ms > slowest.ms) slowest = { ms, id };
      peakRss = Math.max(peakRss, rss);
      if (allocated > largest.bytes) largest = { bytes: allocated, id };
      if (allocated > CASE_ALLOC_BYTES) {
        failures.push(`${label}: allocated ${(allocated / 2 ** 20).toFixed(0)} MiB`);
      }
      if (ms > SLOW_MS) failures.push(`${label}: took ${ms.toFixed(0)} ms`);
      if (outcome.ok) {
        outcomes.decoded = (outcomes.decoded ?? 0) + 1;
        if (!outcome.valid) {
          failures.push(`${label}: decoded an invalid image ${outcome.shape.join("×")}`);
        }
      } else {
        const kind = outcome.errorName === "InputError"
          ? outcome.message.replace(/^case-\d+\.bin: /, "").replace(/[ (].*$/, "")
          : outcome.errorName;
        outcomes[`InputError ${kind}`] = (outcomes[`InputError ${kind}`] ?? 0) + 1;
        if (outcome.errorName !== "InputError") {
          failures.push(`${label}: ${outcome.errorName}: ${outcome.message.split("\n")[0]}`);
        } else if (
          outcome.message.includes("\n") || !outcome.message.startsWith(`case-${id}.bin: `)
        ) {
          failures.push(
            `${label}: not one line naming the file: ${JSON.stringify(outcome.message)}`,
          );
        }
      }
    }
  } finally {
    runner.close();
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `fuzz: ${ids.length} cases in ${seconds.toFixed(1)} s; formats ${JSON.stringify(byFormat)}; ` +
      `mutations ${JSON.stringify(byMutator)}; outcomes ${JSON.stringify(outcomes)}; ` +
      `slowest ${slowest.ms.toFixed(1)} ms (case ${slowest.id}); largest allocation ` +
      `${(largest.bytes / 2 ** 20).toFixed(1)} MiB (case ${largest.id}); process peak RSS ` +
      `${(peakRss / 2 ** 20).toFixed(0)} MiB; ${failures.length} failures`,
  );
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failing cases`);
});

Deno.test("loadImage() refuses, unread, a file larger than any image within the pixel limit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-fuzz-" });
  const path = `${dir}/huge.png`;
  await Deno.writeFile(path, await encodeImage(testCard(8, 8), { format: "png" }));
  await Deno.truncate(path, maxFileBytes(1000) + 1); // sparse: nothing is written
  await assert.rejects(
    loadImage(path, { maxPixels: 1000 }),
    /huge\.png: file too large for the pixel limit \(\d+ bytes; at most \d+ for 1000 pixels\)/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a JPEG with a second frame header is refused before the decoder sizes itself by it", async () => {
  const jpeg = await encodeImage(testCard(16, 16), { format: "jpeg", quality: 75 });
  const sof = regions(jpeg, "jpeg").find((r) => r.kind === "FFC0")!;
  const segment = jpeg.slice(sof.lengthAt - 2, sof.bodyAt + sof.bodyLength);
  const huge = segment.slice();
  huge.set([0xff, 0xf0, 0xff, 0xf0], 5); // 65520 × 65520
  const doubled = new Uint8Array(jpeg.length + segment.length);
  doubled.set(jpeg.subarray(0, sof.lengthAt - 2));
  doubled.set(huge, sof.lengthAt - 2);
  doubled.set(jpeg.subarray(sof.lengthAt - 2), sof.lengthAt - 2 + huge.length);
  await assert.rejects(
    decodeImage(doubled, "two.jpg", { maxPixels: MAX_PIXELS }),
    /two\.jpg: damaged JPEG \(a second frame header\)/,
  );
});
