/**
 * The frames the WebGPU host process (engine/webgpu/host.ts) and its parent
 * (engine/webgpu/remote.ts) exchange over stdin/stdout: a JSON header and the bytes of every
 * typed array in it, so plans, uploads and readbacks travel without a text round trip.
 *
 * A frame is `u32 header bytes · header (UTF-8 JSON) · each binary part`, little-endian; the
 * header names the typed arrays' constructors and byte lengths in `$bins`, each typed array
 * inside the value is replaced by `{ "$bin": index }` and each non-finite number by
 * `{ "$num": "Infinity" }` (JSON has neither).
 *
 * @module
 */

/** The typed arrays a frame carries by value. */
const TYPED = {
  Float32Array,
  Float64Array,
  Int8Array,
  Int16Array,
  Int32Array,
  Uint8Array,
  Uint16Array,
  Uint32Array,
} as const;
type TypedName = keyof typeof TYPED;

/** Encodes `value` (JSON data with typed arrays anywhere inside) as one frame. */
export function encodeFrame(value: unknown): Uint8Array {
  const bins: Uint8Array[] = [];
  const kinds: [TypedName, number][] = [];
  const json = JSON.stringify(value, (_key, v) => {
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const name = v.constructor.name as TypedName;
      if (!(name in TYPED)) {
        throw new TypeError(
          `engine/webgpu/wire: expected a plain typed array but received ${name}`,
        );
      }
      bins.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      kinds.push([name, v.byteLength]);
      return { $bin: bins.length - 1 };
    }
    // JSON has no Infinity or NaN (a plan may hold them, e.g. an unbounded clamp).
    if (typeof v === "number" && !Number.isFinite(v)) return { $num: String(v) };
    return v;
  });
  const header = new TextEncoder().encode(JSON.stringify({ $bins: kinds, value: json }));
  const total = 4 + header.length + bins.reduce((s, b) => s + b.length, 0);
  const out = new Uint8Array(total);
  new DataView(out.buffer).setUint32(0, header.length, true);
  out.set(header, 4);
  let at = 4 + header.length;
  for (const b of bins) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** Reads frames from a byte stream, in order; `next()` is undefined at the end of the stream. */
export class FrameReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  /** Received bytes not yet taken, in order (the first one from `#head` on). */
  #chunks: Uint8Array[] = [];
  #head = 0;
  #buffered = 0;

  /** Reads from `stream` (it is locked to this reader). */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Ensures `n` bytes are buffered; false when the stream ended first. */
  async #fill(n: number): Promise<boolean> {
    while (this.#buffered < n) {
      const { value, done } = await this.#reader.read();
      if (done) return false;
      this.#chunks.push(value);
      this.#buffered += value.length;
    }
    return true;
  }

  /**
   * The next `n` buffered bytes, copied once into a fresh buffer of at least `min` bytes (the
   * chunks are kept as they came, so a large frame is not re-copied per chunk).
   */
  #take(n: number, min = n): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(Math.max(n, min));
    let at = 0;
    while (at < n) {
      const chunk = this.#chunks[0]!;
      const part = Math.min(n - at, chunk.length - this.#head);
      out.set(chunk.subarray(this.#head, this.#head + part), at);
      at += part;
      this.#head += part;
      if (this.#head === chunk.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
    }
    this.#buffered -= n;
    return out;
  }

  /** The next frame's value, or undefined when the stream ended. */
  async next(): Promise<unknown> {
    if (!await this.#fill(4)) return undefined;
    const headerBytes = new DataView(this.#take(4).buffer).getUint32(0, true);
    if (!await this.#fill(headerBytes)) return undefined;
    const header = JSON.parse(new TextDecoder().decode(this.#take(headerBytes))) as {
      $bins: [TypedName, number][];
      value: string;
    };
    const arrays: ArrayBufferView[] = [];
    for (const [name, bytes] of header.$bins) {
      if (!await this.#fill(bytes)) return undefined;
      // A fresh, aligned buffer, never empty: Deno's WebGPU panics on a view of a 0-byte one.
      const copy = this.#take(bytes, 8);
      const Ctor = TYPED[name];
      arrays.push(new Ctor(copy.buffer, 0, bytes / Ctor.BYTES_PER_ELEMENT));
    }
    return JSON.parse(header.value, (_key, v) => {
      if (v !== null && typeof v === "object") {
        if (typeof v.$bin === "number") return arrays[v.$bin];
        if (typeof v.$num === "string") return Number(v.$num);
      }
      return v;
    });
  }

  /** Stops reading (the stream is cancelled). */
  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}
