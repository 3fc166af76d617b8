/**
 * Learned super-resolution models that ship on npm, by name: UpscalerJS's ESRGAN models
 * (`@upscalerjs/esrgan-slim`, `-medium`, `-thick`, MIT; tfjs layers weights inside each package
 * for ×2, ×3, ×4 and ×8). The weights are read from the npm cache, offline: deno.json pins the
 * packages and deno.lock holds them, so Deno caches them with the other npm packages on the
 * first run (their JavaScript is never loaded: its ESM build does not load under Deno).
 *
 * @module
 */
import { InputError } from "../core/errors.ts";

/** A named model: its npm package and what it takes. */
export interface NamedModel {
  /** npm package. */
  readonly package: string;
  /** Exact version (as pinned in deno.json). */
  readonly version: string;
  /** Scale factors it ships weights for. */
  readonly factors: readonly number[];
  /** Value range of its input and output (UpscalerJS's rdn/rrdn definitions: 0–255). */
  readonly range: readonly [number, number];
  /** One line for docs and `explain()`. */
  readonly summary: string;
}

/** The named models. */
export const NAMED_MODELS = {
  "esrgan-slim": {
    package: "@upscalerjs/esrgan-slim",
    version: "1.0.0",
    factors: [2, 3, 4, 8],
    range: [0, 255],
    summary: "ESRGAN slim (RDN C1 D2 G4 G0 64, about 0.9 MB of weights per factor): fast",
  },
  "esrgan-medium": {
    package: "@upscalerjs/esrgan-medium",
    version: "1.0.0",
    factors: [2, 3, 4, 8],
    range: [0, 255],
    summary: "ESRGAN medium (RDN, about 2.8 MB of weights per factor)",
  },
  "esrgan-thick": {
    package: "@upscalerjs/esrgan-thick",
    version: "1.0.0",
    factors: [2, 3, 4, 8],
    range: [0, 255],
    summary: "ESRGAN thick (RRDN, about 28 MB of weights per factor): slow",
  },
} as const satisfies Record<string, NamedModel>;

/** A named model's name. */
export type ModelName = keyof typeof NAMED_MODELS;

/** The names, for schemas and messages. */
export const MODEL_NAMES = Object.keys(NAMED_MODELS) as ModelName[];

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Folders where Deno may keep an npm package (the npm cache, or a node_modules folder). */
export function packageFolders(pkg: string, version: string): string[] {
  const registry = env("NPM_CONFIG_REGISTRY") ?? "https://registry.npmjs.org/";
  let host = "registry.npmjs.org";
  try {
    const url = new URL(registry);
    host = url.port ? `${url.hostname}_${url.port}` : url.hostname;
  } catch {
    // keep the default registry's folder
  }
  const home = env("HOME") ?? env("USERPROFILE");
  const roots = [
    env("DENO_DIR"),
    env("XDG_CACHE_HOME") && `${env("XDG_CACHE_HOME")}/deno`,
    home && `${home}/.cache/deno`,
    home && `${home}/Library/Caches/deno`,
    env("LOCALAPPDATA") && `${env("LOCALAPPDATA")}/deno`,
  ].filter((r): r is string => typeof r === "string" && r.length > 0);
  return [
    ...roots.map((root) => `${root}/npm/${host}/${pkg}/${version}`),
    `${Deno.cwd()}/node_modules/${pkg}`,
  ];
}

/**
 * The `model.json` of a named model at a factor, in the npm cache.
 *
 * @throws {InputError} for an unknown name, a factor the package has no weights for, or a
 * package not in the npm cache (with where it looked)
 */
export function namedModelPath(name: string, factor: number): string {
  const model = (NAMED_MODELS as Record<string, NamedModel>)[name];
  if (!model) {
    throw new InputError(`expected a model name (${MODEL_NAMES.join(", ")}) but received ${name}`);
  }
  if (!model.factors.includes(factor)) {
    throw new InputError(
      `${name}: expected factor ${model.factors.join(", ")} but received ${factor}`,
    );
  }
  const folders = packageFolders(model.package, model.version);
  for (const folder of folders) {
    const path = `${folder}/models/x${factor}/model.json`;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not here
    }
  }
  throw new InputError(
    `${name}: ${model.package}@${model.version} is not in the npm cache (looked in ${
      folders.join(", ")
    }); run \`deno install\` in the project, which pins it`,
  );
}
