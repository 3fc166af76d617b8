/**
 * Worker of the decoder fuzz test (tests/faults_fuzz_test.ts): decodes each case it is sent
 * with `decodeImage` and reports what happened, so that the test can time every case and
 * terminate the worker on a hang.
 *
 * @module
 */
import { codecMemory } from "../image/codecs.ts";
import { decodeImage } from "../image/load.ts";

/** A case the test sends. */
export interface FuzzCase {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly maxPixels: number;
}

/** What the worker answers. */
export interface FuzzResult {
  readonly id: number;
  /** Decoded: channels × height × width; or the error's class and message. */
  readonly outcome:
    | { readonly ok: true; readonly shape: [number, number, number]; readonly valid: boolean }
    | { readonly ok: false; readonly errorName: string; readonly message: string };
  readonly ms: number;
  /**
   * What the case allocated in this worker: V8 heap in use plus external memory (array
   * buffers), after minus before (garbage is not collected in between), plus the largest
   * WebAssembly memory a codec grew to.
   */
  readonly allocated: number;
  /** Resident set size of the process after the case, bytes. */
  readonly rss: number;
}

/** Decodes one case: a valid image, or an error, never anything else. */
export async function decodeCase(c: FuzzCase): Promise<FuzzResult> {
  codecMemory.peakBytes = 0;
  const before = Deno.memoryUsage();
  const t0 = performance.now();
  let outcome: FuzzResult["outcome"];
  try {
    const image = await decodeImage(c.bytes, `case-${c.id}.bin`, { maxPixels: c.maxPixels });
    const { channels, height, width, data } = image;
    let valid = data.length === channels * height * width && height * width <= c.maxPixels;
    for (let i = 0; valid && i < data.length; i++) valid = data[i]! >= 0 && data[i]! <= 1;
    outcome = { ok: true, shape: [channels, height, width], valid };
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    outcome = { ok: false, errorName: e.name, message: e.message };
  }
  const ms = performance.now() - t0;
  const after = Deno.memoryUsage();
  const allocated = after.heapUsed + after.external - before.heapUsed - before.external +
    codecMemory.peakBytes;
  return { id: c.id, outcome, ms, allocated, rss: after.rss };
}

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<FuzzCase>) => void) | null;
  postMessage(message: FuzzResult): void;
};
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  scope.onmessage = async (event) => scope.postMessage(await decodeCase(event.data));
}
