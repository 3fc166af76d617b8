import assert from "node:assert/strict";
import { makeImage } from "../core/image.ts";
import { InputError } from "../core/errors.ts";
import { runTiled, tileStarts } from "../image/tiles.ts";
import { testCard } from "../image/testcard.ts";
import { psnr } from "../image/metrics.ts";
import { attr, encodeModel, floatTensor } from "../models/onnx.ts";
import { applyModel, loadModel, modelOp } from "../ops/model.ts";
import { namedModelPath } from "../ops/model_named.ts";
import { probeWebGpu } from "../engine/webgpu/probe.ts";
import { tempDir } from "./fixtures.ts";

/** An ONNX image model: y = nearest ×2 upsampling of (x · gain), C channels, free H and W. */
function upsampler(channels: number, gain = 1): Uint8Array {
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: "up2",
      input: [{
        name: "x",
        type: {
          tensorType: {
            elemType: 1,
            shape: {
              dim: [{ dimValue: 1 }, { dimValue: channels }, { dimParam: "h" }, { dimParam: "w" }],
            },
          },
        },
      }],
      output: [{ name: "y", type: { tensorType: { elemType: 1 } } }],
      initializer: [
        floatTensor("gain", [], new Float32Array([gain])),
        floatTensor("scales", [4], new Float32Array([1, 1, 2, 2])),
      ],
      node: [
        { opType: "Mul", name: "gain", input: ["x", "gain"], output: ["g"] },
        {
          opType: "Resize",
          name: "up",
          input: ["g", "", "scales"],
          output: ["y"],
          attribute: [attr.string("mode", "nearest")],
        },
      ],
    },
  });
}

async function writeModel(bytes: Uint8Array, name = "up2.onnx"): Promise<string> {
  const path = `${await tempDir()}/${name}`;
  await Deno.writeFile(path, bytes);
  return path;
}

function nearest2(image: ReturnType<typeof testCard>) {
  const { channels: C, height: H, width: W } = image;
  const out = new Float32Array(C * 4 * H * W);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < 2 * H; y++) {
      for (let x = 0; x < 2 * W; x++) {
        out[c * 4 * H * W + y * 2 * W + x] = image.data[c * H * W + (y >> 1) * W + (x >> 1)]!;
      }
    }
  }
  return makeImage(C, 2 * H, 2 * W, out);
}

Deno.test("tileStarts() covers the length with the overlap asked for", () => {
  assert.deepEqual(tileStarts(100, 40, 8), [0, 32, 60]);
  assert.deepEqual(tileStarts(30, 40, 8), [0]);
});

Deno.test("runTiled() of a pointwise ×2 function equals the untiled result", async () => {
  const card = testCard(50, 37);
  const f = (t: typeof card) => Promise.resolve(nearest2(t));
  const tiled = await runTiled(card, { tile: 16, overlap: 4, scale: 2 }, f);
  assert.ok(psnr(tiled, nearest2(card)) > 100);
});

Deno.test("runTiled() blends: a tile-dependent offset is ramped, not stepped", async () => {
  const flat = makeImage(1, 8, 40, new Float32Array(320).fill(0.5));
  let k = 0;
  const out = await runTiled(flat, { tile: 16, overlap: 8, scale: 1 }, (t) => {
    const v = k++ % 2 ? 0.6 : 0.4;
    return Promise.resolve(
      makeImage(1, t.height, t.width, new Float32Array(t.data.length).fill(v)),
    );
  });
  const row = Array.from(out.data.subarray(0, 40));
  for (let x = 1; x < 40; x++) assert.ok(Math.abs(row[x]! - row[x - 1]!) < 0.05, `step at ${x}`);
});

Deno.test("applyModel() runs an ONNX model with a value range and BGR order, tiled or whole", async () => {
  const path = await writeModel(upsampler(3, 1));
  const model = await loadModel({ path });
  const card = testCard(40, 24);
  const expected = nearest2(card);
  for (const tile of [256, 16]) {
    const out = await applyModel(card, model, {
      factor: 2,
      range: [0, 255],
      channelOrder: "bgr",
      tile,
      overlap: 4,
    });
    assert.equal(out.height, 80);
    assert.ok(psnr(out, expected) > 80, `tile ${tile}`);
  }
  // Without a factor, the ×2 is learned from the output.
  assert.ok(psnr(await applyModel(card, model), expected) > 80);
  await model.dispose();
});

Deno.test("applyModel() gives a gray image to a 3-channel model and averages the result back", async () => {
  const model = await loadModel({ path: await writeModel(upsampler(3)) });
  const gray = makeImage(1, 8, 8, new Float32Array(64).map((_, i) => i / 64));
  const out = await applyModel(gray, model, { factor: 2 });
  assert.equal(out.channels, 1);
  assert.ok(psnr(out, nearest2(gray)) > 80);
});

Deno.test("applyModel() refuses a factor the output does not have, naming the file", async () => {
  const path = await writeModel(upsampler(3));
  const model = await loadModel({ path });
  await assert.rejects(
    () => applyModel(testCard(8, 8), model, { factor: 4 }),
    (e: Error) => e instanceof InputError && e.message.startsWith(path) && /×4/.test(e.message),
  );
});

Deno.test("loadModel() names the file and the reason in one line", async () => {
  const dir = await tempDir();
  const cases: [string, Uint8Array | undefined, RegExp][] = [
    ["missing.onnx", undefined, /missing\.onnx: model file not found$/],
    ["text.onnx", new TextEncoder().encode("hello, not a model"), /text\.onnx: not an ONNX model/],
    [
      "strange.onnx",
      encodeModel({
        irVersion: 8,
        opsetImport: [{ domain: "", version: 17 }],
        graph: {
          name: "g",
          input: [{ name: "x", type: { tensorType: { elemType: 1 } } }],
          output: [{ name: "y", type: { tensorType: { elemType: 1 } } }],
          node: [{ opType: "NoSuchOperator", name: "odd", input: ["x"], output: ["y"] }],
        },
      }),
      /strange\.onnx: onnxruntime-web cannot load the model: .*NoSuchOperator/,
    ],
  ];
  for (const [name, bytes, pattern] of cases) {
    if (bytes) await Deno.writeFile(`${dir}/${name}`, bytes);
    await assert.rejects(() => loadModel({ path: `${dir}/${name}` }), (e: Error) => {
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes("\n"), e.message);
      return e instanceof InputError;
    });
  }
});

Deno.test("applyModel() refuses an image whose channel count the model does not take", async () => {
  const model = await loadModel({ path: await writeModel(upsampler(1), "gray.onnx") });
  await assert.rejects(
    () => applyModel(testCard(8, 8), model),
    /gray\.onnx: the model takes 1 channels but testcard has 3/,
  );
});

Deno.test("esrgan-slim ×2 runs offline from the npm cache, the same through ONNX and tfjs", async () => {
  assert.match(namedModelPath("esrgan-slim", 2), /esrgan-slim.*models\/x2\/model\.json$/);
  const card = testCard(16, 16);
  const viaOnnx = await applyModel(card, await loadModel({ name: "esrgan-slim", factor: 2 }), {
    name: "esrgan-slim",
    factor: 2,
  });
  const viaTfjs = await applyModel(
    card,
    await loadModel({ name: "esrgan-slim", factor: 2, runtime: "tfjs" }),
    { name: "esrgan-slim", factor: 2 },
  );
  assert.equal(viaOnnx.width, 32);
  assert.ok(psnr(viaOnnx, viaTfjs) > 60, `ONNX vs tfjs ${psnr(viaOnnx, viaTfjs)} dB`);
  assert.ok(psnr(viaOnnx, nearest2(card)) > 15);
});

Deno.test("esrgan-thick's custom layers (MultiplyBeta, PixelShuffle) convert to ONNX exactly", async () => {
  const card = testCard(8, 8);
  const options = { name: "esrgan-thick", factor: 2 } as const;
  const a = await applyModel(card, await loadModel(options), options);
  const b = await applyModel(card, await loadModel({ ...options, runtime: "tfjs" }), options);
  assert.ok(psnr(a, b) > 60, `ONNX vs tfjs ${psnr(a, b)} dB`);
});

Deno.test("the model op writes the image and records the model and runtime", async () => {
  const op = modelOp({ path: await writeModel(upsampler(3)), factor: 2 });
  const card = testCard(8, 8);
  const frame = await op.run(
    { slots: { image: card }, meta: { name: "c", metrics: {}, timings: {}, info: {} } },
    { emit: () => {}, outDir: ".", overwrite: true },
  );
  assert.equal(frame.slots.image!.width, 16);
  assert.equal(frame.meta.info.modelRuntime, "onnxruntime-web wasm");
});

Deno.test("pipeline().model() is a recipe step: JSON round trip, explain and a scored run", async () => {
  const { Pipeline, pipeline } = await import("../pipeline/dsl.ts");
  const { imageInput } = await import("../pipeline/sources.ts");
  const recipe = pipeline()
    .degrade({ downsample: 4 })
    .model({ name: "esrgan-slim", factor: 4 })
    .metrics({ yChannel: true, crop: 4 });
  const doc = recipe.toJSON();
  assert.deepEqual(doc.steps[1], { op: "model", options: { name: "esrgan-slim", factor: 4 } });
  const again = Pipeline.fromJSON(JSON.parse(JSON.stringify(doc)));
  assert.match(again.explain(), /model: esrgan-slim ×4 on onnxruntime-web wasm/);
  const summary = await again.run({ input: [imageInput(testCard(32, 32), "card")] });
  assert.deepEqual(summary.failed, []);
  assert.ok(summary.done[0]!.metrics.psnr! > 10); // a synthetic card at 8² → 32²: scored, not judged
});

Deno.test("model() refuses option combinations with one line", async () => {
  const { pipeline } = await import("../pipeline/dsl.ts");
  assert.throws(
    () => pipeline().model({ factor: 2 }),
    /model\(\): Expected exactly one of path and name/,
  );
  assert.throws(
    () => pipeline().model({ name: "esrgan-medium", factor: 5 }),
    /model\(\): Expected factor 2, 3, 4, 8 for esrgan-medium but received 5/,
  );
  assert.throws(
    () => pipeline().model({ path: "x.onnx", tile: 16, overlap: 16 }),
    /Expected overlap < tile/,
  );
  assert.throws(() => pipeline().model({ path: "x.onnx", range: [1, 0] }), /high > low/);
});

Deno.test("bicubicUpsample() keeps constants, interpolates a ramp and matches MATLAB's grid", async () => {
  const { bicubicUpsample, cubicKernel } = await import("../image/resize.ts");
  const flat = bicubicUpsample(makeImage(1, 4, 4, new Float32Array(16).fill(0.3)), 4);
  assert.ok(flat.data.every((v) => Math.abs(v - 0.3) < 1e-6));
  assert.equal(cubicKernel(0), 1);
  assert.equal(cubicKernel(1), 0);
  assert.equal(cubicKernel(0.5), 0.5625);
  // A horizontal ramp stays a ramp inside (half-pixel grid: output x maps to (x + 0.5)/f − 0.5).
  const ramp = makeImage(1, 1, 8, Float32Array.from({ length: 8 }, (_, x) => x / 10));
  const up = bicubicUpsample(ramp, 2);
  for (let x = 4; x < 12; x++) {
    assert.ok(Math.abs(up.data[x]! - ((x + 0.5) / 2 - 0.5) / 10) < 1e-6, `x = ${x}`);
  }
});

Deno.test("examples/learned-vs-dip.ts scores ESRGAN ×4 and DIP ×4 side by side", async () => {
  const { Pipeline } = await import("../pipeline/dsl.ts");
  const { imageInput } = await import("../pipeline/sources.ts");
  const recipe = (await import("../examples/learned-vs-dip.ts")).default;
  const doc = recipe.toJSON();
  // The recipe as written, with a short fit of a small net on the cpu engine.
  const steps = doc.steps.map((step) =>
    step.op === "dipFit"
      ? {
        ...step,
        options: {
          ...step.options,
          iterations: 10,
          engine: "cpu",
          inputDepth: 4,
          net: { channelsDown: [8, 8], channelsUp: [8, 8], channelsSkip: [2, 2] },
        },
      }
      : step
  );
  const out = await tempDir();
  const summary = await Pipeline.fromJSON({ ...doc, steps }).run({
    input: [imageInput(testCard(32, 32), "card")],
    outDir: out,
  });
  assert.deepEqual(summary.failed, []);
  const metrics = summary.done[0]!.metrics;
  assert.ok(Number.isFinite(metrics["esrgan.psnr"]) && Number.isFinite(metrics["dip.psnr"]));
  for (const file of ["card_esrgan_x4.png", "card_dip_x4.png"]) {
    assert.ok((await Deno.stat(`${out}/${file}`)).isFile, file);
  }
});

// Asked without touching WebGPU on this test thread (engine/webgpu/main_thread.ts).
const hasGpu = (await probeWebGpu()).available;

Deno.test({
  name: "the webgpu provider (onnxruntime-web/webgpu) gives the wasm provider's output",
  ignore: !hasGpu,
  async fn() {
    const path = await writeModel(upsampler(3, 0.5));
    const card = testCard(16, 16);
    // ORT's WebGPU runs in a child process, on its main thread: a test file's thread that used
    // WebGPU can abort the whole test process as it exits (engine/webgpu/main_thread.ts).
    const script = `${await tempDir()}/webgpu_provider.ts`;
    const url = (file: string) => JSON.stringify(new URL(file, import.meta.url).href);
    await Deno.writeTextFile(
      script,
      `import { testCard } from ${url("../image/testcard.ts")};
import { applyModel, loadModel } from ${url("../ops/model.ts")};
const gpu = await loadModel({ path: ${JSON.stringify(path)}, provider: "webgpu" });
const a = await applyModel(testCard(16, 16), gpu, { factor: 2 });
console.log(JSON.stringify({ runtime: gpu.runtime, height: a.height, width: a.width, data: [...a.data] }));
`,
    );
    const config = new URL("../deno.json", import.meta.url).pathname;
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", "--config", config, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(child.code, 0, new TextDecoder().decode(child.stderr));
    const r = JSON.parse(new TextDecoder().decode(child.stdout));
    assert.equal(r.runtime, "onnxruntime-web webgpu");
    const a = makeImage(3, r.height, r.width, new Float32Array(r.data));
    const b = await applyModel(card, await loadModel({ path }), { factor: 2 });
    assert.ok(psnr(a, b) > 80, `webgpu vs wasm ${psnr(a, b)} dB`);
  },
});

Deno.test("applyModel() refuses a model whose input is not an image batch, naming the file", async () => {
  const bytes = encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: "vector",
      input: [{
        name: "x",
        type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 12 }] } } },
      }],
      output: [{ name: "y", type: { tensorType: { elemType: 1 } } }],
      node: [{ opType: "Relu", name: "relu", input: ["x"], output: ["y"] }],
    },
  });
  const path = await writeModel(bytes, "vector.onnx");
  await assert.rejects(
    async () => applyModel(testCard(8, 8), await loadModel({ path })),
    /vector\.onnx: expected a model whose input is an image batch \(rank 4\) but its input has rank 2/,
  );
});

Deno.test("a tfjs graph model (model.json with a GraphDef) runs through tfjs", async () => {
  const dir = await tempDir();
  const json = {
    format: "graph-model",
    modelTopology: {
      node: [
        {
          name: "x",
          op: "Placeholder",
          attr: {
            dtype: { type: "DT_FLOAT" },
            shape: {
              shape: { dim: [{ size: "-1" }, { size: "-1" }, { size: "-1" }, { size: "3" }] },
            },
          },
        },
        {
          name: "gain",
          op: "Const",
          attr: {
            value: { tensor: { dtype: "DT_FLOAT", tensorShape: {} } },
            dtype: { type: "DT_FLOAT" },
          },
        },
        { name: "y", op: "Mul", input: ["x", "gain"], attr: { T: { type: "DT_FLOAT" } } },
      ],
      versions: { producer: 1 },
    },
    weightsManifest: [{
      paths: ["weights.bin"],
      weights: [{ name: "gain", shape: [], dtype: "float32" }],
    }],
  };
  await Deno.writeTextFile(`${dir}/model.json`, JSON.stringify(json));
  await Deno.writeFile(`${dir}/weights.bin`, new Uint8Array(new Float32Array([0.5]).buffer));
  const model = await loadModel({ path: `${dir}/model.json` });
  assert.equal(model.runtime, "tfjs cpu");
  const card = testCard(8, 8);
  const out = await applyModel(card, model, { factor: 1 });
  const half = makeImage(3, 8, 8, card.data.map((v) => v * 0.5));
  assert.ok(psnr(out, half) > 80);
});
