import assert from "node:assert/strict";
import { RecipeError } from "../core/errors.ts";
import { makeImage } from "../core/image.ts";
import type { Frame, OpContext } from "../core/types.ts";
import { psnr } from "../image/metrics.ts";
import { testCard } from "../image/testcard.ts";
import { skip } from "../models/mod.ts";
import { exportOnnx } from "../models/onnx_export.ts";
import { importOnnx } from "../models/onnx_import.ts";
import { decodeModel, ONNX_METADATA } from "../models/onnx.ts";
import { dipFit } from "../ops/dip_fit.ts";
import { tempDir } from "./fixtures.ts";
import { engineForward, maxAbsDiff, ortRun, seededWeights } from "./onnx_harness.ts";

// webgpu runs the same layer kinds (tests/onnx_fitted_test.ts fits and exports on it); its
// pipeline compilation on llvmpipe would take most of this file's time.
const ENGINES = ["reference", "cpu"] as const;

const TINY_NET = { channelsDown: [4, 4], channelsUp: [4, 4], channelsSkip: [2, 2] };

function frameOf(image: ReturnType<typeof testCard>): Frame {
  return { slots: { image }, meta: { name: "card", metrics: {}, timings: {}, info: {} } };
}

function context(outDir: string): OpContext {
  return { emit: () => {}, outDir, overwrite: true };
}

Deno.test("dipFit({ saveNetwork }) writes the fitted generator as ONNX that reproduces its forward pass", async () => {
  const outDir = await tempDir();
  const card = testCard(30, 30); // padded to 32 by the fit: the crop box is in the metadata
  const op = dipFit({
    task: "denoise",
    net: TINY_NET,
    inputDepth: 4,
    iterations: 10,
    engine: "reference",
    saveNetwork: "nets/{name}_net.onnx",
  });
  const path = `${outDir}/nets/card_net.onnx`;
  assert.deepEqual(op.outputs!("card", undefined, outDir), [path]);
  const frame = await op.run(frameOf(card), context(outDir));
  assert.deepEqual(frame.meta.info.networks, [path]);
  const bytes = await Deno.readFile(path);
  const meta = Object.fromEntries(
    decodeModel(bytes).metadataProps.map((p) => [p.key, p.value]),
  );
  const crop = JSON.parse(meta[ONNX_METADATA.crop]!);
  const { data, dims } = await ortRun(bytes);
  assert.deepEqual([...dims], [1, 3, 32, 32]);
  assert.equal(32 - crop.top - crop.bottom, 30);
  assert.equal(32 - crop.left - crop.right, 30);
  const { network, params, z } = importOnnx(bytes);
  const forward = await engineForward(network, params, z!.data, 32, 32);
  assert.ok(maxAbsDiff(data, forward) < 1e-4);
});

Deno.test('dipFit({ arch: "onnx" }) trains an imported generator on every engine', async () => {
  const network = skip({ inputChannels: 4, channelsDown: [4, 4], channelsSkip: [2, 2] });
  const { params, z } = seededWeights(network, 16, 16);
  const file = `${await tempDir()}/mynet.onnx`;
  await Deno.writeFile(file, exportOnnx(network, { params, z, height: 16, width: 16 }));
  const noisy = testCard(16, 16);
  const results = [];
  for (const engine of ENGINES) {
    const op = dipFit({
      task: "denoise",
      arch: "onnx",
      network: file,
      iterations: 30,
      ema: 0,
      engine,
      seed: 2,
    });
    const frame = await op.run(frameOf(noisy), context("."));
    assert.equal(frame.slots.image!.width, 16);
    results.push(frame.slots.image!);
  }
  // The same imported generator, seed and steps give the same fit on both engines.
  assert.ok(
    psnr(results[0]!, results[1]!) > 40,
    `reference vs cpu ${psnr(results[0]!, results[1]!)} dB`,
  );
});

Deno.test('dipFit({ arch: "onnx", keepWeights: true }) starts from the file\'s weights', async () => {
  const network = skip({ inputChannels: 4, channelsDown: [4, 4], channelsSkip: [2, 2] });
  const { params, z } = seededWeights(network, 16, 16);
  const file = `${await tempDir()}/kept.onnx`;
  await Deno.writeFile(file, exportOnnx(network, { params, z, height: 16, width: 16 }));
  const options = {
    task: "denoise",
    arch: "onnx",
    network: file,
    iterations: 1,
    lr: 1e-12,
    regNoise: 0,
    ema: 0,
    engine: "reference",
  } as const;
  const card = testCard(16, 16);
  const kept = await dipFit({ ...options, keepWeights: true }).run(frameOf(card), context("."));
  const fresh = await dipFit(options).run(frameOf(card), context("."));
  // With the file's weights, the first output is the file's forward pass for the fit's own z.
  const expected = makeImage(
    3,
    16,
    16,
    await engineForward(network, params, await fitInputZ(), 16, 16),
  );
  assert.ok(psnr(kept.slots.image!, expected) > 80, `kept ${psnr(kept.slots.image!, expected)} dB`);
  assert.ok(psnr(fresh.slots.image!, expected) < 40);
});

/** The z dipFit draws for seed 0 (4 channels, 16×16): engine/init.ts inputNoise with runSeeds. */
async function fitInputZ(): Promise<Float32Array> {
  const { runSeeds } = await import("../dip/fit.ts");
  const { inputNoise } = await import("../engine/init.ts");
  return inputNoise("noise", 4, 16, 16, runSeeds(0).z);
}

Deno.test('dipFit({ arch: "onnx" }) refuses a missing network option and network without it', () => {
  assert.throws(
    () => dipFit({ task: "denoise", arch: "onnx" }),
    (e: Error) => e instanceof RecipeError && /arch "onnx" needs network/.test(e.message),
  );
  assert.throws(
    () => dipFit({ task: "denoise", network: "x.onnx" }),
    /network applies to arch "onnx" only/,
  );
});

Deno.test('dipFit({ arch: "onnx" }) names the file and the node of an unsupported operator', async () => {
  const network = skip({ inputChannels: 2, channelsDown: [4], channelsSkip: [1], act: "swish" });
  const { params, z } = seededWeights(network, 8, 8);
  const bytes = exportOnnx(network, { params, z, height: 8, width: 8 });
  // Replace the first Sigmoid by an operator dipline does not train.
  const model = decodeModel(bytes);
  const node = model.graph!.node!.find((n) => n.opType === "Sigmoid")!;
  node.opType = "Softplus";
  const { encodeModel } = await import("../models/onnx.ts");
  const file = `${await tempDir()}/odd.onnx`;
  await Deno.writeFile(file, encodeModel(model));
  const op = dipFit({
    task: "denoise",
    arch: "onnx",
    network: file,
    iterations: 1,
    engine: "reference",
  });
  await assert.rejects(
    () => op.run(frameOf(testCard(8, 8)), context(".")),
    new RegExp(
      `${file.replaceAll("/", "\\/")}: node "${
        node.name!.replaceAll(".", "\\.")
      }" \\(Softplus\\): unsupported operator Softplus`,
    ),
  );
});
