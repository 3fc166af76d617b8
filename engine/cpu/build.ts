/**
 * Builds the CPU backend's WebAssembly kernels (engine/cpu/assembly/*.ts, AssemblyScript) into
 * engine/cpu/kernels.wasm: 128-bit SIMD with relaxed FMA, one imported shared memory (all
 * workers see the same arenas), no runtime (kernels only read and write raw pointers).
 *
 * Run with `deno task build:wasm` (or `deno run -A engine/cpu/build.ts`); the test task runs it
 * first. The .wasm is git-ignored: it is always built from source.
 *
 * @module
 */
import asc from "assemblyscript/asc";
import { writeAtomically } from "./wasm.ts";

/** The compiler flags: the module's contract with engine/cpu/memory.ts. */
export const ASC_FLAGS: readonly string[] = [
  "-O3",
  "--runtime",
  "stub",
  "--noAssert",
  "--use",
  "abort=",
  "--importMemory",
  "--sharedMemory",
  "--initialMemory",
  "1",
  // 4 GiB: the imported memory's maximum must not exceed the module's.
  "--maximumMemory",
  "65536",
  "--enable",
  "simd,threads,relaxed-simd",
];

/** Compiles the kernels and returns the module bytes (nothing is written). */
export async function compileKernels(): Promise<Uint8Array> {
  const entry = new URL("./assembly/index.ts", import.meta.url).pathname;
  let binary: Uint8Array | undefined;
  const errors: string[] = [];
  const result = await asc.main([entry, "-o", "kernels.wasm", ...ASC_FLAGS], {
    writeFile: (name: string, contents: Uint8Array | string) => {
      if (name.endsWith(".wasm") && typeof contents !== "string") binary = contents;
    },
    stderr: {
      write: (chunk: Uint8Array | string) => {
        errors.push(typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk));
        return true;
      },
    } as never,
  });
  if (result.error || !binary) {
    throw new Error(
      `engine/cpu/build.ts: expected AssemblyScript to compile the kernels but it failed: ${
        result.error?.message ?? "no binary emitted"
      }\n${errors.join("")}`,
    );
  }
  return binary;
}

/** Compiles the kernels and writes engine/cpu/kernels.wasm; returns its size in bytes. */
export async function buildKernels(): Promise<number> {
  const bytes = await compileKernels();
  await writeAtomically(bytes);
  return bytes.length;
}

if (import.meta.main) {
  const size = await buildKernels();
  console.error(`engine/cpu/kernels.wasm: ${size} bytes`);
}
