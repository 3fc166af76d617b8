/**
 * A plain-text listing of a compiled plan (arena sizes, then every step with its label and
 * views), for `explain()`, `--dry-run` and profilers.
 *
 * @module
 */
import type { Plan, Step, StepKind, StepOf, View } from "../plan.ts";
import { stepLabel } from "./labels.ts";

function fmtView(v: View): string {
  return `${v.arena}@${v.offset}[${v.c}×${v.h}×${v.w}${
    v.batchStride !== v.c * v.h * v.w ? ` /${v.batchStride}` : ""
  }]`;
}

const acc = (s: { readonly accumulate: boolean }) => s.accumulate ? " +=" : "";
const xToY = (s: { readonly x: View; readonly y: View }) => `${fmtView(s.x)} → ${fmtView(s.y)}`;
const dyToDx = (s: { readonly dy: View; readonly dx: View; readonly accumulate: boolean }) =>
  `${fmtView(s.dy)} →${acc(s)} ${fmtView(s.dx)}`;

/** How `describePlan` shows each step kind's operands, keyed by step kind like the kernels. */
const STEP_FORMATS: { readonly [K in StepKind]: (s: StepOf<K>) => string } = {
  conv: (s) => `${xToY(s)} k${s.k}/${s.stride} ${s.pad}`,
  bn_act: (s) => `${xToY(s)} ${s.act}`,
  act: (s) => `${xToY(s)} ${s.act}`,
  pool: (s) => `${xToY(s)} ${s.mode}`,
  upsample: (s) => `${xToY(s)} ${s.mode}`,
  crop_copy: xToY,
  resample_down: xToY,
  add: (s) => `${fmtView(s.a)} + ${fmtView(s.b)} → ${fmtView(s.y)}`,
  conv_bwd_data: dyToDx,
  bn_act_bwd: dyToDx,
  act_bwd: dyToDx,
  pool_bwd: dyToDx,
  upsample_bwd: dyToDx,
  crop_copy_bwd: dyToDx,
  copy_grad: dyToDx,
  resample_down_bwd: dyToDx,
  conv_bwd_weight: (s) => `${fmtView(s.x)} ⊗ ${fmtView(s.dy)} → grad@${s.weight.offset}`,
  input_noise: (s) => `${fmtView(s.z0)} → ${fmtView(s.z)} std ${s.std}`,
  mse_loss: (s) =>
    `${fmtView(s.pred)} vs ${fmtView(s.target)}${s.mask ? ` mask ${fmtView(s.mask)}` : ""}`,
  adam: (s) => `${s.size} params lr ${s.lr}`,
  ema: (s) => `${fmtView(s.x)} → ${fmtView(s.ema)} decay ${s.decay}`,
  psnr: (s) => `${fmtView(s.a)} vs ${fmtView(s.b)}`,
  wmv: (s) => `${fmtView(s.x)} window ${s.window}`,
};

/** A step kind registered at run time (a toy layer's): its views, in field order. */
function fmtOther(s: Step): string {
  return Object.entries(s)
    .filter(([, v]) => typeof v === "object" && v !== null && "arena" in v)
    .map(([k, v]) => `${k} ${fmtView(v as View)}`)
    .join(", ");
}

function fmtStep(s: Step): string {
  const format = (STEP_FORMATS as Readonly<Record<string, (s: Step) => string>>)[s.kind];
  return format !== undefined && Object.hasOwn(STEP_FORMATS, s.kind) ? format(s) : fmtOther(s);
}

/**
 * A plain-text listing of a plan: arena sizes, then every step with its node and views
 * (`arena@offset[c×h×w /batchStride]`), for `explain()` and `--dry-run`.
 */
export function describePlan(plan: Plan): string {
  const mb = (floats: number) => `${(floats * 4 / 2 ** 20).toFixed(2)} MiB`;
  const lines = [
    `plan: batch ${plan.batch}, ${plan.height}×${plan.width}, ${plan.paramsPerFit} parameters per fit, ${
      (plan.forwardMacs / 1e9).toFixed(3)
    } GMAC forward per fit`,
    "arenas (floats):",
    ...Object.entries(plan.arenaSizes).map(([k, v]) =>
      `  ${k.padEnd(8)} ${String(v).padStart(12)}  ${mb(v)}`
    ),
  ];
  for (
    const [phase, steps] of [["forward", plan.forward], ["loss", plan.loss], [
      "backward",
      plan.backward,
    ], [
      "update",
      plan.update,
    ]] as const
  ) {
    lines.push(`${phase} (${steps.length} steps):`);
    for (const s of steps) {
      lines.push(`  ${s.kind.padEnd(18)} ${(stepLabel(s) ?? "").padEnd(18)} ${fmtStep(s)}`);
    }
  }
  return lines.join("\n");
}
