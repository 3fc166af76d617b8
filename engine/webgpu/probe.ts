/**
 * What `navigator.gpu` offers here, asked without leaving EGL state on a thread that ends at
 * exit: on the main thread the adapter is requested directly; off it (a `deno test` file, a
 * Worker) a short-lived host process asks (see engine/webgpu/main_thread.ts).
 *
 * @example
 * ```ts ignore
 * import { probeWebGpu } from "./probe.ts";
 * const gpu = await probeWebGpu();
 * if (gpu.available && !gpu.fallback) console.log(`hardware adapter: ${gpu.description}`);
 * ```
 *
 * @module
 */
import { onMainThread } from "./main_thread.ts";
import { canStartHost, probeInHost } from "./remote.ts";

/** The adapter `navigator.gpu.requestAdapter()` gives, as plain data. */
export interface WebGpuProbe {
  /** Whether an adapter was given at all. */
  readonly available: boolean;
  /** Whether it is a software fallback (llvmpipe is); false when none. */
  readonly fallback: boolean;
  /** Its description, or `vendor architecture device`; "" when none. */
  readonly description: string;
  /** Its largest buffer, in bytes; 0 when none. */
  readonly maxBufferSize: number;
  /** Its largest storage-buffer binding, in bytes; 0 when none. */
  readonly maxStorageBufferBindingSize: number;
}

const NONE: WebGpuProbe = {
  available: false,
  fallback: false,
  description: "",
  maxBufferSize: 0,
  maxStorageBufferBindingSize: 0,
};

/** Asks `navigator.gpu` on this thread (use {@link probeWebGpu} unless on the main thread). */
export async function probeWebGpuOnThisThread(): Promise<WebGpuProbe> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) return NONE;
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch {
    return NONE;
  }
  if (!adapter) return NONE;
  // Deno puts isFallbackAdapter on adapter.info (the spec's older form has it on the adapter).
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  return {
    available: true,
    fallback: info?.isFallbackAdapter ??
      (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
    description: info.description ||
      [info.vendor, info.architecture, info.device].filter(Boolean).join(" "),
    maxBufferSize: adapter.limits.maxBufferSize,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
  };
}

let cached: Promise<WebGpuProbe> | undefined;

/**
 * What `navigator.gpu` offers (asked once per isolate): directly on the main thread, in a host
 * process elsewhere when this process may start one (`--allow-run`), else directly.
 */
export function probeWebGpu(): Promise<WebGpuProbe> {
  cached ??= onMainThread() || !canStartHost()
    ? probeWebGpuOnThisThread()
    : probeInHost().then((p) => p as WebGpuProbe, () => NONE);
  return cached;
}
