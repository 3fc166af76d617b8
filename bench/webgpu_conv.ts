/**
 * Micro-benchmark of the WebGPU conv kernels (not a test): GFLOP/s of forward, backward-data
 * and backward-weight for one conv layer, and with `--net` the pipeline compile time and time
 * to first step of the standard denoising network (`denoisingNet`, 2.2 M parameters).
 *
 * ```sh
 * deno run -A bench/webgpu_conv.ts --cin 132 --cout 128 --size 64 --k 3 --iters 5
 * deno run -A bench/webgpu_conv.ts --net --size 64
 * deno run -A bench/webgpu_conv.ts --net --size 64 --tuning hardware
 * ```
 *
 * `--tuning software|hardware` forces the kernel sizing (default: from the adapter).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { compilePlan } from "../engine/compile.ts";
import type { Plan, Step, View } from "../engine/plan.ts";
import { denoisingNet } from "../models/mod.ts";
import { createWebGpuTrainer } from "../engine/webgpu/mod.ts";

const { values } = parseArgs({
  options: {
    cin: { type: "string", default: "132" },
    cout: { type: "string", default: "128" },
    size: { type: "string", default: "64" },
    k: { type: "string", default: "3" },
    stride: { type: "string", default: "1" },
    pad: { type: "string", default: "reflection" },
    iters: { type: "string", default: "5" },
    net: { type: "boolean", default: false },
    tuning: { type: "string" },
  },
});
const num = (name: keyof typeof values) => Number(values[name]);
const size = num("size");
const iters = num("iters");
if (values.tuning !== undefined && values.tuning !== "software" && values.tuning !== "hardware") {
  throw new Error(
    `bench_conv: expected --tuning software or hardware but received ${values.tuning}`,
  );
}
const options = values.tuning ? { tuning: values.tuning as "software" | "hardware" } : {};

async function timeSteps(plan: Plan, label: string, flops: number): Promise<void> {
  const t0 = performance.now();
  const trainer = await createWebGpuTrainer(plan, options);
  const created = performance.now();
  trainer.run(1); // warm-up (llvmpipe compiles the shaders at their first dispatch)
  await trainer.readScalars();
  const t1 = performance.now();
  const first = (t1 - created) / 1000;
  trainer.run(iters);
  await trainer.readScalars();
  const seconds = (performance.now() - t1) / 1000 / iters;
  console.log(
    `${label}: ${(flops / seconds / 1e9).toFixed(2)} GFLOP/s, ${
      (seconds * 1000).toFixed(1)
    } ms/iter; ` +
      `create ${((created - t0) / 1000).toFixed(2)} s (pipelines ${
        trainer.compileSeconds.toFixed(2)
      } s, ` +
      `${trainer.pipelineCount} distinct); first run ${first.toFixed(2)} s; ${trainer.adapter}`,
  );
  trainer.dispose();
}

function convPlan(steps: (x: View, y: View, w: { offset: number; size: number }) => Step[]): Plan {
  const cin = num("cin");
  const cout = num("cout");
  const k = num("k");
  const stride = num("stride");
  const p = (k - 1) >> 1;
  const out = Math.floor((size + 2 * p - k) / stride) + 1;
  const x: View = {
    arena: "act",
    offset: 0,
    batchStride: cin * size * size,
    c: cin,
    h: size,
    w: size,
  };
  const y: View = {
    arena: "dact",
    offset: 0,
    batchStride: cout * out * out,
    c: cout,
    h: out,
    w: out,
  };
  const w = { offset: 0, size: cout * cin * k * k };
  const io: View = { arena: "io", offset: 0, batchStride: 1, c: 1, h: 1, w: 1 };
  const nParams = w.size + cout;
  return {
    batch: 1,
    height: size,
    width: size,
    paramsPerFit: nParams,
    arenaSizes: {
      param: nParams,
      grad: nParams,
      adamM: nParams,
      adamV: nParams,
      act: x.batchStride,
      dact: Math.max(x.batchStride, y.batchStride),
      stats: 4,
      io: 4,
      scalars: 4,
    },
    forward: steps(x, y, w),
    loss: [],
    backward: [],
    update: [],
    params: [],
    io: { z0: io, z: io, output: io, target: io, ema: io },
    scalars: { loss: 0, psnrObserved: 1 },
    forwardMacs: 0,
  };
}

if (values.net) {
  const plan = compilePlan(denoisingNet(), {
    batch: 1,
    height: size,
    width: size,
    dataTerm: { kind: "identity" },
    lr: 0.01,
    regNoiseStd: 1 / 30,
    emaDecay: 0.99,
  });
  const t0 = performance.now();
  const trainer = await createWebGpuTrainer(plan, options);
  const t1 = performance.now();
  await trainer.reset([1]);
  const tReset = performance.now();
  trainer.run(1);
  await trainer.readScalars();
  const t2 = performance.now();
  console.log(
    `reset ${((tReset - t1) / 1000).toFixed(2)} s, first step ${
      ((t2 - tReset) / 1000).toFixed(2)
    } s`,
  );
  console.log(
    `denoisingNet at ${size}²: create ${((t1 - t0) / 1000).toFixed(2)} s (pipelines ${
      trainer.compileSeconds.toFixed(2)
    } s, ${trainer.pipelineCount} distinct, ${trainer.dispatchesPerStep} dispatches/step); ` +
      `time to first step ${((t2 - t0) / 1000).toFixed(2)} s; ${trainer.adapter}`,
  );
  trainer.run(iters);
  await trainer.readScalars();
  const per = (performance.now() - t2) / 1000 / iters;
  console.log(
    `  ${(per * 1000).toFixed(1)} ms/step, ${
      (3 * 2 * plan.forwardMacs / per / 1e9).toFixed(2)
    } GFLOP/s (3 × forward)`,
  );
  trainer.dispose();
} else {
  const pad = values.pad as "reflection" | "zero" | "replicate";
  const k = num("k");
  const stride = num("stride");
  const common = { k, stride, pad } as const;
  const probe = convPlan((x, y, weight) => [{ kind: "conv", x, y, weight, ...common }]);
  const y = probe.forward[0]!.kind === "conv" ? probe.forward[0].y : undefined;
  const flops = 2 * num("cin") * num("cout") * k * k * y!.h * y!.w;
  await timeSteps(probe, "forward", flops);
  await timeSteps(
    convPlan((
      x,
      y,
      weight,
    ) => [{ kind: "conv_bwd_data", dy: y, dx: x, weight, accumulate: false, ...common }]),
    "backward data",
    flops,
  );
  await timeSteps(
    convPlan((x, y, weight) => [{ kind: "conv_bwd_weight", x, dy: y, weight, ...common }]),
    "backward weight",
    flops,
  );
}
