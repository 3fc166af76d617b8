/**
 * Layer kinds as records (engine/layers/kind.ts) in one registry (engine/layers/registry.ts),
 * with the node type of each built-in kind.
 *
 * @module
 */
export * from "./kind.ts";
export { ARENAS } from "../plan.ts";
export type { Activation, Arena, ParamRef, StatsRef, Step, View } from "../plan.ts";
export * from "./registry.ts";
export type { ActNode } from "./act.ts";
export type { AddNode } from "./add.ts";
export type { BnNode } from "./bn.ts";
export type { ConcatNode } from "./concat.ts";
export { type ConvNode, convOut, type PadMode } from "./conv.ts";
export type { InputNode } from "./input.ts";
export { type LanczosDownNode, lanczosKernelSize } from "./lanczos_down.ts";
export type { PoolNode } from "./pool.ts";
export type { UpsampleNode } from "./upsample.ts";
