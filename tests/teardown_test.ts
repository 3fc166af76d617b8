/**
 * Teardown (issue 14): the heavy create → use → dispose → exit paths, run many times in child
 * processes, must end with exit code 0 and without an allocator complaint. The failure this
 * guards against came after every test had passed: `corrupted size vs. prev_size in fastbins`,
 * exit 134 (or `double free or corruption`, `malloc_consolidate(): unaligned fastbin chunk
 * detected`, a segfault). Its cause: a thread other than the main one used WebGPU (wgpu's GL
 * backend, so libglvnd's libEGL and Mesa) and was still ending — tearing its WebGPU state down,
 * running its thread-exit destructors — while the main thread ran `exit()`, whose library
 * destructors free every thread's EGL state (libEGL's `__eglCurrentTeardown`) and Mesa's and
 * LLVM's globals under it. `deno test` runs each file on such a thread, and a Worker's thread
 * ends when it is terminated. The engine now keeps WebGPU off those threads (engine/webgpu/
 * main_thread.ts, host.ts), so every scenario below must be clean.
 *
 * Scenarios, each repeated because the race is timing-dependent:
 * - Workers: 3 Workers each train and dispose a webgpu and a cpu trainer (2 wasm workers
 *   sharing one WebAssembly.Memory, disposed while still computing), one of them also creates,
 *   runs and releases an onnxruntime-web session; then they are terminated and the process
 *   exits at once.
 * - `deno test --parallel` over 2 files doing all three (the suite's own shape).
 * - The main thread (the CLI's and the service's case): all three, then exit.
 *
 * The children run with glibc's malloc checking where it is installed, so a double free aborts
 * at once instead of corrupting the heap silently. Before the fix the Workers scenario aborted
 * in most runs of this test (see RELIABILITY.md for the counts).
 */
import assert from "node:assert/strict";
import { encodeFrame, FrameReader } from "../engine/webgpu/wire.ts";
import { onMainThread } from "../engine/webgpu/main_thread.ts";

const root = (path: string) => new URL(`../${path}`, import.meta.url).href;

/** What every scenario runs: webgpu, cpu and onnxruntime-web, created, used and disposed. */
const BODY = `
import { compilePlan } from "${root("engine/compile.ts")}";
import { createCpuTrainer } from "${root("engine/cpu/mod.ts")}";
import { detectEngine } from "${root("engine/mod.ts")}";
import { createWebGpuTrainer, probeWebGpu } from "${root("engine/webgpu/mod.ts")}";
import { skip } from "${root("models/mod.ts")}";
import { exportOnnx } from "${root("models/onnx_export.ts")}";
import { createOrtSession } from "${root("ops/model_runtime.ts")}";

const network = skip({ inputChannels: 2, outputChannels: 1, channelsDown: [4], channelsSkip: [2] });
const plan = compilePlan(network, {
  batch: 1, height: 16, width: 16, dataTerm: { kind: "identity" },
  lr: 0.01, regNoiseStd: 0.03, emaDecay: 0.99,
});
const z0 = new Float32Array(plan.io.z0.c * 16 * 16).map((_, i) => Math.sin(i));
const target = new Float32Array(plan.io.target.c * 16 * 16).fill(0.5);

/**
 * Off the main thread nothing may load libEGL into this process: WebGPU goes to a host process.
 * This catches the pattern every time; the exits below catch the race when it strikes.
 */
export function assertNoEgl(where: string): void {
  if (Deno.build.os !== "linux") return;
  if (Deno.readTextFileSync("/proc/self/maps").includes("libEGL")) {
    throw new Error(where + ": libEGL is loaded, so WebGPU ran on a thread other than the main one");
  }
}

export async function useAndDispose(withOrt = true): Promise<void> {
  await detectEngine();
  if ((await probeWebGpu()).available) {
    const gpu = await createWebGpuTrainer(plan);
    try {
      await gpu.reset([1]);
      gpu.upload("z0", z0);
      gpu.upload("target", target);
      gpu.run(2);
      const s = await gpu.readScalars();
      if (s.step !== 2) throw new Error("webgpu: expected step 2 but read " + s.step);
      gpu.run(1); // disposed with work still queued
    } finally {
      gpu.dispose();
    }
  }
  const cpu = await createCpuTrainer(plan, { threads: 2 });
  await cpu.reset([1]);
  cpu.upload("z0", z0);
  cpu.upload("target", target);
  cpu.run(2);
  const params = await cpu.readParams!();
  cpu.run(500); // disposed while its workers are still computing
  cpu.dispose();
  if (!withOrt) return;
  const { session } = await createOrtSession(
    exportOnnx(network, { params, z: z0, height: 16, width: 16 }),
  );
  try {
    await session.run({});
  } finally {
    await session.release();
  }
}
`;

/** The scenarios' files, written once into a temporary folder. */
const FILES: Record<string, string> = {
  "body.ts": BODY,
  "a_test.ts": `import { assertNoEgl, useAndDispose } from "./body.ts";
Deno.test("a", async () => {
  await useAndDispose();
  assertNoEgl("a test file");
});
`,
  "b_test.ts": `import { assertNoEgl, useAndDispose } from "./body.ts";
Deno.test("b", async () => {
  await useAndDispose();
  assertNoEgl("a test file");
});
`,
  "worker_body.ts": `import { assertNoEgl, useAndDispose } from "./body.ts";
self.onmessage = (e) =>
  useAndDispose(e.data.withOrt).then(() => assertNoEgl("a Worker")).then(
    () => self.postMessage("done"),
    (error) => self.postMessage(String(error?.stack ?? error)),
  );
`,
  "workers.ts": `const workers = Array.from({ length: 3 }, (_, i) => {
  const w = new Worker(new URL("./worker_body.ts", import.meta.url).href, { type: "module" });
  w.postMessage({ withOrt: i === 0 });
  return w;
});
const replies = await Promise.all(workers.map((w) =>
  new Promise((resolve) => (w.onmessage = (e) => resolve(e.data)))));
for (const w of workers) w.terminate();
const bad = replies.find((r) => r !== "done");
if (bad !== undefined) { console.error(bad); Deno.exit(3); }
Deno.exit(0); // at once, while the terminated Workers' threads are still ending
`,
  "main.ts": `import { useAndDispose } from "./body.ts";\nawait useAndDispose();\n`,
};

/** glibc's malloc checking for the children, where this system has it. */
function mallocCheckEnv(): Record<string, string> {
  for (
    const lib of ["/lib/x86_64-linux-gnu/libc_malloc_debug.so.0", "/lib64/libc_malloc_debug.so.0"]
  ) {
    try {
      Deno.statSync(lib);
      return { LD_PRELOAD: lib, MALLOC_CHECK_: "3" };
    } catch {
      // not here
    }
  }
  return {};
}

/** glibc's heap-corruption messages, a crash, or Deno's panic report. */
const CORRUPTION =
  /corrupted|free\(\)|double free|malloc\(\)|malloc_consolidate|unaligned|Segmentation fault|has panicked/i;

/** Runs `deno <args>` in `dir` `runs` times; fails on the first abnormal end. */
async function repeat(dir: string, args: string[], runs: number): Promise<void> {
  for (let i = 1; i <= runs; i++) {
    const { code, signal, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: dir,
      env: { ...mallocCheckEnv(), NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.ok(
      code === 0 && signal === null && !CORRUPTION.test(text),
      `deno ${args.join(" ")} (run ${i} of ${runs}) ended with exit code ${code}${
        signal ? `, signal ${signal}` : ""
      }:\n${text.slice(-2000)}`,
    );
  }
}

Deno.test({
  name: "webgpu, cpu-engine and ORT teardown leaves the process to exit cleanly, many times over",
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "dipline-teardown-" });
    try {
      for (const [name, text] of Object.entries(FILES)) {
        await Deno.writeTextFile(`${dir}/${name}`, text);
      }
      const config = new URL("../deno.json", import.meta.url).pathname;
      const run = ["run", "-A", "--config", config, "--no-check", "--quiet"];
      // The first run compiles the modules; the cache serves the later ones.
      await t.step(
        "3 Workers terminated just before exit",
        () => repeat(dir, [...run, "workers.ts"], 5),
      );
      await t.step(
        "deno test --parallel, whose files' threads end with the process",
        () => repeat(dir, ["test", "-A", "--config", config, "--no-check", "--parallel", "."], 2),
      );
      await t.step("the main thread (the CLI's case)", () => repeat(dir, [...run, "main.ts"], 1));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("frames to and from the WebGPU host keep typed arrays and non-finite numbers, however the bytes are split", async () => {
  const values = [
    { id: 1, op: "upload", args: ["z0", new Float32Array([0.5, -1, Infinity, NaN])] },
    { id: 2, ok: true, value: { step: 3, loss: -Infinity, empty: new Uint8Array(0) } },
    { id: 3, ok: true, value: new Float32Array(5_000).map((_, i) => Math.sin(i)) },
  ];
  const bytes = new Uint8Array(values.reduce((n, v) => n + encodeFrame(v).length, 0));
  let at = 0;
  for (const v of values) {
    const f = encodeFrame(v);
    bytes.set(f, at);
    at += f.length;
  }
  for (const piece of [1, 7, 4096, bytes.length]) {
    const reader = new FrameReader(
      new ReadableStream({
        start(c) {
          for (let i = 0; i < bytes.length; i += piece) c.enqueue(bytes.slice(i, i + piece));
          c.close();
        },
      }),
    );
    for (const v of values) assert.deepEqual(await reader.next(), v, `pieces of ${piece}`);
    assert.equal(await reader.next(), undefined);
  }
});

Deno.test("a deno test file does not run on the main thread, so its WebGPU goes to a host process", () => {
  // The premise of the fix: were this true here, createWebGpuTrainer would use this thread.
  assert.equal(onMainThread(), Deno.build.os !== "linux");
});
