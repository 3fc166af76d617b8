/**
 * Any size in, the same size out: reflect-pad an image up to a network's `sizeMultiple`
 * (2^levels for skip/hourglass) and crop the result back.
 *
 * Decision (documented in the README too): dipFit never fits the padding. Whenever an image is
 * padded, the data term gets a mask that is 0 on the padded border (and the user's mask, if
 * any, inside), so the network is not forced to reproduce reflected content there; the padded
 * pixels only give the network room. The padding itself is a reflection (not zeros) so that
 * an image used as the network's input (flash/no-flash) has natural content at the border.
 *
 * @module
 */
import { type Image, makeImage } from "../core/image.ts";

/** Pixels added on each side. */
export interface Padding {
  /** Rows added above. */
  readonly top: number;
  /** Rows added below. */
  readonly bottom: number;
  /** Columns added on the left. */
  readonly left: number;
  /** Columns added on the right. */
  readonly right: number;
}

/** No padding at all. */
export const NO_PADDING: Padding = { top: 0, bottom: 0, left: 0, right: 0 };

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(
      `pad: expected positive integer for ${name} but received ${value} of type ${typeof value}`,
    );
  }
}

/**
 * The padding that brings `height × width` up to the next multiple of `multiple` (and to at
 * least `minimum` on each side, rounded up to the multiple), split as evenly as possible (the
 * extra pixel goes to the bottom/right), like the reference's centred crops but growing
 * instead of shrinking.
 */
export function paddingToMultiple(
  height: number,
  width: number,
  multiple: number,
  minimum = 0,
): Padding {
  checkPositiveInteger("height", height);
  checkPositiveInteger("width", width);
  checkPositiveInteger("multiple", multiple);
  const target = (n: number) => Math.ceil(Math.max(n, minimum) / multiple) * multiple;
  const extraH = target(height) - height;
  const extraW = target(width) - width;
  const top = Math.floor(extraH / 2);
  const left = Math.floor(extraW / 2);
  return { top, bottom: extraH - top, left, right: extraW - left };
}

/** Whether a padding adds anything. */
export function isPadded(padding: Padding): boolean {
  return padding.top + padding.bottom + padding.left + padding.right > 0;
}

/** The padding scaled by an integer factor (the SR output's padding is the LR padding × f). */
export function scalePadding(padding: Padding, factor: number): Padding {
  checkPositiveInteger("factor", factor);
  return {
    top: padding.top * factor,
    bottom: padding.bottom * factor,
    left: padding.left * factor,
    right: padding.right * factor,
  };
}

/**
 * Mirrors index `i` into [0, n) without repeating the edge (PyTorch ReflectionPad2d), folding
 * again as often as needed, so any padding works, even one larger than the image.
 */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const m = ((i % period) + period) % period;
  return m < n ? m : period - m;
}

/** Reflect-pads planar CHW data; returns the padded array. */
export function reflectPadData(
  data: Float32Array,
  channels: number,
  height: number,
  width: number,
  padding: Padding,
): Float32Array {
  const outH = height + padding.top + padding.bottom;
  const outW = width + padding.left + padding.right;
  const out = new Float32Array(channels * outH * outW);
  const columns = new Int32Array(outW);
  for (let x = 0; x < outW; x++) columns[x] = reflectIndex(x - padding.left, width);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < outH; y++) {
      const rowIn = c * height * width + reflectIndex(y - padding.top, height) * width;
      const rowOut = c * outH * outW + y * outW;
      for (let x = 0; x < outW; x++) out[rowOut + x] = data[rowIn + columns[x]!]!;
    }
  }
  return out;
}

/** Reflect-pads an image (any padding, any size). */
export function reflectPad(image: Image, padding: Padding): Image {
  const data = reflectPadData(image.data, image.channels, image.height, image.width, padding);
  return makeImage(
    image.channels,
    image.height + padding.top + padding.bottom,
    image.width + padding.left + padding.right,
    data,
    image.name,
  );
}

/** Removes a padding from planar CHW data of the padded size; returns the inner region. */
export function cropData(
  data: Float32Array,
  channels: number,
  paddedHeight: number,
  paddedWidth: number,
  padding: Padding,
): Float32Array {
  const height = paddedHeight - padding.top - padding.bottom;
  const width = paddedWidth - padding.left - padding.right;
  if (height <= 0 || width <= 0) {
    throw new RangeError(
      `pad: expected a padding smaller than the ${paddedHeight}×${paddedWidth} image but received ` +
        `${padding.top}+${padding.bottom} rows and ${padding.left}+${padding.right} columns`,
    );
  }
  if (data.length < channels * paddedHeight * paddedWidth) {
    throw new RangeError(
      `pad: expected ${
        channels * paddedHeight * paddedWidth
      } values to crop but received ${data.length}`,
    );
  }
  const out = new Float32Array(channels * height * width);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      const from = c * paddedHeight * paddedWidth + (y + padding.top) * paddedWidth + padding.left;
      out.set(data.subarray(from, from + width), c * height * width + y * width);
    }
  }
  return out;
}

/** Crops a padding off an image (the inverse of {@link reflectPad}). */
export function cropPadding(image: Image, padding: Padding): Image {
  const data = cropData(image.data, image.channels, image.height, image.width, padding);
  return makeImage(
    image.channels,
    image.height - padding.top - padding.bottom,
    image.width - padding.left - padding.right,
    data,
    image.name,
  );
}

/**
 * A 1-channel loss mask for the padded size: the given mask (or all ones) inside, 0 on the
 * padded border, so padding never counts in the data term.
 */
export function paddedMask(
  height: number,
  width: number,
  padding: Padding,
  mask?: Image,
): Image {
  if (mask && (mask.channels !== 1 || mask.height !== height || mask.width !== width)) {
    throw new RangeError(
      `pad: expected a 1×${height}×${width} mask but received ${mask.channels}×${mask.height}×${mask.width}`,
    );
  }
  const outH = height + padding.top + padding.bottom;
  const outW = width + padding.left + padding.right;
  const out = new Float32Array(outH * outW);
  for (let y = 0; y < height; y++) {
    const row = (y + padding.top) * outW + padding.left;
    if (mask) out.set(mask.data.subarray(y * width, (y + 1) * width), row);
    else out.fill(1, row, row + width);
  }
  return makeImage(1, outH, outW, out, mask?.name ?? "mask");
}
