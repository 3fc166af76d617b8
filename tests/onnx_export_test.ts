import assert from "node:assert/strict";
import { exportOnnx } from "../models/onnx_export.ts";
import { decodeModel, encodeModel, int64, ONNX_METADATA, ONNX_OPSET } from "../models/onnx.ts";
import { deepDecoder, resnet, skip } from "../models/mod.ts";
import type { Network } from "../models/graph.ts";
import { engineForward, maxAbsDiff, ortRun, seededWeights } from "./onnx_harness.ts";

const SMALL: [string, Network, number][] = [
  [
    "skip, bilinear, reflection",
    skip({ inputChannels: 4, channelsDown: [8, 8], channelsSkip: [2, 2] }),
    16,
  ],
  [
    "skip, nearest, avg pool, zero padding, swish",
    skip({
      inputChannels: 3,
      channelsDown: [6, 6],
      channelsSkip: [0, 3],
      upsampleMode: "nearest",
      downsampleMode: "avg",
      pad: "zero",
      act: "swish",
      filterSizeDown: 5,
    }),
    16,
  ],
  [
    "skip, max pool and lanczos2 downsampling, elu",
    skip({
      inputChannels: 2,
      channelsDown: [4, 4],
      channelsSkip: [1, 1],
      downsampleMode: ["max", "lanczos2"],
      act: "elu",
    }),
    16,
  ],
  ["resnet", resnet({ inputChannels: 2, blocks: 2, channels: 6 }), 12],
  [
    "skip at an odd size (concat crops by Slice)",
    skip({ inputChannels: 3, channelsDown: [4, 4], channelsSkip: [2, 2] }),
    10,
  ],
  ["deep decoder", deepDecoder({ channels: 8, upsamplings: 2 }), 16],
];

for (const [label, network, size] of SMALL) {
  Deno.test(`exportOnnx() ${label}: onnxruntime-web reproduces the engine within 1e-4`, async () => {
    const { params, z } = seededWeights(network, size, size);
    const expected = await engineForward(network, params, z, size, size);
    const bytes = exportOnnx(network, { params, z, height: size, width: size });
    const { data, dims } = await ortRun(bytes);
    assert.deepEqual([...dims], [1, network.outputChannels, size, size]);
    const diff = maxAbsDiff(data, expected);
    assert.ok(diff < 1e-4, `max |ORT − engine| = ${diff}`);
  });
}

Deno.test("exportOnnx() writes opset 17, the crop box and z as an overridable input", async () => {
  const network = skip({ inputChannels: 2, channelsDown: [4], channelsSkip: [1] });
  const { params, z } = seededWeights(network, 8, 8);
  const crop = { top: 1, left: 0, bottom: 2, right: 3 };
  const bytes = exportOnnx(network, { params, z, height: 8, width: 8, crop });
  const model = decodeModel(bytes);
  assert.equal(int64(model.opsetImport[0]!.version), ONNX_OPSET);
  const meta = Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]));
  assert.deepEqual(JSON.parse(meta[ONNX_METADATA.crop]!), crop);
  assert.deepEqual(model.graph!.output!.map((o) => o.name), ["image"]);
  // z is an initializer and a graph input of the same name (ONNX's overridable default).
  assert.deepEqual(model.graph!.input!.map((i) => i.name), ["z"]);
  assert.ok(model.graph!.initializer!.some((t) => t.name === "z"));
  // onnxruntime-web does not feed overridable initializers: without the stored z, the input
  // drives the graph, and another z gives the engine's output for that z.
  model.graph!.initializer = model.graph!.initializer!.filter((t) => t.name !== "z");
  const ort = await import("onnxruntime-web");
  const other = seededWeights(network, 8, 8, 5).z;
  const fed = await ortRun(encodeModel(model), {
    z: new ort.Tensor("float32", other, [1, 2, 8, 8]),
  });
  const expected = await engineForward(network, params, other, 8, 8);
  assert.ok(maxAbsDiff(fed.data, expected) < 1e-4);
  assert.ok(maxAbsDiff((await ortRun(bytes)).data, fed.data) > 1e-3);
});

Deno.test("exportOnnx() refuses weights of the wrong length with the counts", () => {
  const network = skip({ inputChannels: 2, channelsDown: [4], channelsSkip: [1] });
  assert.throws(
    () =>
      exportOnnx(network, {
        params: new Float32Array(3),
        z: new Float32Array(128),
        height: 8,
        width: 8,
      }),
    /expected \d+ parameters but received 3/,
  );
});
