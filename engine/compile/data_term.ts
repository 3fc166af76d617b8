/**
 * Pass 2, the data term: what the network output goes through before the loss. Each downsample
 * term becomes a tensor after the output (`data.down<i>`, a fixed separable kernel); a mask,
 * which must come last, is applied by the loss at the data-term output size.
 *
 * @module
 */
import type { DataTerm } from "../plan.ts";
import type { Shape, Tensor } from "./graph.ts";

function flattenTerm(term: DataTerm): DataTerm[] {
  return term.kind === "compose" ? term.terms.flatMap(flattenTerm) : [term];
}

/**
 * The stages of `term` after the tensor `output` of shape `outShape`: the stage tensors, the
 * prediction the loss reads (the last stage, or the output itself) and whether a mask applies.
 */
export function lowerDataTerm(
  term: DataTerm,
  output: string,
  outShape: Shape,
  where: string,
): { stages: Tensor[]; pred: string; hasMask: boolean } {
  const stages: Tensor[] = [];
  let pred = output;
  let predShape = outShape;
  let hasMask = false;
  const terms = flattenTerm(term);
  terms.forEach((term, i) => {
    if (term.kind === "mask") {
      // The loss applies the mask at the data-term output size, so it must come last.
      if (i !== terms.length - 1) {
        throw new RangeError(
          `${where}: expected the mask last in a compose data term but received it at position ${
            i + 1
          } of ${terms.length}`,
        );
      }
      hasMask = true;
    } else if (term.kind === "downsample") {
      const x = predShape;
      const expectedPad = (term.taps.length - term.factor) / 2;
      if (term.pad !== expectedPad) {
        throw new RangeError(
          `${where}: expected downsample pad (taps − factor)/2 = ${expectedPad} but received ${term.pad}`,
        );
      }
      const shape = { c: x.c, h: Math.floor(x.h / term.factor), w: Math.floor(x.w / term.factor) };
      if (shape.h < 1 || shape.w < 1) {
        throw new RangeError(
          `${where}: expected an image of at least ${term.factor}² to downsample ×${term.factor}`,
        );
      }
      const id = `data.down${i}`;
      stages.push({
        id,
        shape,
        inputs: [pred],
        resample: { factor: term.factor, taps: term.taps, pad: term.pad },
      });
      pred = id;
      predShape = shape;
    }
  });
  return { stages, pred, hasMask };
}
