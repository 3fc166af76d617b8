/**
 * Small copies of images for previews and reports: an area-average downscale (every source
 * pixel counts once, so noise averages out as it does in a photo viewer) and a base64 PNG.
 *
 * @module
 */
import { type Image, makeImage } from "../core/image.ts";
import { encodeJpegRgba } from "./codecs.ts";
import { encodePng } from "./png.ts";
import { toRgba8 } from "./save.ts";

/**
 * `image` shrunk so that its longer side is at most `maxSide` pixels, by area averaging;
 * returned as is when it already fits.
 */
export function thumbnail(image: Image, maxSide: number): Image {
  const { channels, height, width, data } = image;
  const scale = Math.min(1, maxSide / Math.max(height, width));
  if (scale >= 1) return image;
  const h = Math.max(1, Math.round(height * scale));
  const w = Math.max(1, Math.round(width * scale));
  const out = new Float32Array(channels * h * w);
  const plane = height * width;
  // Source rows/columns [y0, y1) of each output row/column (integer bins: exact, fast).
  const rows = Array.from({ length: h + 1 }, (_, i) => Math.round((i * height) / h));
  const cols = Array.from({ length: w + 1 }, (_, i) => Math.round((i * width) / w));
  for (let c = 0; c < channels; c++) {
    const base = c * plane;
    for (let y = 0; y < h; y++) {
      const y0 = rows[y]!;
      const y1 = rows[y + 1]!;
      for (let x = 0; x < w; x++) {
        const x0 = cols[x]!;
        const x1 = cols[x + 1]!;
        let sum = 0;
        for (let sy = y0; sy < y1; sy++) {
          const row = base + sy * width;
          for (let sx = x0; sx < x1; sx++) sum += data[row + sx]!;
        }
        out[c * h * w + y * w + x] = sum / ((y1 - y0) * (x1 - x0));
      }
    }
  }
  return makeImage(channels, h, w, out, image.name);
}

/** An 8-bit PNG of `image`, base64 (for a data URL or a JSON field). */
export function pngBase64(image: Pick<Image, "channels" | "height" | "width" | "data">): string {
  return bytesToBase64(encodePng(image, 8));
}

/** Base64 of bytes, in chunks (a spread of a large array would overflow the stack). */
export function bytesToBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/** `image` shrunk to `maxSide` as a JPEG data URL, with its sizes (reports, job lists). */
export async function jpegThumbnail(
  image: Image,
  maxSide: number,
  quality = 80,
): Promise<{ width: number; height: number; fullWidth: number; fullHeight: number; src: string }> {
  const small = thumbnail(image, maxSide);
  const jpeg = await encodeJpegRgba(toRgba8(small), small.width, small.height, quality);
  return {
    width: small.width,
    height: small.height,
    fullWidth: image.width,
    fullHeight: image.height,
    src: `data:image/jpeg;base64,${bytesToBase64(jpeg)}`,
  };
}
