/**
 * Pass 4, parameter layout: every parameter tensor packed in network order (weight, then
 * bias) into one fit's slice of `param`, each with its PyTorch-default initialisation, so
 * `paramsPerFit` equals models/count.ts `countParams`.
 *
 * @module
 */
import type { ParamInit, ParamRef } from "../plan.ts";
import { layerKind } from "../layers/registry.ts";
import type { GraphNode } from "./graph.ts";

/** What the layout reads of a models/count.ts `ParamTensor`. */
export interface ParamSpec {
  /** `${node id}.weight` or `${node id}.bias`. */
  readonly name: string;
  /** The node owning it. */
  readonly node: string;
  /** Number of floats. */
  readonly size: number;
  /** PyTorch shape (OIHW for conv weights). */
  readonly shape: readonly number[];
  /**
   * How PyTorch initialises it; any init but `uniform`/`one`/`zero` (`lanczos`: the Lanczos
   * kernel on the channel diagonal) takes its values from the layer kind's `initValues`.
   */
  readonly init: "uniform" | "one" | "zero" | "lanczos" | "values";
  /** cin·k·k for conv tensors. */
  readonly fanIn: number;
}

/** The parameters of one fit, and their refs by tensor name. */
export interface ParamLayout {
  /** Each tensor's ref and initialisation, in layout order. */
  readonly params: ParamInit[];
  /** Floats of one fit's parameters. */
  readonly paramsPerFit: number;
  /** The ref of the tensor `name` (`${node id}.weight`/`.bias`). */
  readonly pref: (name: string) => ParamRef;
}

/** Lays out `tensors` (models/count.ts `paramTensors`) of the network whose layers are `nodes`. */
export function layoutParams(
  tensors: readonly ParamSpec[],
  nodes: readonly GraphNode[],
  where: string,
): ParamLayout {
  const paramRefs = new Map<string, ParamRef>();
  const params: ParamInit[] = [];
  let paramsPerFit = 0;
  for (const p of tensors) {
    const ref: ParamRef = { offset: paramsPerFit, size: p.size };
    paramsPerFit += p.size;
    paramRefs.set(p.name, ref);
    if (p.init === "uniform") params.push({ ref, init: "uniform", fanIn: p.fanIn, name: p.name });
    else if (p.init === "one" || p.init === "zero") {
      params.push({ ref, init: "constant", value: p.init === "one" ? 1 : 0, name: p.name });
    } else {
      const node = nodes.find((n) => n.id === p.node);
      const initValues = node && layerKind(node.op, where).initValues;
      if (!node || !initValues) {
        throw new Error(`${where}: internal error, ${p.name} has no initial values`);
      }
      params.push({
        ref,
        init: "values",
        values: initValues(node, {
          suffix: p.name.slice(p.node.length + 1),
          shape: p.shape,
          init: p.init,
          fanIn: p.fanIn,
        }),
        name: p.name,
      });
    }
  }
  const pref = (name: string): ParamRef => {
    const r = paramRefs.get(name);
    if (r === undefined) throw new Error(`${where}: internal error, no parameter ${name}`);
    return r;
  };
  return { params, paramsPerFit, pref };
}
