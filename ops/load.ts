/**
 * The pipeline's `load` op: reads an image file named after the input into a slot, e.g. the
 * ground truth of a degraded photo into `clean` so that `metrics()` can score a restoration.
 *
 * @module
 */
import { defineOp } from "../core/op_spec.ts";
import { z } from "../core/schema.ts";
import type { Frame, Op, OpContext } from "../core/types.ts";
import { loadImage } from "../image/load.ts";

/** Options of the `load` op. */
export const LoadOptionsSchema = z.strictObject({
  path: z.string().min(1).meta({
    description: "image file; {name} = the input's name, e.g. refs/{name}.png",
  }),
  slot: z.string().regex(/^[\w-]+$/, "slot name of letters, digits, _ or -").meta({
    description: 'the slot to fill, e.g. "clean", "mask", "guide"',
  }),
});

/** Options of {@link loadOp}. */
export type LoadOpOptions = z.input<typeof LoadOptionsSchema>;

/** The `load` op's declaration. */
export const loadSpec = defineOp({
  kind: "load",
  summary: "read an image file named after the input into a slot (e.g. a reference into clean)",
  options: LoadOptionsSchema,
  create: (options) => loadOp(options),
});

/** Builds the `load` op from checked options. */
export function loadOp({ path, slot }: LoadOpOptions): Op {
  return {
    kind: "load",
    reads: [],
    writes: [slot],
    params: { path, slot },
    async run(frame: Frame, _ctx: OpContext): Promise<Frame> {
      const image = await loadImage(path.replaceAll("{name}", frame.meta.name));
      return { slots: { ...frame.slots, [slot]: image }, meta: frame.meta };
    },
  };
}
