import assert from "node:assert/strict";
import { main } from "../cli.ts";
import { countParams, denoisingNet, inpaintingVaseNet } from "../models/mod.ts";
import { importOnnx } from "../models/onnx_import.ts";
import { tempDir } from "./fixtures.ts";
import { engineForward, maxAbsDiff, ortRun } from "./onnx_harness.ts";

Deno.test("dipline export-net --preset denoise writes the untrained generator", async () => {
  const file = `${await tempDir()}/net.onnx`;
  assert.equal(await main(["export-net", "--preset", "denoise", "-o", file, "--size", "64"]), 0);
  const bytes = await Deno.readFile(file);
  const { network, params, z } = importOnnx(bytes);
  assert.equal(countParams(network), countParams(denoisingNet()));
  const { data } = await ortRun(bytes);
  const forward = await engineForward(network, params, z!.data, 64, 64, "cpu");
  assert.ok(maxAbsDiff(data, forward) < 1e-4);
});

Deno.test("dipline export-net takes a meshgrid preset and refuses a bad one with exit 2", async () => {
  const dir = await tempDir();
  assert.equal(
    await main([
      "export-net",
      "--preset",
      "inpaint-vase",
      "-o",
      `${dir}/vase.onnx`,
      "--size",
      "64",
    ]),
    0,
  );
  const { network, z } = importOnnx(await Deno.readFile(`${dir}/vase.onnx`));
  assert.equal(countParams(network), countParams(inpaintingVaseNet()));
  assert.equal(z!.channels, 2);
  assert.equal(await main(["export-net", "--preset", "nope", "-o", `${dir}/x.onnx`]), 2);
  assert.equal(await main(["export-net", "--preset", "denoise"]), 2);
});
