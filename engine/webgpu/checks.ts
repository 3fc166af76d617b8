/**
 * The argument checks a WebGPU trainer makes before it touches the device, shared by the
 * in-thread trainer (mod.ts) and its proxy to a host process (remote.ts), so both refuse the
 * same calls with the same messages.
 *
 * @module
 */
import type { Plan, View } from "../plan.ts";

/** The plan's `io` view `name`. @throws {RangeError} when the plan has none */
export function ioView(plan: Plan, name: keyof Plan["io"], caller: string): View {
  const v = plan.io[name];
  if (!v) throw new RangeError(`WebGpuTrainer.${caller}: the plan has no ${name} view`);
  return v;
}

/**
 * The view an upload of `data` into `name` fills.
 * @throws {RangeError} when the plan has no such view or `data` is not one batch of it
 */
export function uploadView(
  plan: Plan,
  name: "z0" | "target" | "mask",
  data: Float32Array,
): View {
  const v = ioView(plan, name, "upload");
  const n = v.c * v.h * v.w;
  if (data.length !== plan.batch * n) {
    throw new RangeError(
      `WebGpuTrainer.upload: expected ${plan.batch * n} values ` +
        `(${plan.batch}×${v.c}×${v.h}×${v.w}) for ${name} but received ${data.length}`,
    );
  }
  return v;
}
