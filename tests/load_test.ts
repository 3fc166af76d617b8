import assert from "node:assert/strict";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import { decodeImage, IMAGE_EXTENSIONS, loadImage } from "../image/load.ts";
import { encodeImage } from "../image/save.ts";
import { makeImage } from "../core/image.ts";
import { testCard } from "../image/testcard.ts";
import { InputError } from "../core/errors.ts";
import {
  buildGif,
  buildGrayJpeg,
  buildPng,
  pngHeaderOnly,
  tempDir,
  withExifOrientation,
  withJpegSize,
} from "./fixtures.ts";

const f = Math.fround;

/** Asserts that `promise` rejects with one InputError whose one-line message names `file`. */
async function assertInputError(
  promise: Promise<unknown>,
  file: string,
  reason: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof InputError, `expected InputError, got ${String(error)}`);
    assert.equal(error.file, file);
    assert.ok(error.message.startsWith(`${file}: `), error.message);
    assert.ok(!error.message.includes("\n"), `one line: ${error.message}`);
    assert.match(error.message, reason);
    return true;
  });
}

Deno.test("decodeImage() keeps 16-bit PNG precision: 257·k maps to k/255, 1000 to 1000/65535", async () => {
  const samples = [0, 257 * 1, 257 * 128, 257 * 255, 1000, 65535];
  const png = buildPng({ width: 3, height: 2, colorType: 0, bitDepth: 16, samples });
  const image = await decodeImage(png, "deep.png");
  assert.equal(image.channels, 1);
  assert.deepEqual([image.height, image.width], [2, 3]);
  assert.deepEqual(Array.from(image.data), [0, f(1 / 255), f(128 / 255), 1, f(1000 / 65535), 1]);
});

Deno.test("decodeImage() reads 16-bit RGB written by encodeImage() back exactly", async () => {
  const card = testCard(16, 24);
  const levels = card.data.map((v) => Math.round(v * 65535) / 65535);
  const image = makeImage(3, 16, 24, levels, "card");
  const back = await decodeImage(
    await encodeImage(image, { format: "png", bitDepth: 16 }),
    "card.png",
  );
  assert.equal(back.channels, 3);
  for (let i = 0; i < levels.length; i++) assert.equal(back.data[i], levels[i]);
});

Deno.test("decodeImage() reads 8-bit gray, gray+alpha, RGB and RGBA PNGs, ignoring alpha", async () => {
  const gray = await decodeImage(
    buildPng({ width: 2, height: 1, colorType: 0, bitDepth: 8, samples: [0, 51] }),
    "g.png",
  );
  assert.deepEqual([gray.channels, ...gray.data], [1, 0, f(51 / 255)]);
  const grayAlpha = await decodeImage(
    buildPng({ width: 2, height: 1, colorType: 4, bitDepth: 8, samples: [10, 0, 200, 255] }),
    "ga.png",
  );
  assert.deepEqual([grayAlpha.channels, ...grayAlpha.data], [1, f(10 / 255), f(200 / 255)]);
  const rgb = await decodeImage(
    buildPng({
      width: 2,
      height: 1,
      colorType: 2,
      bitDepth: 8,
      samples: [255, 0, 51, 0, 102, 255],
    }),
    "rgb.png",
  );
  // Planar: all reds, then all greens, then all blues.
  assert.deepEqual([rgb.channels, ...rgb.data], [3, 1, 0, 0, f(102 / 255), f(51 / 255), 1]);
  const rgba = await decodeImage(
    buildPng({
      width: 1,
      height: 2,
      colorType: 6,
      bitDepth: 8,
      samples: [255, 51, 0, 0, 0, 102, 255, 128],
    }),
    "rgba.png",
  );
  assert.deepEqual([rgba.channels, ...rgba.data], [3, 1, 0, f(51 / 255), f(102 / 255), 0, 1]);
});

Deno.test("decodeImage() expands palette and 1/2/4-bit gray PNGs", async () => {
  const palette: [number, number, number][] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [
    255,
    255,
    255,
  ]];
  const indexed = await decodeImage(
    buildPng({ width: 3, height: 1, colorType: 3, bitDepth: 2, samples: [2, 0, 3], palette }),
    "p.png",
  );
  assert.deepEqual([indexed.channels, ...indexed.data], [3, 0, 1, 1, 0, 0, 1, 1, 0, 1]);
  // 1-bit, width 10 so the row spans two bytes with padding bits.
  const bits = [1, 0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 1];
  const oneBit = await decodeImage(
    buildPng({ width: 10, height: 2, colorType: 0, bitDepth: 1, samples: bits }),
    "bits.png",
  );
  assert.equal(oneBit.channels, 1);
  assert.deepEqual(Array.from(oneBit.data), bits);
  const nibbles = await decodeImage(
    buildPng({ width: 3, height: 1, colorType: 0, bitDepth: 4, samples: [0, 5, 15] }),
    "n.png",
  );
  assert.deepEqual(Array.from(nibbles.data), [0, f(5 / 15), 1]);
  const twoBit = await decodeImage(
    buildPng({ width: 5, height: 1, colorType: 0, bitDepth: 2, samples: [0, 1, 2, 3, 1] }),
    "t.png",
  );
  assert.deepEqual(Array.from(twoBit.data), [0, f(1 / 3), f(2 / 3), 1, f(1 / 3)]);
});

Deno.test("decodeImage() de-interlaces Adam7 PNGs to the same pixels", async () => {
  const width = 11;
  const height = 9;
  const samples = Array.from({ length: width * height * 3 }, (_, i) => (i * 2654435761) % 65536);
  const spec = { width, height, colorType: 2, bitDepth: 16, samples } as const;
  const plain = await decodeImage(buildPng(spec), "plain.png");
  const interlaced = await decodeImage(buildPng({ ...spec, interlace: true }), "adam7.png");
  assert.deepEqual(interlaced, { ...plain, name: "adam7.png" });
  assert.equal(plain.data[0], f(samples[0]! / 65535));
});

Deno.test("decodeImage() replicates gray to RGB when keepGray is false", async () => {
  const png = buildPng({ width: 2, height: 1, colorType: 0, bitDepth: 8, samples: [0, 255] });
  const image = await decodeImage(png, "g.png", { keepGray: false });
  assert.deepEqual([image.channels, ...image.data], [3, 0, 1, 0, 1, 0, 1]);
});

Deno.test("decodeImage() reads a gray JPEG as one channel", async () => {
  const image = await decodeImage(buildGrayJpeg([64, 192]), "gray.jpg");
  assert.deepEqual([image.channels, image.height, image.width], [1, 8, 16]);
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 16; x++) assert.equal(image.data[y * 16 + x], f((x < 8 ? 64 : 192) / 255));
  }
});

/** A 16×24 RGB image with four flat quadrants: red, green / blue, white. */
function quadrants() {
  const h = 16;
  const w = 24;
  const colours = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]];
  const data = new Float32Array(3 * h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const q = (y < h / 2 ? 0 : 2) + (x < w / 2 ? 0 : 1);
      for (let c = 0; c < 3; c++) data[c * h * w + y * w + x] = colours[q]![c]!;
    }
  }
  return makeImage(3, h, w, data, "quadrants");
}

/** The stored quadrant (TL, TR, BL, BR) nearest to a pixel's colour. */
function quadrantAt(image: ReturnType<typeof quadrants>, y: number, x: number): string {
  const plane = image.height * image.width;
  const [r, g, b] = [0, 1, 2].map((c) => image.data[c * plane + y * image.width + x]! > 0.5);
  return r && g && b ? "BR" : r ? "TL" : g ? "TR" : "BL";
}

Deno.test("decodeImage() honours all 8 EXIF orientations in both byte orders", async () => {
  const jpeg = await encodeImage(quadrants(), { format: "jpeg", quality: 100 });
  // Which stored corner a viewer sees at display top-left, top-right and bottom-left (EXIF 2.3).
  const expected: Record<number, [string, string, string]> = {
    1: ["TL", "TR", "BL"],
    2: ["TR", "TL", "BR"], // mirrored left-right
    3: ["BR", "BL", "TR"], // rotated 180°
    4: ["BL", "BR", "TL"], // mirrored top-bottom
    5: ["TL", "BL", "TR"], // transposed
    6: ["BL", "TL", "BR"], // the viewer turns it 90° clockwise
    7: ["BR", "TR", "BL"], // transversed
    8: ["TR", "BR", "TL"], // the viewer turns it 90° counter-clockwise
  };
  for (const little of [false, true]) {
    for (let orientation = 1; orientation <= 8; orientation++) {
      const image = await decodeImage(withExifOrientation(jpeg, orientation, little), "o.jpg");
      const swapped = orientation >= 5;
      assert.deepEqual(
        [image.height, image.width],
        swapped ? [24, 16] : [16, 24],
        `orientation ${orientation}`,
      );
      const seen = [
        quadrantAt(image, 1, 1),
        quadrantAt(image, 1, image.width - 2),
        quadrantAt(image, image.height - 2, 1),
      ];
      assert.deepEqual(
        seen,
        expected[orientation],
        `orientation ${orientation}, little-endian ${little}`,
      );
    }
  }
});

Deno.test("decodeImage() reads the first frame of a GIF as RGB", async () => {
  const gif = buildGif(3, 2, [[255, 0, 0], [0, 255, 0], [0, 0, 255]], [0, 1, 2, 2, 1, 0]);
  const image = await decodeImage(gif, "a.gif");
  assert.deepEqual([image.channels, image.height, image.width], [3, 2, 3]);
  assert.deepEqual(Array.from(image.data), [1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0]);
});

Deno.test("decodeImage() places a smaller first GIF frame at its offset on the screen", async () => {
  const gif = buildGif(4, 3, [[255, 255, 255], [0, 0, 255]], [0, 1, 1, 0], {
    x: 1,
    y: 1,
    width: 2,
    height: 2,
  });
  const image = await decodeImage(gif, "offset.gif");
  assert.deepEqual([image.height, image.width], [3, 4]);
  const blue = Array.from(image.data.subarray(24, 36));
  const red = Array.from(image.data.subarray(0, 12));
  // Outside the frame: transparent black. Inside: white, blue / blue, white.
  assert.deepEqual(red, [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]);
  assert.deepEqual(blue, [0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0]);
});

Deno.test("loadImage() reads a file and names the image after its path", async () => {
  const dir = await tempDir();
  const path = join(dir, "small.png");
  await Deno.writeFile(
    path,
    buildPng({ width: 1, height: 1, colorType: 0, bitDepth: 8, samples: [255] }),
  );
  const image = await loadImage(path);
  assert.deepEqual([image.name, image.channels, ...image.data], [path, 1, 1]);
  assert.ok(IMAGE_EXTENSIONS.includes(".png") && IMAGE_EXTENSIONS.includes(".jpg"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadImage() refuses missing paths, folders, empty and non-image files", async () => {
  const dir = await tempDir();
  await assertInputError(loadImage(join(dir, "nope.png")), join(dir, "nope.png"), /not found/);
  await assertInputError(loadImage(dir), dir, /folder/);
  await Deno.writeFile(join(dir, "empty.png"), new Uint8Array(0));
  await assertInputError(loadImage(join(dir, "empty.png")), join(dir, "empty.png"), /empty/);
  await Deno.writeTextFile(join(dir, "notes.png"), "just some text, not pixels");
  await assertInputError(
    loadImage(join(dir, "notes.png")),
    join(dir, "notes.png"),
    /not a supported image/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("decodeImage() refuses truncated and damaged PNGs with one clear reason", async () => {
  const png = buildPng({
    width: 8,
    height: 8,
    colorType: 2,
    bitDepth: 8,
    samples: Array.from({ length: 192 }, (_, i) => i),
  });
  await assertInputError(
    decodeImage(png.subarray(0, png.length - 12), "a.png"),
    "a.png",
    /IEND chunk missing/,
  );
  await assertInputError(decodeImage(png.subarray(0, 60), "b.png"), "b.png", /truncated PNG/);
  await assertInputError(decodeImage(png.subarray(0, 8), "c.png"), "c.png", /truncated PNG/);
  const badCrc = png.slice();
  badCrc[50]! ^= 0x40; // inside the IDAT data
  await assertInputError(decodeImage(badCrc, "d.png"), "d.png", /bad CRC in IDAT/);
  // A corrupt zlib stream under a valid CRC: rebuild the IDAT around garbage.
  const garbage = buildPng({
    width: 8,
    height: 8,
    colorType: 0,
    bitDepth: 8,
    samples: Array(64).fill(7),
  });
  const idatAt = findChunk(garbage, "IDAT");
  const length = new DataView(garbage.buffer).getUint32(idatAt - 4);
  const bad = garbage.slice();
  bad.fill(0xa5, idatAt + 6, idatAt + 4 + length); // keep the 2-byte zlib header
  fixCrc(bad, idatAt - 4);
  await assertInputError(decodeImage(bad, "e.png"), "e.png", /damaged PNG \(corrupt image data/);
  // Too little data: a valid stream that inflates to fewer bytes than the header needs.
  const short = pngWithIdat(8, 8, deflateSync(new Uint8Array(10)));
  await assertInputError(
    decodeImage(short, "f.png"),
    "f.png",
    /image data is 10 bytes, expected 72/,
  );
});

Deno.test("decodeImage() refuses absurd dimensions from the header, before decoding", async () => {
  await assertInputError(
    decodeImage(pngHeaderOnly(100000, 100000), "huge.png"),
    "huge.png",
    /image too large \(100000×100000 = 10000000000 pixels, limit 40000000\)/,
  );
  await assertInputError(
    decodeImage(pngHeaderOnly(64, 64), "small.png", { maxPixels: 1000 }),
    "small.png",
    /image too large .* limit 1000/,
  );
  const jpeg = await encodeImage(testCard(16, 16), { format: "jpeg" });
  await assertInputError(
    decodeImage(withJpegSize(jpeg, 65000, 65000), "huge.jpg"),
    "huge.jpg",
    /image too large/,
  );
  const gif = buildGif(2, 1, [[0, 0, 0], [255, 255, 255]], [0, 1]);
  gif.set([0xff, 0xff, 0xff, 0xff], 6);
  await assertInputError(decodeImage(gif, "huge.gif"), "huge.gif", /image too large \(65535×65535/);
  const bigFrame = buildGif(2, 1, [[0, 0, 0], [255, 255, 255]], [0, 1], {
    x: 0,
    y: 0,
    width: 2,
    height: 1,
  });
  bigFrame.set([0xff, 0xff, 0xff, 0xff], 13 + 12 + 5); // the frame's width and height
  await assertInputError(
    decodeImage(bigFrame, "frame.gif"),
    "frame.gif",
    /image too large \(65535×65535/,
  );
});

Deno.test("decodeImage() refuses truncated and damaged JPEGs and GIFs", async () => {
  const jpeg = await encodeImage(testCard(32, 32), { format: "jpeg", quality: 80 });
  await assertInputError(
    decodeImage(jpeg.subarray(0, jpeg.length - 100), "cut.jpg"),
    "cut.jpg",
    /truncated JPEG/,
  );
  await assertInputError(
    decodeImage(jpeg.subarray(0, 40), "head.jpg"),
    "head.jpg",
    /truncated JPEG/,
  );
  // Scan data replaced by noise: the decoder either copes or fails, never throws its own error.
  const noisy = jpeg.slice();
  for (let i = noisy.length - 400; i < noisy.length - 2; i++) noisy[i] = (i * 7919) % 255;
  try {
    const image = await decodeImage(noisy, "noise.jpg");
    assert.deepEqual([image.height, image.width], [32, 32]);
  } catch (error) {
    assert.ok(
      error instanceof InputError && error.message.startsWith("noise.jpg: "),
      String(error),
    );
  }
  const gif = buildGif(4, 4, [[0, 0, 0], [255, 255, 255]], Array(16).fill(1));
  await assertInputError(decodeImage(gif.subarray(0, 10), "cut.gif"), "cut.gif", /truncated GIF/);
  try {
    await decodeImage(gif.subarray(0, gif.length - 8), "cut2.gif");
  } catch (error) {
    assert.ok(error instanceof InputError && error.message.startsWith("cut2.gif: "), String(error));
  }
});

function findChunk(png: Uint8Array, type: string): number {
  for (let i = 8; i + 4 < png.length; i++) {
    if (String.fromCharCode(...png.subarray(i, i + 4)) === type) return i;
  }
  throw new Error(`no ${type}`);
}

function fixCrc(png: Uint8Array, chunkStart: number): void {
  const view = new DataView(png.buffer);
  const length = view.getUint32(chunkStart);
  view.setUint32(
    chunkStart + 8 + length,
    crc32(png.subarray(chunkStart + 4, chunkStart + 8 + length)),
  );
}

function pngWithIdat(width: number, height: number, idat: Uint8Array): Uint8Array {
  const base = buildPng({
    width,
    height,
    colorType: 0,
    bitDepth: 8,
    samples: Array(width * height).fill(0),
  });
  const at = findChunk(base, "IDAT") - 4;
  const length = new DataView(base.buffer).getUint32(at);
  const chunk = new Uint8Array(12 + idat.length);
  new DataView(chunk.buffer).setUint32(0, idat.length);
  chunk.set([73, 68, 65, 84], 4);
  chunk.set(idat, 8);
  const out = new Uint8Array(base.length - length + idat.length);
  out.set(base.subarray(0, at));
  out.set(chunk, at);
  out.set(base.subarray(at + 12 + length), at + chunk.length);
  fixCrc(out, at);
  return out;
}

Deno.test("decodeImage() answers damaged bytes with an image or an InputError, never a codec error", async () => {
  const png = await encodeImage(testCard(12, 12), { format: "png" });
  const jpeg = await encodeImage(testCard(16, 16), { format: "jpeg", quality: 70 });
  const gif = buildGif(
    4,
    4,
    [[0, 0, 0], [255, 255, 255]],
    Array.from({ length: 16 }, (_, i) => i % 2),
  );
  let state = 12345;
  const next = (n: number) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % n;
  };
  let refused = 0;
  for (const [kind, original] of [["png", png], ["jpg", jpeg], ["gif", gif]] as const) {
    for (let trial = 0; trial < 60; trial++) {
      const damaged = original.slice(
        0,
        original.length - (trial % 3 === 0 ? next(original.length) : 0),
      );
      for (let k = 0; k < 1 + (trial % 4); k++) {
        if (damaged.length > 0) damaged[next(damaged.length)] = next(256);
      }
      try {
        const image = await decodeImage(damaged, `fuzz.${kind}`);
        assert.ok(image.data.every((v) => v >= 0 && v <= 1));
      } catch (error) {
        assert.ok(error instanceof InputError, `${kind} trial ${trial}: ${String(error)}`);
        assert.ok(error.message.startsWith(`fuzz.${kind}: `) && !error.message.includes("\n"));
        refused++;
      }
    }
  }
  assert.ok(refused > 30, `${refused} refusals`);
});
