/**
 * The `upsample` layer: ×2 upsampling, nearest or bilinear. Lowers to the plan's `upsample`
 * step and `upsample_bwd`. ONNX: Resize ×2 (nearest: asymmetric/floor; bilinear: linear,
 * half_pixel = PyTorch's align_corners=False).
 *
 * @module
 */
import { defineLayer, oneInput } from "./kind.ts";

/** ×2 upsampling; bilinear uses align_corners=False (PyTorch ≥ 0.4 semantics). */
export interface UpsampleNode {
  /** The kind. */
  op: "upsample";
  /** Unique within the network. */
  id: string;
  /** The node it reads. */
  input: string;
  /** Interpolation. */
  mode: "nearest" | "bilinear";
}

/** The `upsample` layer kind. */
export const upsampleLayer = defineLayer<UpsampleNode>({
  op: "upsample",
  summary: "×2 upsampling, nearest or bilinear (align_corners=False)",
  inputs: oneInput,
  channels: (_node, [c]) => c!,
  shape: (_node, [x], c) => ({ c, h: 2 * x!.h, w: 2 * x!.w }),
  downscale: () => 1 / 2,
  forward: (node, ctx) =>
    ctx.emit({ kind: "upsample", x: ctx.view(node.input), y: ctx.y, mode: node.mode }),
  backward: (node, ctx) => {
    if (!ctx.needsGrad(node.input)) return;
    ctx.gradientTo(node.input, (grad, _gslice, accumulate) => ({
      kind: "upsample_bwd",
      dy: grad(node.id),
      dx: grad(node.input),
      mode: node.mode,
      accumulate,
    }));
  },
  describe: (node) => `${node.mode} ×2 ← ${node.input}`,
  onnx: {
    export: (node, ctx) => {
      const scales = `${node.id}.scales`;
      ctx.floats(scales, [4], new Float32Array([1, 1, 2, 2]));
      ctx.node(
        "Resize",
        node.id,
        [ctx.tensorName(node.input), "", scales],
        ctx.out,
        node.mode === "nearest"
          ? [
            ctx.attr.string("mode", "nearest"),
            ctx.attr.string("coordinate_transformation_mode", "asymmetric"),
            ctx.attr.string("nearest_mode", "floor"),
          ]
          : [
            ctx.attr.string("mode", "linear"),
            // PyTorch's bilinear with align_corners=False
            ctx.attr.string("coordinate_transformation_mode", "half_pixel"),
          ],
      );
    },
  },
});
