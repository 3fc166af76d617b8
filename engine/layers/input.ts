/**
 * The `input` layer: the network's input z. It emits no step (z is the `input_noise` step's
 * output, engine/compile/forward.ts) and takes no gradient; its ONNX form is an initializer
 * that a graph input of the same name may override (models/onnx_export.ts).
 *
 * @module
 */
import { defineLayer } from "./kind.ts";

/**
 * The network's input z: `channels` planes at the fit's size divided by `downscale`
 * (1 for DIP's skip nets; 2^layers for the Deep Decoder, whose z is small).
 */
export interface InputNode {
  /** The kind. */
  op: "input";
  /** Unique within the network. */
  id: string;
  /** Channels of z. */
  channels: number;
  /** z is the fit's size divided by this. */
  downscale: number;
}

/** The `input` layer kind. */
export const inputLayer = defineLayer<InputNode>({
  op: "input",
  summary: "the network's input z at the fit's size ÷ downscale",
  inputs: () => [],
  channels: (node) => node.channels,
  shape: (node, _inputs, c, { height, width, where }) => {
    if (height % node.downscale !== 0 || width % node.downscale !== 0) {
      throw new RangeError(
        `${where}: expected height and width divisible by the input downscale ${node.downscale} but received ${height}×${width}`,
      );
    }
    return { c, h: height / node.downscale, w: width / node.downscale };
  },
  forward: () => {},
  backward: () => {},
  describe: (node) => `z ÷${node.downscale}`,
  onnx: {
    export: (node, ctx) => {
      const { where, height, width } = ctx;
      if (height % node.downscale !== 0 || width % node.downscale !== 0) {
        throw new RangeError(
          `${where}: expected height and width divisible by ${node.downscale} but received ${height}×${width}`,
        );
      }
      const shape = { c: node.channels, h: height / node.downscale, w: width / node.downscale };
      if (ctx.z.length !== shape.c * shape.h * shape.w) {
        throw new RangeError(
          `${where}: expected z to hold ${shape.c}×${shape.h}×${shape.w} = ${
            shape.c * shape.h * shape.w
          } values but received ${ctx.z.length}`,
        );
      }
      ctx.floats(ctx.out, [1, shape.c, shape.h, shape.w], ctx.z);
    },
  },
});
