/**
 * A plain-text listing of a compiled plan (arena sizes, then every step with its label and
 * views), for `explain()`, `--dry-run` and profilers.
 *
 * @module
 */
import type { Plan, Step, View } from "../plan.ts";
import { stepLabel } from "./labels.ts";

function fmtView(v: View): string {
  return `${v.arena}@${v.offset}[${v.c}×${v.h}×${v.w}${
    v.batchStride !== v.c * v.h * v.w ? ` /${v.batchStride}` : ""
  }]`;
}

function fmtStep(s: Step): string {
  const acc = "accumulate" in s && s.accumulate ? " +=" : "";
  switch (s.kind) {
    case "conv":
      return `${fmtView(s.x)} → ${fmtView(s.y)} k${s.k}/${s.stride} ${s.pad}`;
    case "bn_act":
      return `${fmtView(s.x)} → ${fmtView(s.y)} ${s.act}`;
    case "act":
    case "pool":
    case "upsample":
    case "crop_copy":
    case "resample_down":
      return `${fmtView(s.x)} → ${fmtView(s.y)}${"act" in s ? ` ${s.act}` : ""}${
        "mode" in s ? ` ${s.mode}` : ""
      }`;
    case "add":
      return `${fmtView(s.a)} + ${fmtView(s.b)} → ${fmtView(s.y)}`;
    case "conv_bwd_data":
    case "bn_act_bwd":
    case "act_bwd":
    case "pool_bwd":
    case "upsample_bwd":
    case "crop_copy_bwd":
    case "copy_grad":
    case "resample_down_bwd":
      return `${fmtView(s.dy)} →${acc} ${fmtView(s.dx)}`;
    case "conv_bwd_weight":
      return `${fmtView(s.x)} ⊗ ${fmtView(s.dy)} → grad@${s.weight.offset}`;
    case "input_noise":
      return `${fmtView(s.z0)} → ${fmtView(s.z)} std ${s.std}`;
    case "mse_loss":
      return `${fmtView(s.pred)} vs ${fmtView(s.target)}${
        s.mask ? ` mask ${fmtView(s.mask)}` : ""
      }`;
    case "adam":
      return `${s.size} params lr ${s.lr}`;
    case "ema":
      return `${fmtView(s.x)} → ${fmtView(s.ema)} decay ${s.decay}`;
    case "psnr":
      return `${fmtView(s.a)} vs ${fmtView(s.b)}`;
    case "wmv":
      return `${fmtView(s.x)} window ${s.window}`;
  }
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
