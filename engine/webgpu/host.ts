/**
 * The WebGPU host process, started by engine/webgpu/remote.ts for callers off the main thread
 * (see engine/webgpu/main_thread.ts): its WebGPU runs on its own main thread, the one thread
 * whose EGL state libEGL frees safely at exit.
 *
 * - `deno run engine/webgpu/host.ts probe` prints what `navigator.gpu` offers, as JSON.
 * - `deno run engine/webgpu/host.ts trainer` serves one trainer: it reads requests
 *   (engine/webgpu/wire.ts frames) from stdin, runs them one after another on a trainer built
 *   on this thread, and writes one reply per request to stdout. A `dispose` request, or the end
 *   of stdin, frees the trainer and ends the process.
 *
 * @module
 */
import type { Arena, Plan } from "../plan.ts";
import type { WebGpuTrainer } from "./mod.ts";
import { createWebGpuTrainerOnThisThread } from "./mod.ts";
import { probeWebGpuOnThisThread } from "./probe.ts";
import type { HostReply, HostRequest } from "./remote.ts";
import { encodeFrame, FrameReader } from "./wire.ts";

/** Runs one request on the trainer (built by the first, `create`). */
async function handle(
  request: HostRequest,
  state: { trainer?: WebGpuTrainer },
): Promise<unknown> {
  const { op, args } = request;
  if (op === "create") {
    const [plan, options] = args as [Plan, { tuning?: "software" | "hardware" }];
    const t = await createWebGpuTrainerOnThisThread(plan, options);
    state.trainer = t;
    return {
      adapter: t.adapter,
      compileSeconds: t.compileSeconds,
      pipelineCount: t.pipelineCount,
      dispatchesPerStep: t.dispatchesPerStep,
    };
  }
  const t = state.trainer;
  if (!t) throw new Error(`engine/webgpu/host: expected "create" first but received "${op}"`);
  switch (op) {
    case "reset":
      return await t.reset(args[0] as number[]);
    case "upload":
      return t.upload(args[0] as "z0" | "target" | "mask", args[1] as Float32Array);
    case "setNoiseSeeds":
      return t.setNoiseSeeds(args[0] as number[]);
    case "run":
      return t.run(args[0] as number);
    case "readScalars":
      return await t.readScalars();
    case "read":
      return await t.read(args[0] as "output" | "ema" | "best");
    case "readParams":
      return await t.readParams!();
    case "readArena":
      return await t.readArena(args[0] as Arena);
    case "writeArena":
      return t.writeArena(args[0] as Arena, args[1] as Float32Array, args[2] as number);
    case "snapshot":
      return t.snapshot();
    case "restore":
      return t.restore();
    case "evaluate":
      return await t.evaluate();
    default:
      throw new Error(`engine/webgpu/host: unknown request "${op}"`);
  }
}

/** Serves requests from `input` until `dispose` or its end; replies go to `output`. */
export async function serveTrainer(
  input: ReadableStream<Uint8Array>,
  output: WritableStream<Uint8Array>,
): Promise<void> {
  const frames = new FrameReader(input);
  const writer = output.getWriter();
  const state: { trainer?: WebGpuTrainer } = {};
  try {
    for (;;) {
      const request = await frames.next() as HostRequest | undefined;
      if (request === undefined || request.op === "dispose") break;
      let reply: HostReply;
      try {
        reply = { id: request.id, ok: true, value: await handle(request, state) };
      } catch (error) {
        const e = error instanceof Error ? error : new Error(String(error));
        reply = { id: request.id, ok: false, error: { name: e.name, message: e.message } };
      }
      try {
        await writer.write(encodeFrame(reply));
      } catch {
        break; // the parent stopped listening (it disposed the trainer)
      }
    }
  } finally {
    state.trainer?.dispose();
    await writer.close().catch(() => {});
  }
}

if (import.meta.main) {
  const mode = Deno.args[0];
  if (mode === "probe") {
    console.log(JSON.stringify(await probeWebGpuOnThisThread()));
  } else if (mode === "trainer") {
    await serveTrainer(Deno.stdin.readable, Deno.stdout.writable);
  } else {
    console.error(`engine/webgpu/host: expected "probe" or "trainer" but received ${mode}`);
    Deno.exitCode = 2;
  }
}
