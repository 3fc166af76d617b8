/**
 * The layer registry: every layer kind the engine compiles, by `op`. The built-in kinds are
 * {@link BUILTIN_LAYERS}, one record per file beside this one; {@link registerLayer} adds a kind
 * at run time (a test's toy layer, an experiment), which then compiles, counts, describes and
 * exports like a built-in one. The compile passes (engine/compile/), models/count.ts,
 * models/describe.ts and models/onnx_export.ts look layers up here and nowhere else.
 *
 * @example
 * ```ts
 * import { layerKind } from "./registry.ts";
 * layerKind("conv").summary; // "2-D convolution, same padding (…), stride 1 or 2"
 * ```
 *
 * @module
 */
import { actLayer } from "./act.ts";
import { addLayer } from "./add.ts";
import { bnLayer } from "./bn.ts";
import { concatLayer } from "./concat.ts";
import { convLayer } from "./conv.ts";
import { inputLayer } from "./input.ts";
import type { LayerKind, NodeBase } from "./kind.ts";
import { lanczosDownLayer } from "./lanczos_down.ts";
import { poolLayer } from "./pool.ts";
import { upsampleLayer } from "./upsample.ts";

/** The built-in layer kinds: add a kind's record here (and its file beside this one). */
export const BUILTIN_LAYERS = [
  inputLayer,
  convLayer,
  bnLayer,
  actLayer,
  poolLayer,
  lanczosDownLayer,
  upsampleLayer,
  concatLayer,
  addLayer,
] as const;

/** The node type of a layer kind record. */
export type NodeOf<K> = K extends LayerKind<infer N> ? N : never;

/** One layer of a network built from the built-in kinds (models/graph.ts `LayerNode`). */
export type BuiltinLayerNode = NodeOf<(typeof BUILTIN_LAYERS)[number]>;

const kinds = new Map<string, LayerKind>(
  BUILTIN_LAYERS.map((kind) => [kind.op, kind as unknown as LayerKind]),
);

/**
 * Adds a layer kind at run time. Its steps must be kinds every backend that runs it has a
 * kernel for (engine/plan.ts `STEP_KINDS`, or a kind registered with that backend).
 *
 * @throws {RangeError} when a kind of that `op` exists
 */
export function registerLayer<N extends NodeBase>(kind: LayerKind<N>): void {
  if (kinds.has(kind.op)) {
    throw new RangeError(`registerLayer: expected a new layer kind but ${kind.op} exists`);
  }
  kinds.set(kind.op, kind as unknown as LayerKind);
}

/**
 * The record of layer kind `op`; `where` starts the message when there is none.
 *
 * @throws {RangeError} when no kind `op` is registered
 */
export function layerKind(op: string, where = "layerKind"): LayerKind {
  const kind = kinds.get(op);
  if (kind === undefined) {
    throw new RangeError(
      `${where}: expected a layer kind (${[...kinds.keys()].join(", ")}) but received ${op}`,
    );
  }
  return kind;
}

/** The `op` of every registered layer kind, built-in ones first. */
export function layerKinds(): string[] {
  return [...kinds.keys()];
}
