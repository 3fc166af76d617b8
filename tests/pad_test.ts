import { deepStrictEqual as deepEqual, throws } from "node:assert/strict";
import { makeImage } from "../core/image.ts";
import {
  cropPadding,
  isPadded,
  paddedMask,
  paddingToMultiple,
  reflectIndex,
  reflectPad,
  scalePadding,
} from "../dip/pad.ts";

function ramp(channels: 1 | 3, height: number, width: number) {
  const data = new Float32Array(channels * height * width);
  for (let i = 0; i < data.length; i++) data[i] = (i % 97) / 97;
  return makeImage(channels, height, width, data, "ramp");
}

Deno.test("paddingToMultiple() grows odd sizes to the next multiple, split evenly", () => {
  deepEqual(paddingToMultiple(37, 53, 32), { top: 13, bottom: 14, left: 5, right: 6 });
  deepEqual(paddingToMultiple(64, 32, 32), { top: 0, bottom: 0, left: 0, right: 0 });
  deepEqual(isPadded(paddingToMultiple(64, 32, 32)), false);
  // a minimum side (rounded up to the multiple) for images smaller than the network needs
  deepEqual(paddingToMultiple(20, 70, 32, 64), { top: 22, bottom: 22, left: 13, right: 13 });
  deepEqual(scalePadding({ top: 1, bottom: 2, left: 0, right: 3 }, 4), {
    top: 4,
    bottom: 8,
    left: 0,
    right: 12,
  });
  throws(() => paddingToMultiple(0, 5, 32), /positive integer for height/);
});

Deno.test("reflectIndex() mirrors without repeating the edge, also past one period", () => {
  // ReflectionPad2d on [a b c]: ... c b | a b c | b a ...
  deepEqual([-2, -1, 0, 1, 2, 3, 4].map((i) => reflectIndex(i, 3)), [2, 1, 0, 1, 2, 1, 0]);
  deepEqual([5, 6, -5].map((i) => reflectIndex(i, 3)), [1, 2, 1]);
  deepEqual(reflectIndex(7, 1), 0);
});

Deno.test("reflectPad() then cropPadding() returns the image exactly, gray and RGB, odd sizes", () => {
  for (const channels of [1, 3] as const) {
    const image = ramp(channels, 5, 7);
    const padding = paddingToMultiple(5, 7, 16);
    const padded = reflectPad(image, padding);
    deepEqual([padded.channels, padded.height, padded.width], [channels, 16, 16]);
    const back = cropPadding(padded, padding);
    deepEqual([back.height, back.width], [5, 7]);
    deepEqual(back.data, image.data);
  }
});

Deno.test("reflectPad() fills the border with the mirrored neighbours", () => {
  const image = makeImage(1, 1, 3, new Float32Array([0.1, 0.2, 0.3]));
  const padded = reflectPad(image, { top: 1, bottom: 0, left: 2, right: 1 });
  deepEqual(padded.height, 2);
  // row 1 is the image row; row 0 mirrors it (a 1-row image reflects onto itself)
  const expected = Array.from(new Float32Array([0.3, 0.2, 0.1, 0.2, 0.3, 0.2]));
  deepEqual(Array.from(padded.data.subarray(6, 12)), expected);
  deepEqual(Array.from(padded.data.subarray(0, 6)), expected);
});

Deno.test("paddedMask() is 0 on the padding and the given mask inside", () => {
  const inner = makeImage(1, 2, 2, new Float32Array([1, 0, 0, 1]), "m");
  const m = paddedMask(2, 2, { top: 1, bottom: 0, left: 0, right: 1 }, inner);
  deepEqual(Array.from(m.data), [0, 0, 0, 1, 0, 0, 0, 1, 0]);
  const ones = paddedMask(1, 1, { top: 0, bottom: 1, left: 1, right: 0 });
  deepEqual(Array.from(ones.data), [0, 1, 0, 0]);
  throws(
    () => paddedMask(3, 3, { top: 0, bottom: 0, left: 0, right: 0 }, inner),
    /expected a 1×3×3 mask but received 1×2×2/,
  );
});
