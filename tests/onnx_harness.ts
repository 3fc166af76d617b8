/**
 * Helpers of the ONNX tests: dipline's own forward pass of given weights and z (the yardstick
 * an exported file must reproduce), onnxruntime-web on the wasm provider, and small networks
 * covering every layer kind.
 *
 * @module
 */
import type * as ort from "onnxruntime-web";
import { compilePlan } from "../engine/compile.ts";
import { initParams, inputNoise } from "../engine/init.ts";
import { createTrainer } from "../engine/mod.ts";
import { planWithWeights } from "../engine/weights.ts";
import { createOrtSession } from "../ops/model_runtime.ts";
import type { EngineName } from "../engine/backend.ts";
import type { Network } from "../models/graph.ts";

/** The network's output for `params` and `z` (no input noise), computed by a dipline engine. */
export async function engineForward(
  network: Network,
  params: Float32Array,
  z: Float32Array,
  height: number,
  width: number,
  engine: EngineName = "reference",
): Promise<Float32Array> {
  const plan = planWithWeights(
    compilePlan(network, {
      batch: 1,
      height,
      width,
      dataTerm: { kind: "identity" },
      lr: 0.01,
      regNoiseStd: 0,
      emaDecay: 0,
    }),
    params,
  );
  const trainer = await createTrainer(plan, { engine, threads: 1 });
  try {
    await trainer.reset([0]);
    trainer.upload("z0", z);
    return await trainer.evaluate();
  } finally {
    trainer.dispose();
  }
}

/** Seeded initial weights (engine/init.ts rules) and a seeded z for `network` at a size. */
export function seededWeights(
  network: Network,
  height: number,
  width: number,
  seed = 1,
): { params: Float32Array; z: Float32Array } {
  const plan = compilePlan(network, {
    batch: 1,
    height,
    width,
    dataTerm: { kind: "identity" },
    lr: 0.01,
    regNoiseStd: 0,
    emaDecay: 0,
  });
  const params = initParams(plan, [seed]);
  // Perturb the BN affine parameters too, so a test sees them used (they start at 1 and 0).
  for (const p of plan.params) {
    if (p.init === "constant") {
      for (let i = 0; i < p.ref.size; i++) {
        params[p.ref.offset + i] = p.value + 0.3 * Math.sin(1.7 * (p.ref.offset + i) + seed);
      }
    }
  }
  const { c, h, w } = plan.io.z0;
  return { params, z: inputNoise("noise", c, h, w, seed + 7, 1) };
}

/** Runs an ONNX model on onnxruntime-web's wasm provider; returns its first output. */
export async function ortRun(
  bytes: Uint8Array,
  feeds: Record<string, ort.Tensor> = {},
): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const { session } = await createOrtSession(bytes);
  try {
    const result = await session.run(feeds);
    const out = result[session.outputNames[0]!]!;
    return { data: out.data as Float32Array, dims: out.dims };
  } finally {
    await session.release();
  }
}

/** Largest absolute difference of two arrays of one length. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) {
    throw new RangeError(`maxAbsDiff: lengths differ (${a.length} and ${b.length})`);
  }
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
