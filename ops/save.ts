/**
 * The pipeline's `save` op: writes one slot to a file named after the input, atomically.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { RecipeError } from "../core/errors.ts";
import type { Frame, Op, OpContext } from "../core/types.ts";
import { formatOfPath, saveImage, type SaveOptions } from "../image/save.ts";
import { defineOp } from "../core/op_spec.ts";
import { z } from "../core/schema.ts";

/** Options of {@link saveOp}. */
export interface SaveOpOptions extends SaveOptions {
  /** The slot to save (default `"image"`). */
  slot?: string;
}

/**
 * Resolves a save pattern for one frame: `{name}` becomes the input's name, `{dir}` its
 * sub-folder relative to the source root (empty for top-level inputs); the result is resolved
 * against `outDir`. An empty `{dir}` drops the separator after it (`{dir}/{name}.png` gives
 * `name.png`).
 */
export function resolveOutputPath(
  pattern: string,
  name: string,
  relative: string | undefined,
  outDir: string,
): string {
  const dir = relative === undefined || dirname(relative) === "." ? "" : dirname(relative);
  const withDir = dir === ""
    ? pattern.replace(/\{dir\}[/\\]?/g, "")
    : pattern.replaceAll("{dir}", dir);
  return resolve(outDir, withDir.replaceAll("{name}", name));
}

/**
 * The pipeline's `save` op: writes one slot (default `image`) to `pattern` resolved against
 * `ctx.outDir` (see {@link resolveOutputPath}). With `ctx.overwrite` false an existing file is
 * left in place. Reports its path through `outputs()` so the executor can skip finished inputs.
 */
export function saveOp(pattern: string, options: SaveOpOptions = {}): Op {
  const { slot = "image", ...save } = options;
  if (typeof pattern !== "string" || pattern.length === 0) {
    throw new RecipeError(
      `save: expected a non-empty output pattern but received ${JSON.stringify(pattern)}`,
    );
  }
  const format = save.format ?? formatOfPath(pattern);
  if (format === undefined) {
    throw new RecipeError(
      `save: expected a pattern ending in .png, .jpg or .jpeg (or a format option) but received "${pattern}"`,
    );
  }
  return {
    kind: "save",
    reads: [slot],
    writes: [],
    params: { pattern, slot, ...save },
    outputs(name: string, relative: string | undefined, outDir: string): string[] {
      return [resolveOutputPath(pattern, name, relative, outDir)];
    },
    async run(frame: Frame, ctx: OpContext): Promise<Frame> {
      const image = frame.slots[slot];
      if (image === undefined) {
        throw new RecipeError(
          `save: expected slot "${slot}" in frame ${frame.meta.name} but it is missing`,
        );
      }
      const path = resolveOutputPath(pattern, frame.meta.name, frame.meta.relative, ctx.outDir);
      if (!ctx.overwrite && await exists(path)) return frame;
      await saveImage(image, path, { ...save, format });
      return frame;
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Options of the `save` op in a JSON recipe: the pattern plus {@link SaveOpOptions}. */
export const SaveOptionsSchema = z.strictObject({
  pattern: z.string().min(1).meta({
    description: "output file, resolved against the output folder; {name} = the input's name, " +
      "{dir} = its sub-folder; .png, .jpg or .jpeg",
  }),
  slot: z.string().min(1).optional().meta({ description: 'the slot to save (default "image")' }),
  format: z.enum(["png", "jpeg"]).optional().meta({
    description: "output format (default: from the extension)",
  }),
  bitDepth: z.union([z.literal(8), z.literal(16)]).optional().meta({
    description: "PNG bits per sample (default 8)",
  }),
  quality: z.int().min(1).max(100).optional().meta({ description: "JPEG quality (default 90)" }),
});

/** The `save` op's declaration. */
export const saveSpec = defineOp({
  kind: "save",
  summary: "write a slot to a file named after the input, atomically",
  options: SaveOptionsSchema,
  create: ({ pattern, ...options }) => saveOp(pattern, options),
});
