/**
 * The layering of ARCHITECTURE.md, kept true: every module's relative imports are read and an
 * import that points up the stack fails the test, naming both files.
 */
import { deepStrictEqual as deepEqual } from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * What each layer may import, bottom to top. `engine/compile.ts` is the bridge that compiles a
 * `models/` network into a plan; the rest of engine/ (the plan format and the backends) imports
 * nothing above engine/. models/ sits above engine/ and reads its layer kinds (engine/layers/).
 */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  core: ["core"],
  image: ["core", "image"],
  engine: ["engine"],
  models: ["engine", "models"],
  "engine/compile.ts": ["engine", "models"],
  "engine/mod.ts": ["engine", "models"],
  dip: ["core", "image", "engine", "models", "dip"],
  ops: ["core", "image", "engine", "models", "dip", "ops"],
  pipeline: ["core", "image", "engine", "models", "dip", "ops", "pipeline"],
  service: ["core", "image", "engine", "models", "dip", "ops", "pipeline", "service"],
  bench: ["core", "image", "engine", "models", "dip", "ops", "pipeline", "bench"],
  cli: ["core", "image", "engine", "models", "dip", "ops", "pipeline", "service", "bench", "cli"],
};

/** The layer a file belongs to: its own entry in {@link ALLOWED}, else its top folder. */
function layerOf(file: string): string | undefined {
  if (file in ALLOWED) return file;
  const top = file.split("/")[0]!;
  return top in ALLOWED && file.includes("/") ? top : undefined;
}

function* sourceFiles(dir: string): Generator<string> {
  for (const entry of Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) {
      if (entry.name !== "assembly" && !entry.name.startsWith(".")) yield* sourceFiles(path);
    } else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** Relative specifiers of a module's static and dynamic imports and re-exports (not doc text). */
export function importsOf(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /^(?:import|export)[^"'\n]*?from\s*["'](\.{1,2}\/[^"']+)["']/gm,
    /^\}\s*from\s*["'](\.{1,2}\/[^"']+)["']/gm,
    /^import\s*["'](\.{1,2}\/[^"']+)["']/gm,
    /^(?!\s*\*).*\bimport\(\s*["'](\.{1,2}\/[^"']+)["']/gm,
  ];
  for (const pattern of patterns) {
    for (const match of source.matchAll(pattern)) found.push(match[1]!);
  }
  return found;
}

Deno.test("importsOf() finds static, multi-line and dynamic imports but not doc examples", () => {
  const source = [
    `import { a } from "../core/a.ts";`,
    `import {`,
    `  b,`,
    `} from "./b.ts";`,
    `export * from "../dip/c.ts";`,
    ` * import { d } from "../cli/d.ts";`,
    `const e = await import("../ops/e.ts");`,
  ].join("\n");
  deepEqual(importsOf(source).sort(), ["../core/a.ts", "../dip/c.ts", "../ops/e.ts", "./b.ts"]);
});

Deno.test("no module imports a layer above its own", () => {
  const violations: string[] = [];
  for (const top of Object.keys(ALLOWED).filter((name) => !name.includes("/"))) {
    const dir = join(ROOT, top);
    try {
      Deno.statSync(dir);
    } catch {
      continue;
    }
    for (const path of sourceFiles(dir)) {
      const file = relative(ROOT, path);
      const layer = layerOf(file)!;
      for (const specifier of importsOf(Deno.readTextFileSync(path))) {
        const target = relative(ROOT, resolve(dirname(path), specifier));
        const targetLayer = layerOf(target) ?? target;
        const targetTop = targetLayer.split("/")[0]!;
        if (!ALLOWED[layer]!.includes(targetTop)) {
          violations.push(`${file} (${layer}) imports ${target}`);
        }
      }
    }
  }
  deepEqual(violations, []);
});
