import assert from "node:assert/strict";
import { testCard } from "../image/testcard.ts";

Deno.test("testCard() defaults to a deterministic 256×256 colour card in [0, 1]", () => {
  const card = testCard();
  assert.deepEqual([card.channels, card.height, card.width], [3, 256, 256]);
  assert.ok(card.data.every((v) => v >= 0 && v <= 1));
  assert.deepEqual(testCard().data, card.data);
});

Deno.test("testCard() has fine stripes, smooth regions and many colours", () => {
  const card = testCard(128, 128);
  const plane = 128 * 128;
  const red = (y: number, x: number) => card.data[y * 128 + x]!;
  // Top right: black/white stripes, so neighbours differ by at least 0.5 somewhere on a row.
  let jumps = 0;
  for (let x = 65; x < 128; x++) if (Math.abs(red(4, x) - red(4, x - 1)) > 0.5) jumps++;
  assert.ok(jumps > 15, `${jumps} stripe edges`);
  // Bottom left: the gray ramp changes by less than 1/64 between neighbours.
  for (let x = 1; x < 64; x++) assert.ok(Math.abs(red(120, x) - red(120, x - 1)) < 1 / 60);
  assert.ok(red(120, 63) - red(120, 0) > 0.9);
  // Distinct colours (quantised to 1/10): shapes, gradients, patches.
  const colours = new Set<string>();
  for (let i = 0; i < plane; i++) {
    colours.add([0, 1, 2].map((c) => Math.round(card.data[c * plane + i]! * 10)).join(","));
  }
  assert.ok(colours.size > 50, `${colours.size} colours`);
});

Deno.test("testCard() gray is the BT.601 luma of the colour card", () => {
  const colour = testCard(40, 60);
  const gray = testCard(40, 60, 1);
  assert.deepEqual([gray.channels, gray.height, gray.width], [1, 40, 60]);
  const plane = 40 * 60;
  for (let i = 0; i < plane; i++) {
    const y = 0.299 * colour.data[i]! + 0.587 * colour.data[plane + i]! +
      0.114 * colour.data[2 * plane + i]!;
    assert.ok(Math.abs(gray.data[i]! - y) < 1e-6);
  }
});

Deno.test("testCard() works at odd sizes and refuses tiny ones", () => {
  const card = testCard(33, 17);
  assert.deepEqual([card.height, card.width, card.data.length], [33, 17, 3 * 33 * 17]);
  assert.throws(
    () => testCard(4, 64),
    /testCard: expected integer height and width of at least 8 but received 4×64/,
  );
  assert.throws(() => testCard(64, 64, 2 as 1), /expected 1 or 3 channels but received 2/);
});
