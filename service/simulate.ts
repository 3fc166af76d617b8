/**
 * A stand-in for the fitting engine, to load-test a deployment without GPUs (`dipline worker
 * --simulate MS`): a run job reads each input's size from its header and sleeps for a time
 * proportional to its pixels, then reports the inputs as done without writing anything. The
 * queue, the batch, the stalled-job detection and the drain all work as with real fits;
 * bench/queue.ts uses it to simulate 50 hosts on one machine.
 *
 * @module
 */
import { collectInputs } from "../pipeline/executor.ts";
import { fileInput, type InputItem } from "../pipeline/sources.ts";
import { imageSize } from "./image_header.ts";
import { type Processor, UnrecoverableError } from "./queue.ts";
import { fromDataPath, type RunJobData, type RunJobResult } from "./run_jobs.ts";

/** The first bytes of a file (enough for any image header). */
async function head(path: string, bytes = 64 * 1024): Promise<Uint8Array> {
  const file = await Deno.open(path);
  try {
    const buffer = new Uint8Array(bytes);
    const n = await file.read(buffer);
    return buffer.subarray(0, n ?? 0);
  } finally {
    file.close();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", abort, { once: true });
  });
}

/** Run jobs that sleep `msPerMegapixel` per million pixels of each input instead of fitting. */
export function simulatedRunProcessor(
  dataDir: string,
  msPerMegapixel: number,
): Processor<RunJobData, RunJobResult> {
  return async (job, ctx) => {
    const started = performance.now();
    const input = fromDataPath(dataDir, job.data.input);
    const items: InputItem[] = job.data.root === undefined
      ? await collectInputs(input, { outDir: fromDataPath(dataDir, job.data.out) })
      : [fileInput(input, fromDataPath(dataDir, job.data.root))];
    const done: string[] = [];
    for (const item of items) {
      const size = imageSize(await head(item.path!));
      if (size === undefined) throw new UnrecoverableError(`${item.path}: not an image`);
      ctx.emit("input-start", { name: item.name });
      await sleep(msPerMegapixel * size.width * size.height / 1e6, ctx.signal);
      ctx.emit("input-done", { name: item.name, simulated: true });
      done.push(item.name);
    }
    return {
      total: items.length,
      done,
      resumed: [],
      outputs: [],
      ms: Math.round(performance.now() - started),
    };
  };
}
