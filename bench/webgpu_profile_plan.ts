/**
 * Per-kernel device time of one training step of the standard denoising network (not a
 * test): every dispatch in its own compute pass with timestamp queries, summed by kernel kind.
 * Shows where a step's time goes on the adapter at hand.
 *
 * ```sh
 * deno run -A bench/webgpu_profile_plan.ts --size 64
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { compilePlan } from "../engine/compile.ts";
import { denoisingNet } from "../models/mod.ts";
import { HARDWARE_TUNING, kernelsForStep, SOFTWARE_TUNING } from "../engine/webgpu/kernels.ts";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "64" },
    tuning: { type: "string", default: "software" },
  },
});
const size = Number(values.size);
const plan = compilePlan(denoisingNet(), {
  batch: 1,
  height: size,
  width: size,
  dataTerm: { kind: "identity" },
  lr: 0.01,
  regNoiseStd: 1 / 30,
  emaDecay: 0.99,
});
const tuning = values.tuning === "hardware" ? HARDWARE_TUNING : SOFTWARE_TUNING;
const kernels = [...plan.forward, ...plan.loss, ...plan.backward, ...plan.update].flatMap((s) =>
  kernelsForStep(plan, s, tuning)
);

const adapter = await navigator.gpu.requestAdapter();
if (!adapter?.features.has("timestamp-query")) {
  throw new Error("profile_plan: expected an adapter with timestamp-query");
}
const device = await adapter.requestDevice({ requiredFeatures: ["timestamp-query"] });
const scratch = Math.max(4, ...kernels.map((k) => k.scratchFloats));
const sizes: Record<string, number> = { ...plan.arenaSizes, ctrl: 16, scratch };
const buffers = new Map(
  Object.entries(sizes).map((
    [name, n],
  ) => [
    name,
    device.createBuffer({
      size: Math.max(16, Math.ceil(n / 4) * 16),
      usage: GPUBufferUsage.STORAGE,
    }),
  ]),
);
const query = device.createQuerySet({ type: "timestamp", count: 2 * kernels.length });
const resolved = device.createBuffer({
  size: 16 * kernels.length,
  usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
});
const readback = device.createBuffer({
  size: 16 * kernels.length,
  usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
});

// llvmpipe compiles a shader at its first dispatch: one untimed pass over every kernel first.
const prepared: {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  k: (typeof kernels)[number];
}[] = [];
for (const k of kernels) {
  const pipeline = device.createComputePipeline({
    layout: "auto",
    compute: { module: device.createShaderModule({ code: k.code }), entryPoint: "main" },
  });
  const entries: GPUBindGroupEntry[] = k.bindings.map((b, binding) => {
    const buffer = buffers.get(b.name)!;
    return {
      binding,
      resource: {
        buffer,
        offset: b.offset * 4,
        size: b.size === undefined ? buffer.size - b.offset * 4 : b.size * 4,
      },
    };
  });
  if (k.uniforms.length > 0) {
    const table = device.createBuffer({
      size: k.uniforms.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(table, 0, k.uniforms);
    entries.push({ binding: k.bindings.length, resource: { buffer: table } });
  }
  const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  prepared.push({ pipeline, bindGroup, k });
}
const warm = device.createCommandEncoder();
const warmPass = warm.beginComputePass();
for (const { pipeline, bindGroup, k } of prepared) {
  warmPass.setPipeline(pipeline);
  warmPass.setBindGroup(0, bindGroup);
  warmPass.dispatchWorkgroups(...k.dispatch);
}
warmPass.end();
device.queue.submit([warm.finish()]);
const enc = device.createCommandEncoder();
for (const [i, { pipeline, bindGroup, k }] of prepared.entries()) {
  const pass = enc.beginComputePass({
    timestampWrites: {
      querySet: query,
      beginningOfPassWriteIndex: 2 * i,
      endOfPassWriteIndex: 2 * i + 1,
    },
  });
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(...k.dispatch);
  pass.end();
}
enc.resolveQuerySet(query, 0, 2 * kernels.length, resolved, 0);
enc.copyBufferToBuffer(resolved, 0, readback, 0, 16 * kernels.length);
device.queue.submit([enc.finish()]);
await readback.mapAsync(GPUMapMode.READ);
const stamps = new BigUint64Array(readback.getMappedRange());
const byKind = new Map<string, { ms: number; count: number }>();
let total = 0;
for (const [i, k] of kernels.entries()) {
  const ms = Number(stamps[2 * i + 1]! - stamps[2 * i]!) / 1e6;
  const kind = k.label.replace(/ \d+→\d+.*| [\d×]+$| \(.*$/, "");
  const e = byKind.get(kind) ?? { ms: 0, count: 0 };
  e.ms += ms;
  e.count++;
  byKind.set(kind, e);
  total += ms;
}
console.log(
  `denoisingNet at ${size}², ${values.tuning} tuning, ${adapter.info.description}: ${
    total.toFixed(1)
  } ms`,
);
for (const [kind, e] of [...byKind].sort((a, b) => b[1].ms - a[1].ms)) {
  console.log(`  ${kind.padEnd(36)} ${e.ms.toFixed(1).padStart(8)} ms  ×${e.count}`);
}
device.destroy();
