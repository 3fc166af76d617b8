import assert from "node:assert/strict";
import { exportOnnx } from "../models/onnx_export.ts";
import { importOnnx, OnnxImportError } from "../models/onnx_import.ts";
import { encodeModel, floatTensor, tensorValueInfo } from "../models/onnx.ts";
import type { onnx } from "onnx-proto";
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
  skip,
} from "../models/mod.ts";
import type { Network } from "../models/graph.ts";
import { engineForward, maxAbsDiff, seededWeights } from "./onnx_harness.ts";

/** Every built-in preset network, at the smallest size its levels allow. */
export const PRESET_NETWORKS: [string, Network, number][] = [
  ["denoising / SR", denoisingNet(), 64],
  ["restoration barbara", restorationBarbaraNet(), 64],
  ["JPEG (snail)", jpegNet(), 64],
  ["text inpainting (kate)", inpaintingNet(), 64],
  ["region inpainting (vase)", inpaintingVaseNet(), 64],
  ["library skip_depth6", inpaintingLibraryNet(6), 256],
  ["library skip_depth4", inpaintingLibraryNet(4), 64],
  ["library skip_depth2", inpaintingLibraryNet(2), 16],
  ["library ResNet", inpaintingResNet(), 16],
  ["restoration kate (2%)", restorationKateNet(), 64],
  ["flash / no-flash", flashNoFlashNet(), 64],
  ["feature inversion", featureInversionNet(), 128],
  ["activation maximisation", activationMaxNet(), 256],
  ["deep decoder", deepDecoder(), 64],
];

for (const [label, network, size] of PRESET_NETWORKS) {
  Deno.test(`importOnnx(exportOnnx()) round-trips the ${label} preset`, async () => {
    const { params, z } = seededWeights(network, size, size);
    const imported = importOnnx(exportOnnx(network, { params, z, height: size, width: size }));
    assert.equal(countParams(imported.network), countParams(network));
    assert.equal(imported.network.sizeMultiple, network.sizeMultiple);
    assert.equal(imported.network.inputChannels, network.inputChannels);
    assert.deepEqual(imported.params, params);
    assert.deepEqual(imported.z?.data, z);
    const before = await engineForward(network, params, z, size, size, "cpu");
    const after = await engineForward(
      imported.network,
      imported.params,
      imported.z!.data,
      size,
      size,
      "cpu",
    );
    assert.equal(maxAbsDiff(before, after), 0);
  });
}

Deno.test("importOnnx() keeps the layer structure of a small skip net node for node", () => {
  const network = skip({ inputChannels: 3, channelsDown: [4, 4], channelsSkip: [2, 0] });
  const { params, z } = seededWeights(network, 8, 8);
  const { network: back } = importOnnx(exportOnnx(network, { params, z, height: 8, width: 8 }));
  assert.deepEqual(
    back.nodes,
    network.nodes.map((n) => (n.op === "conv" && n.kernel === 1 ? { ...n, pad: "zero" } : n)),
  );
  assert.equal(back.output, network.output);
});

/** A model of one Conv and one other node, for the refusals. */
function tinyModel(opType: string, attribute: onnx.IAttributeProto[] = []): Uint8Array {
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: "tiny",
      input: [tensorValueInfo("x", [1, 2, 8, 8])],
      output: [tensorValueInfo("y", [1, 2, 8, 8])],
      initializer: [floatTensor("w", [2, 2, 1, 1], new Float32Array(4).fill(0.5))],
      node: [
        { opType: "Conv", name: "conv", input: ["x", "w"], output: ["c"] },
        { opType, name: "strange", input: ["c"], output: ["y"], attribute },
      ],
    },
  });
}

Deno.test("importOnnx() names an unsupported operator and the node that uses it", () => {
  assert.throws(
    () => importOnnx(tinyModel("Softplus"), { file: "mynet.onnx" }),
    (e: Error) =>
      e instanceof OnnxImportError &&
      /^mynet\.onnx: node "strange" \(Softplus\): unsupported operator Softplus/.test(e.message),
  );
});

Deno.test("importOnnx() refuses a LeakyRelu slope the engine does not have", () => {
  assert.throws(
    () => importOnnx(tinyModel("LeakyRelu"), { file: "n.onnx" }),
    /n\.onnx: node "strange" \(LeakyRelu\): LeakyRelu alpha 0\.01/,
  );
});

Deno.test("importOnnx() refuses bytes that are not an ONNX model", () => {
  assert.throws(
    () => importOnnx(new TextEncoder().encode("not a model at all"), { file: "x.onnx" }),
    /x\.onnx: not an ONNX model/,
  );
});

Deno.test("importOnnx() reads the centre-crop Slices of an odd-size export as the engine's concat", async () => {
  const network = skip({ inputChannels: 3, channelsDown: [4, 4], channelsSkip: [2, 2] });
  const { params, z } = seededWeights(network, 10, 10);
  const back = importOnnx(exportOnnx(network, { params, z, height: 10, width: 10 }));
  const before = await engineForward(network, params, z, 10, 10);
  const after = await engineForward(back.network, back.params, back.z!.data, 10, 10);
  assert.equal(maxAbsDiff(before, after), 0);
});
