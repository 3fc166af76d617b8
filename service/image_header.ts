/**
 * The size an image file claims, read from its header alone (PNG IHDR, the JPEG frame marker,
 * the GIF screen descriptor), so an upload that claims too many pixels — a decompression bomb —
 * is refused before a byte of it is decoded.
 *
 * @module
 */

/** Width and height an image header claims. */
export interface ImageSize {
  readonly width: number;
  readonly height: number;
}

/**
 * The size in the header of PNG, JPEG or GIF `bytes`; undefined when the bytes are none of
 * those or the header is cut short.
 */
export function imageSize(bytes: Uint8Array): ImageSize | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 24 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[12] === 0x49) {
    // PNG: signature (8), IHDR length (4), "IHDR" (4), width, height (big-endian).
    return { width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (bytes.length >= 10 && bytes[0] === 0x47 && bytes[1] === 0x49 && bytes[2] === 0x46) {
    // GIF: "GIF8?a", logical screen width and height (little-endian).
    return { width: view.getUint16(6, true), height: view.getUint16(8, true) };
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) return jpegSize(bytes, view);
  return undefined;
}

function jpegSize(bytes: Uint8Array, view: DataView): ImageSize | undefined {
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) return undefined;
    const marker = bytes[offset + 1]!;
    if (marker === 0xff) {
      offset++;
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      offset += 2;
      continue;
    }
    const length = view.getUint16(offset + 2);
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 &&
      marker !== 0xcc;
    if (isFrame) {
      if (offset + 9 > bytes.length) return undefined;
      return { height: view.getUint16(offset + 5), width: view.getUint16(offset + 7) };
    }
    if (marker === 0xd9 || marker === 0xda || length < 2) return undefined;
    offset += 2 + length;
  }
  return undefined;
}
