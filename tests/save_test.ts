import assert from "node:assert/strict";
import { join } from "node:path";
import { makeImage } from "../core/image.ts";
import { decodeImage, loadImage } from "../image/load.ts";
import { psnr } from "../image/metrics.ts";
import { encodeImage, saveImage, writeFileAtomic } from "../image/save.ts";
import { resolveOutputPath, saveOp } from "../ops/save.ts";
import { testCard } from "../image/testcard.ts";
import { InputError } from "../core/errors.ts";
import type { Frame, OpContext } from "../core/types.ts";
import { tempDir } from "./fixtures.ts";

/** PNG header fields: [bit depth, colour type]. */
function pngKind(bytes: Uint8Array): [number, number] {
  return [bytes[24]!, bytes[25]!];
}

async function listing(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("encodeImage() writes 8-bit PNG that decodes to the rounded levels", async () => {
  const card = testCard(20, 30);
  const bytes = await encodeImage(card, { format: "png" });
  assert.deepEqual(pngKind(bytes), [8, 2]);
  const back = await decodeImage(bytes, "card.png");
  for (let i = 0; i < card.data.length; i++) {
    assert.equal(back.data[i], Math.fround(Math.round(card.data[i]! * 255) / 255));
  }
});

Deno.test("encodeImage() writes 16-bit and gray PNGs within half a level", async () => {
  const gray = testCard(17, 13, 1);
  const bytes = await encodeImage(gray, { format: "png", bitDepth: 16 });
  assert.deepEqual(pngKind(bytes), [16, 0]);
  const back = await decodeImage(bytes, "gray16.png");
  assert.equal(back.channels, 1);
  for (let i = 0; i < gray.data.length; i++) {
    assert.ok(Math.abs(back.data[i]! - gray.data[i]!) <= 0.5 / 65535 + 1e-7);
  }
});

Deno.test("encodeImage() clamps out-of-range values and writes NaN as 0", async () => {
  const image = makeImage(1, 1, 4, new Float32Array([-0.5, 1.5, NaN, 0.5]), "wild");
  const back = await decodeImage(await encodeImage(image, { format: "png" }), "wild.png");
  assert.deepEqual(Array.from(back.data), [0, 1, 0, Math.fround(128 / 255)]);
});

Deno.test("encodeImage() writes JPEG whose size and fidelity follow the quality", async () => {
  const card = testCard(64, 64);
  const high = await encodeImage(card, { format: "jpeg", quality: 95 });
  const low = await encodeImage(card, { format: "jpeg", quality: 20 });
  assert.deepEqual([high[0], high[1]], [0xff, 0xd8]);
  assert.ok(low.length < high.length, `${low.length} < ${high.length}`);
  const highPsnr = psnr(card, await decodeImage(high, "h.jpg"));
  const lowPsnr = psnr(card, await decodeImage(low, "l.jpg"));
  assert.ok(highPsnr > 25 && highPsnr > lowPsnr + 3, `${highPsnr} vs ${lowPsnr}`);
  await assert.rejects(encodeImage(card, { format: "jpeg", quality: 0 }), RangeError);
});

Deno.test("saveImage() picks the format from the extension and creates parent folders", async () => {
  const dir = await tempDir();
  const card = testCard(16, 16);
  await saveImage(card, join(dir, "a", "b", "card.png"));
  await saveImage(card, join(dir, "card.JPG"));
  assert.deepEqual(pngKind(await Deno.readFile(join(dir, "a", "b", "card.png"))), [8, 2]);
  assert.equal((await Deno.readFile(join(dir, "card.JPG")))[0], 0xff);
  assert.equal((await loadImage(join(dir, "card.JPG"))).channels, 3);
  assert.deepEqual(await listing(dir), ["a", "card.JPG"]);
  await assert.rejects(saveImage(card, join(dir, "card.bmp")), InputError);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("writeFileAtomic() replaces whole files and leaves no temp file on failure", async () => {
  const dir = await tempDir();
  const path = join(dir, "out.bin");
  await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
  await writeFileAtomic(path, new Uint8Array([4, 5]));
  assert.deepEqual(Array.from(await Deno.readFile(path)), [4, 5]);
  // Renaming a file over a non-empty folder fails: the folder survives and no temp remains.
  await Deno.mkdir(join(dir, "taken"));
  await Deno.writeFile(join(dir, "taken", "keep"), new Uint8Array([9]));
  await assert.rejects(writeFileAtomic(join(dir, "taken"), new Uint8Array([7])));
  assert.deepEqual(await listing(dir), ["out.bin", "taken"]);
  assert.deepEqual(await listing(join(dir, "taken")), ["keep"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("resolveOutputPath() fills {name} and {dir} and resolves against outDir", () => {
  assert.equal(
    resolveOutputPath("{dir}/{name}_x4.png", "kodim01", "set/a/kodim01.png", "/out"),
    "/out/set/a/kodim01_x4.png",
  );
  assert.equal(resolveOutputPath("{dir}/{name}.png", "top", "top.png", "/out"), "/out/top.png");
  assert.equal(
    resolveOutputPath("{name}/restored.jpg", "n", undefined, "/out"),
    "/out/n/restored.jpg",
  );
});

function frameOf(image: ReturnType<typeof testCard>, name: string, relative?: string): Frame {
  return {
    slots: { image, restored: image },
    meta: { name, relative, metrics: {}, timings: {}, info: {} },
  };
}

function context(outDir: string, overwrite: boolean): OpContext {
  return { emit: () => {}, outDir, overwrite };
}

Deno.test("saveOp() writes the chosen slot, reports its outputs and respects overwrite", async () => {
  const dir = await tempDir();
  const op = saveOp("{dir}/{name}_out.png", { slot: "restored", bitDepth: 16 });
  assert.equal(op.kind, "save");
  assert.deepEqual(op.reads, ["restored"]);
  assert.deepEqual(op.writes, []);
  const expected = join(dir, "sub", "pic_out.png");
  assert.deepEqual(op.outputs!("pic", "sub/pic.jpg", dir), [expected]);
  const frame = frameOf(testCard(16, 16), "pic", "sub/pic.jpg");
  const after = await op.run(frame, context(dir, true));
  assert.equal(after, frame);
  assert.deepEqual(pngKind(await Deno.readFile(expected)), [16, 2]);
  // overwrite false: an existing output is left as it is.
  await Deno.writeFile(expected, new Uint8Array([1]));
  await op.run(frame, context(dir, false));
  assert.deepEqual(Array.from(await Deno.readFile(expected)), [1]);
  await op.run(frame, context(dir, true));
  assert.equal((await Deno.readFile(expected)).length > 1, true);
  assert.throws(() => saveOp("out.tiff"), /save: expected a pattern ending in \.png/);
  await Deno.remove(dir, { recursive: true });
});
