/**
 * The `concat` layer: channel concatenation, every input centre-cropped to the smallest size.
 * An input whose only consumer is the concat and that needs no crop is written in place as a
 * channel slice of the output (engine/compile/aliasing.ts) and costs no step; the others are a
 * `crop_copy` each, with `crop_copy_bwd` as gradient. ONNX: Slice crops where sizes differ,
 * then Concat.
 *
 * @module
 */
import { channelSlice } from "../compile/buffers.ts";
import { defineLayer } from "./kind.ts";

/** Channel concat; every input is centre-cropped to the smallest H and W (reference `Concat`). */
export interface ConcatNode {
  /** The kind. */
  op: "concat";
  /** Unique within the network. */
  id: string;
  /** The nodes it concatenates, in channel order. */
  inputs: string[];
}

/** The `concat` layer kind. */
export const concatLayer = defineLayer<ConcatNode>({
  op: "concat",
  summary: "channel concatenation, inputs centre-cropped to the smallest size",
  inputs: (node) => node.inputs,
  channels: (_node, cs) => cs.reduce((sum, c) => sum + c, 0),
  shape: (_node, xs, c) => ({
    c,
    h: Math.min(...xs.map((s) => s.h)),
    w: Math.min(...xs.map((s) => s.w)),
  }),
  forward: (node, ctx) => {
    const { y } = ctx;
    let channel = 0;
    for (const x of node.inputs) {
      const s = ctx.shapeOf(x);
      if (!ctx.aliased(x)) {
        ctx.emit({
          kind: "crop_copy",
          x: ctx.view(x),
          y: channelSlice(y, channel, { c: s.c, h: y.h, w: y.w }),
        });
      }
      channel += s.c;
    }
  },
  backward: (node, ctx) => {
    let channel = 0;
    for (const x of node.inputs) {
      const s = ctx.shapeOf(x);
      const ch = channel;
      channel += s.c;
      if (ctx.aliased(x) || !ctx.needsGrad(x)) continue;
      ctx.gradientTo(x, (grad, gslice, accumulate) => ({
        kind: "crop_copy_bwd",
        dy: gslice(node.id, ch, { c: s.c, h: ctx.shape.h, w: ctx.shape.w }),
        dx: grad(x),
        accumulate,
      }));
    }
  },
  describe: (node) => `← ${node.inputs.join(", ")}`,
  onnx: {
    export: (node, ctx) => {
      const xs = node.inputs.map(ctx.shapeOf);
      const h = Math.min(...xs.map((s) => s.h));
      const w = Math.min(...xs.map((s) => s.w));
      const inputs = node.inputs.map((id, i) => {
        const s = xs[i]!;
        if (s.h === h && s.w === w) return ctx.tensorName(id);
        // centre crop to the smallest H and W, as the plan's crop_copy
        const top = Math.floor((s.h - h) / 2), left = Math.floor((s.w - w) / 2);
        const name = `${node.id}.crop${i}`;
        ctx.ints(`${name}.starts`, [top, left]);
        ctx.ints(`${name}.ends`, [top + h, left + w]);
        ctx.ints(`${name}.axes`, [2, 3]);
        ctx.node(
          "Slice",
          name,
          [ctx.tensorName(id), `${name}.starts`, `${name}.ends`, `${name}.axes`],
          `${name}.out`,
        );
        return `${name}.out`;
      });
      ctx.node("Concat", node.id, inputs, ctx.out, [ctx.attr.int("axis", 1)]);
    },
  },
});
