/**
 * JPEG decode/encode, GIF decode and text rasterising with imagescript's WebAssembly codecs,
 * called directly.
 *
 * imagescript's main module loads a native Node addon at import time (it needs `--allow-ffi`)
 * and reads an environment variable, and its font glue calls `Deno.core`, which Deno 2 no
 * longer has. Its `.wasm` files need none of that: this module compiles them once and drives
 * their exports (the same calls imagescript's own `wasm/node/*.js` glue makes), so loading and
 * saving images needs only read and write permissions.
 *
 * @module
 */
import { createRequire } from "node:module";
import imagescriptPackage from "imagescript/package.json" with { type: "json" };

/** Decoded pixels, interleaved, `samples` bytes per pixel. */
export interface Raster {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** Bytes per pixel: 1 gray, 3 RGB, 4 RGBA. */
  readonly samples: 1 | 3 | 4;
  /** `width · height · samples` bytes, row-major. */
  readonly data: Uint8Array;
}

type WasmName = "jpeg" | "gif" | "font";
type WasmFunction = (...args: number[]) => number;
interface WasmExports {
  readonly memory: WebAssembly.Memory;
  readonly [name: string]: WasmFunction | WebAssembly.Memory;
}

const compiled = new Map<WasmName, Promise<WebAssembly.Module>>();

/**
 * The largest WebAssembly memory a codec call has grown to since the last reset (a wasm memory
 * only grows, so its size at the end of a call is its peak). V8 counts it neither in the heap
 * nor in external memory: the decoder fuzz test reads it to bound what a decode allocates.
 */
export const codecMemory = { peakBytes: 0 };

/** Compiles imagescript's `wasm/any/<name>.wasm` once per process. */
function wasmModule(name: WasmName): Promise<WebAssembly.Module> {
  let module = compiled.get(name);
  if (module === undefined) {
    const path = createRequire(import.meta.url).resolve(
      `${imagescriptPackage.name}/wasm/any/${name}.wasm`,
    );
    module = Deno.readFile(path).then((bytes) => WebAssembly.compile(bytes));
    compiled.set(name, module);
  }
  return module;
}

/** A fresh instance per call, so its memory is dropped with it (the codecs never free inputs). */
class Codec {
  private constructor(private readonly exports: WasmExports) {}

  static async open(name: WasmName): Promise<Codec> {
    // The GIF codec imports a stream callback used only by its encoder.
    const imports = { env: { push_to_stream: () => {} } };
    const instance = new WebAssembly.Instance(
      await wasmModule(name),
      name === "gif" ? imports : {},
    );
    return new Codec(instance.exports as unknown as WasmExports);
  }

  call(name: string, ...args: number[]): number {
    try {
      return (this.exports[name] as WasmFunction)(...args);
    } finally {
      const bytes = this.exports.memory.buffer.byteLength;
      if (bytes > codecMemory.peakBytes) codecMemory.peakBytes = bytes;
    }
  }

  /** Copies bytes into wasm memory; returns the pointer. */
  put(bytes: Uint8Array): number {
    const ptr = this.call("walloc", bytes.length);
    new Uint8Array(this.exports.memory.buffer, ptr, bytes.length).set(bytes);
    return ptr;
  }

  /** Copies out the buffer at `ptr`, whose length the codec reports through `wlen`. */
  take(ptr: number): Uint8Array {
    return new Uint8Array(this.exports.memory.buffer, ptr, this.call("wlen")).slice();
  }
}

/**
 * Decodes a JPEG (baseline or progressive) to gray or RGB samples (CMYK is converted). Throws a plain Error
 * when the codec rejects the data; callers turn it into an InputError naming the file.
 */
export async function decodeJpegRaster(bytes: Uint8Array): Promise<Raster> {
  const codec = await Codec.open("jpeg");
  const result = codec.call("decode", codec.put(bytes), bytes.length, 0, 0);
  if (result === 0 || result === 1) throw new Error("the JPEG decoder rejected the data");
  const width = codec.call("decode_width", result);
  const height = codec.call("decode_height", result);
  const format = codec.call("decode_format", result);
  const data = codec.take(codec.call("decode_buffer", result));
  const plane = width * height;
  const samples = format === 0 ? 1 : format === 1 ? 3 : 4;
  if (data.length < plane * samples) throw new Error("the JPEG decoder returned too few pixels");
  if (samples !== 4) return { width, height, samples, data: data.subarray(0, plane * samples) };
  // CMYK as the codec stores it (Adobe's inverted convention): R = C·K/255, as imagescript's glue.
  const rgb = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    const k = data[i * 4 + 3]!;
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.round((data[i * 4 + c]! * k) / 255);
  }
  return { width, height, samples: 3, data: rgb };
}

/** Encodes interleaved 8-bit RGBA as a JPEG of the given quality (1–100). */
export async function encodeJpegRgba(
  rgba: Uint8Array,
  width: number,
  height: number,
  quality: number,
): Promise<Uint8Array> {
  const codec = await Codec.open("jpeg");
  const result = codec.call("encode", codec.put(rgba), width, height, quality);
  if (result === 0) throw new Error("the JPEG encoder failed");
  return codec.take(result);
}

/**
 * Decodes the first frame of a GIF onto its logical screen as RGBA (pixels the frame does not
 * cover stay transparent black).
 */
export async function decodeGifFirstFrame(bytes: Uint8Array): Promise<Raster> {
  const codec = await Codec.open("gif");
  const decoder = codec.call("decoder_new", codec.put(bytes), bytes.length, 0);
  if (decoder === 0) throw new Error("the GIF decoder rejected the header");
  const width = codec.call("decoder_width", decoder);
  const height = codec.call("decoder_height", decoder);
  const frame = codec.call("decoder_frame", decoder);
  if (frame === 1) throw new Error("the GIF has no frame");
  if (frame === 0) throw new Error("the first GIF frame is damaged");
  const fx = codec.call("decoder_frame_x", frame);
  const fy = codec.call("decoder_frame_y", frame);
  const fw = codec.call("decoder_frame_width", frame);
  const fh = codec.call("decoder_frame_height", frame);
  const pixels = codec.take(codec.call("decoder_frame_buffer", frame));
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < fh && fy + y < height; y++) {
    for (let x = 0; x < fw && fx + x < width; x++) {
      const from = (y * fw + x) * 4;
      data.set(pixels.subarray(from, from + 4), ((fy + y) * width + fx + x) * 4);
    }
  }
  return { width, height, samples: 4, data };
}

/**
 * Rasterises one line of text in a TrueType/OpenType font at `size` pixels; returns RGBA whose
 * alpha is the glyph coverage.
 */
export async function renderTextRaster(
  font: Uint8Array,
  size: number,
  text: string,
): Promise<Raster> {
  const codec = await Codec.open("font");
  const fontPtr = codec.call("font_new", codec.put(font), font.length, size);
  if (fontPtr === 0) throw new Error("the font could not be parsed");
  const layout = codec.call("layout_new");
  // imagescript's TextLayout defaults: unbounded box, word wrap, top-left alignment.
  const options = new TextEncoder().encode(JSON.stringify({
    max_width: null,
    max_height: null,
    wrap_style: "word",
    vertical_align: "left",
    horizontal_align: "top",
    wrap_hard_breaks: true,
  }));
  codec.call("layout_reset", layout, codec.put(options), options.length);
  const utf8 = new TextEncoder().encode(text);
  codec.call("layout_append", layout, fontPtr, codec.put(utf8), utf8.length, size, 0, 0, 0, 0);
  const raster = codec.call("layout_rasterize", layout, 255, 255, 255);
  const width = codec.call("layout_rasterize_width", raster);
  const height = codec.call("layout_rasterize_height", raster);
  const data = codec.take(codec.call("layout_rasterize_buffer", raster)).subarray(
    0,
    width * height * 4,
  );
  return { width, height, samples: 4, data };
}
