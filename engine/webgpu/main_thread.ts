/**
 * Whether the calling JavaScript runs on the process's main thread, which decides where WebGPU
 * may run in this process.
 *
 * Why it matters (issue 14): on Linux, Deno's WebGPU creates its instance through EGL (wgpu's
 * GL backend — the only one on Mesa llvmpipe, and set up beside Vulkan elsewhere), so a thread
 * that used WebGPU holds EGL and Mesa state until it ends. When such a thread ends while another
 * thread runs `exit()`, the two race: `exit()` runs the libraries' destructors — libglvnd's
 * libEGL frees every thread's EGL state (`__eglCurrentTeardown`), Mesa and LLVM free their
 * globals — while the ending thread drops its WebGPU instance through EGL and runs its own
 * thread-exit destructor, which frees its EGL state a second time. glibc then aborts with
 * "corrupted size vs. prev_size in fastbins", "free(): invalid pointer", "double free or
 * corruption" or "malloc_consolidate(): unaligned fastbin chunk detected", or wgpu panics with
 * "Failed to make EGL context current: BadDisplay", or the process segfaults — after the
 * program's work is done. The main thread is the one that calls `exit()`, so WebGPU there is
 * safe; `deno test` runs every test file on a pool thread that may still be ending when the
 * process exits, and a Worker's thread ends when it is terminated. engine/webgpu/mod.ts
 * therefore runs WebGPU off the main thread in a child process (engine/webgpu/host.ts), whose
 * WebGPU is on its main thread, and engine/webgpu/probe.ts asks for the adapter there too.
 *
 * @module
 */

/**
 * True when this JavaScript runs on the process's main thread (as `deno run`'s main module
 * does), false on any other thread (a `deno test` file, a Worker). Linux only tells threads
 * apart (`/proc/thread-self` is `<pid>/task/<tid>`); elsewhere, or without read permission for
 * it, this answers true: the EGL exit race above is a Linux one, and without the permission
 * the engine keeps its former behaviour rather than prompt.
 */
export function onMainThread(): boolean {
  if (Deno.build.os !== "linux") return true;
  try {
    const read = Deno.permissions.querySync({ name: "read", path: "/proc/thread-self" });
    if (read.state !== "granted") return true;
    const [pid, , tid] = Deno.readLinkSync("/proc/thread-self").split("/");
    return pid === undefined || pid === tid;
  } catch {
    return true;
  }
}
