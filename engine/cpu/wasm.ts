/**
 * Loads the compiled kernels (engine/cpu/kernels.wasm). When the file is missing (a fresh
 * checkout before `deno task build:wasm`) it compiles them from source in memory and tries to
 * cache the result next to this file.
 *
 * @module
 */

/** Where the built module lives, next to this file. */
export const KERNELS_WASM_URL: URL = new URL("./kernels.wasm", import.meta.url);

let cached: Promise<WebAssembly.Module> | undefined;

/** Writes kernels.wasm through a temporary file, so a concurrent reader never sees half. */
export async function writeAtomically(bytes: Uint8Array): Promise<void> {
  const tmp = new URL(`./kernels.${Deno.pid}.${Date.now()}.tmp`, KERNELS_WASM_URL);
  await Deno.writeFile(tmp, bytes);
  await Deno.rename(tmp, KERNELS_WASM_URL);
}

async function kernelBytes(): Promise<Uint8Array<ArrayBuffer>> {
  if (KERNELS_WASM_URL.protocol !== "file:") {
    // Imported from a server: the built module must be published next to this file.
    const res = await fetch(KERNELS_WASM_URL);
    if (!res.ok) {
      throw new Error(
        `engine/cpu/wasm.ts: expected ${KERNELS_WASM_URL.href} to serve the built kernels but received HTTP ${res.status}`,
      );
    }
    return new Uint8Array(await res.arrayBuffer());
  }
  try {
    return await Deno.readFile(KERNELS_WASM_URL);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  // The compiler (AssemblyScript + Binaryen) is large: load it only when it is needed.
  const { compileKernels } = await import("./build.ts");
  const bytes = new Uint8Array(await compileKernels());
  try {
    await writeAtomically(bytes);
  } catch {
    // A read-only checkout still works; it just compiles again next time.
  }
  return bytes;
}

/** The compiled kernel module (compiled once per process). */
export function loadKernelModule(): Promise<WebAssembly.Module> {
  cached ??= kernelBytes().then((bytes) => WebAssembly.compile(bytes));
  return cached;
}
