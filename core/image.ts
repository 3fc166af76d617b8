/**
 * The image type every op exchanges on the CPU side: planar Float32 CHW in [0, 1].
 *
 * @module
 */

/** A planar CHW image with values in [0, 1] and 1 (gray) or 3 (RGB) channels. */
export interface Image {
  /** Channel count: 1 for gray, 3 for RGB. */
  readonly channels: 1 | 3;
  readonly height: number;
  readonly width: number;
  /** `channels * height * width` values, channel-major: `data[c * H * W + y * W + x]`. */
  readonly data: Float32Array;
  /** Where the image came from (a file name, or a name an op gave it); used in messages. */
  readonly name: string;
}

/** Creates an image, checking that the data length matches the shape. */
export function makeImage(
  channels: 1 | 3,
  height: number,
  width: number,
  data: Float32Array = new Float32Array(channels * height * width),
  name = "image",
): Image {
  if (!Number.isInteger(height) || height <= 0 || !Number.isInteger(width) || width <= 0) {
    throw new RangeError(
      `Expected positive integer height and width but received ${height}×${width}`,
    );
  }
  if (data.length !== channels * height * width) {
    throw new RangeError(
      `Expected ${
        channels * height * width
      } values for a ${channels}×${height}×${width} image but received ${data.length}`,
    );
  }
  return { channels, height, width, data, name };
}

/** Number of pixels (height × width) of an image. */
export function pixelCount(image: Image): number {
  return image.height * image.width;
}
