import assert from "node:assert/strict";
import { compilePlan } from "../engine/compile.ts";
import { inputNoise } from "../engine/init.ts";
import { createTrainer } from "../engine/mod.ts";
import { probeWebGpu } from "../engine/webgpu/probe.ts";
import type { EngineName } from "../engine/backend.ts";
import { skip } from "../models/mod.ts";
import { exportOnnx } from "../models/onnx_export.ts";
import { maxAbsDiff, ortRun, seededWeights } from "./onnx_harness.ts";

// Asked without touching WebGPU on this test thread (engine/webgpu/main_thread.ts).
const hasGpu = (await probeWebGpu()).available;

const ENGINES: EngineName[] = ["reference", "cpu", ...(hasGpu ? ["webgpu" as const] : [])];

for (const engine of ENGINES) {
  Deno.test(`a generator fitted on ${engine} exports to ONNX that reproduces its forward pass`, async () => {
    const network = skip({ inputChannels: 4, channelsDown: [8, 8], channelsSkip: [2, 2] });
    const size = 16;
    const plan = compilePlan(network, {
      batch: 2,
      height: size,
      width: size,
      dataTerm: { kind: "identity" },
      lr: 0.01,
      regNoiseStd: 1 / 30,
      emaDecay: 0,
    });
    const trainer = await createTrainer(plan, { engine, threads: 1 });
    try {
      await trainer.reset([3, 4]);
      trainer.setNoiseSeeds([5, 6]);
      const zOne = inputNoise("noise", 4, size, size, 9);
      const z = new Float32Array(2 * zOne.length);
      z.set(zOne);
      z.set(inputNoise("noise", 4, size, size, 10), zOne.length);
      trainer.upload("z0", z);
      trainer.upload("target", new Float32Array(2 * 3 * size * size).map((_, i) => (i % 7) / 7));
      trainer.run(8);
      const params = await trainer.readParams!();
      const forward = await trainer.evaluate();
      const out = 3 * size * size;
      for (const b of [0, 1]) {
        const bytes = exportOnnx(network, {
          params: params.subarray(b * plan.paramsPerFit, (b + 1) * plan.paramsPerFit),
          z: z.subarray(b * zOne.length, (b + 1) * zOne.length),
          height: size,
          width: size,
        });
        const { data } = await ortRun(bytes);
        const diff = maxAbsDiff(data, forward.subarray(b * out, (b + 1) * out));
        assert.ok(diff < 1e-4, `fit ${b}: max |ORT − ${engine}| = ${diff}`);
      }
    } finally {
      trainer.dispose();
    }
  });
}

Deno.test("loading onnxruntime-web leaves the global web Worker in place for the cpu engine", async () => {
  const before = globalThis.Worker;
  const network = skip({ inputChannels: 2, channelsDown: [4], channelsSkip: [1] });
  const { params, z } = seededWeights(network, 8, 8);
  await ortRun(exportOnnx(network, { params, z, height: 8, width: 8 }));
  assert.equal(globalThis.Worker, before);
});
