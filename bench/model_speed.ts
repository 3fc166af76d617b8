/**
 * `deno run -A bench/model_speed.ts`: how fast the `model` op runs the named ESRGAN models — a
 * ×4 upscale to 512² (128² in) and of a 512² image (to 2048²) on onnxruntime-web's wasm provider
 * (threads at ORT's default), and the 128² case on tfjs's CPU backend for comparison. Prints
 * one line per case: load time, then the median of `--repeat` runs (default 3), in ms and in
 * output megapixels per second.
 *
 * ```sh
 * flock /tmp/dipline-cpu.lock deno run -A bench/model_speed.ts [--models slim,medium,thick] [--repeat 3]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { testCard } from "../image/testcard.ts";
import { applyModel, loadModel } from "../ops/model.ts";
import type { ModelName } from "../ops/model_named.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    models: { type: "string", default: "slim,medium,thick" },
    repeat: { type: "string", default: "3" },
    large: { type: "string", default: "slim,medium" },
    tfjs: { type: "string", default: "slim" },
  },
});
const repeat = Number(values.repeat);
const names = (list: string) =>
  list.split(",").filter((s) => s.length > 0).map((s) => `esrgan-${s}` as ModelName);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measure(name: ModelName, size: number, runtime: "onnx" | "tfjs", times: number) {
  const options = { name, factor: 4, runtime } as const;
  let started = performance.now();
  const model = await loadModel(options);
  const loadMs = performance.now() - started;
  const image = testCard(size, size);
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    started = performance.now();
    await applyModel(image, model, options);
    ms.push(performance.now() - started);
  }
  await model.dispose();
  const run = median(ms);
  const mp = (16 * size * size) / 1e6;
  console.log(
    `${name.padEnd(14)} ${runtime === "onnx" ? "onnxruntime-web wasm" : "tfjs cpu            "}  ` +
      `${size}² → ${4 * size}²  load ${loadMs.toFixed(0).padStart(5)} ms  ` +
      `run ${run.toFixed(0).padStart(7)} ms (median of ${times})  ${
        (mp / (run / 1000)).toFixed(3)
      } MP/s`,
  );
}

for (const name of names(values.models)) await measure(name, 128, "onnx", repeat);
for (const name of names(values.large)) await measure(name, 512, "onnx", 1);
for (const name of names(values.tfjs)) await measure(name, 128, "tfjs", 1);
const ort = await import("onnxruntime-web");
console.log(
  `onnxruntime-web ${ort.env.versions.web}: wasm provider, ${
    ort.env.wasm.numThreads ?? "default"
  } thread(s) (its default on ${navigator.hardwareConcurrency} cores); tiles of 256 px, overlap 16`,
);
