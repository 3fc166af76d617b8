/**
 * `deno run -A bench/onnx_roundtrip.ts`: the ONNX export/import round trip of every preset
 * network at the smallest size its levels allow — parameters, file size, export and import
 * time, onnxruntime-web's forward time, the largest difference between onnxruntime-web and the
 * engine's forward pass of the exported weights and z, and between the engine's forward pass
 * of the original and of the re-imported network.
 *
 * ```sh
 * flock /tmp/dipline-cpu.lock deno run -A bench/onnx_roundtrip.ts [--engine cpu]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { compilePlan } from "../engine/compile.ts";
import { initParams, inputNoise } from "../engine/init.ts";
import { createTrainer } from "../engine/mod.ts";
import type { EngineName } from "../engine/backend.ts";
import { planWithWeights } from "../engine/weights.ts";
import type { Network } from "../models/graph.ts";
import {
  activationMaxNet,
  countParams,
  deepDecoder,
  denoisingNet,
  featureInversionNet,
  flashNoFlashNet,
  inpaintingLibraryNet,
  inpaintingNet,
  inpaintingResNet,
  inpaintingVaseNet,
  jpegNet,
  restorationBarbaraNet,
  restorationKateNet,
} from "../models/mod.ts";
import { exportOnnx } from "../models/onnx_export.ts";
import { importOnnx } from "../models/onnx_import.ts";
import { createOrtSession } from "../ops/model_runtime.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { engine: { type: "string", default: "cpu" } },
});
const engine = values.engine as EngineName;

const PRESETS: [string, Network, number][] = [
  ["denoise / sr (skip)", denoisingNet(), 64],
  ["barbara (gray)", restorationBarbaraNet(), 64],
  ["jpeg (snail)", jpegNet(), 64],
  ["inpaint (kate)", inpaintingNet(), 64],
  ["inpaint-vase (hourglass)", inpaintingVaseNet(), 64],
  ["library skip_depth6", inpaintingLibraryNet(6), 256],
  ["library skip_depth4", inpaintingLibraryNet(4), 64],
  ["library skip_depth2", inpaintingLibraryNet(2), 16],
  ["library ResNet", inpaintingResNet(), 64],
  ["kate 2% (avg pool)", restorationKateNet(), 64],
  ["flash", flashNoFlashNet(), 64],
  ["feature inversion", featureInversionNet(), 128],
  ["activation max.", activationMaxNet(), 256],
  ["deep decoder", deepDecoder(), 64],
];

function plan(network: Network, size: number, weights?: Float32Array) {
  const p = compilePlan(network, {
    batch: 1,
    height: size,
    width: size,
    dataTerm: { kind: "identity" },
    lr: 0.01,
    regNoiseStd: 0,
    emaDecay: 0,
  });
  return weights ? planWithWeights(p, weights) : p;
}

async function forward(network: Network, size: number, params: Float32Array, z: Float32Array) {
  const trainer = await createTrainer(plan(network, size, params), { engine });
  try {
    await trainer.reset([0]);
    trainer.upload("z0", z);
    return await trainer.evaluate();
  } finally {
    trainer.dispose();
  }
}

const maxDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

console.log(
  [
    "network",
    "size",
    "params",
    "params back",
    "MiB",
    "export ms",
    "import ms",
    "ORT ms",
    "|ORT−engine|",
    "|back−orig|",
  ].join(" | "),
);
for (const [label, network, size] of PRESETS) {
  const p = plan(network, size);
  const params = initParams(p, [1]);
  const { c, h, w } = p.io.z0;
  const z = inputNoise("noise", c, h, w, 7);
  let t = performance.now();
  const bytes = exportOnnx(network, { params, z, height: size, width: size });
  const exportMs = performance.now() - t;
  t = performance.now();
  const back = importOnnx(bytes);
  const importMs = performance.now() - t;
  const { session } = await createOrtSession(bytes);
  await session.run({}); // warm-up
  t = performance.now();
  const result = await session.run({});
  const ortMs = performance.now() - t;
  const ortOut = result[session.outputNames[0]!]!.data as Float32Array;
  await session.release();
  const engineOut = await forward(network, size, params, z);
  const backOut = await forward(back.network, size, back.params, back.z!.data);
  console.log(
    [
      label,
      `${size}²`,
      countParams(network).toLocaleString("en-US"),
      countParams(back.network).toLocaleString("en-US"),
      (bytes.length / 2 ** 20).toFixed(1),
      exportMs.toFixed(0),
      importMs.toFixed(0),
      ortMs.toFixed(0),
      maxDiff(ortOut, engineOut).toExponential(1),
      maxDiff(backOut, engineOut).toExponential(1),
    ].join(" | "),
  );
}
