import { deepStrictEqual as deepEqual, equal, ok } from "node:assert/strict";
import { makeImage } from "../core/image.ts";
import { fitImage, resolveFitOptions } from "../dip/fit.ts";
import { TrainerPool } from "../engine/trainer_pool.ts";
import { testCard } from "../image/testcard.ts";
import { pipeline } from "../pipeline/dsl.ts";
import { imageInput } from "../pipeline/sources.ts";

const SMALL = {
  net: { channelsDown: [4, 4], channelsUp: [4, 4], channelsSkip: [2, 2] },
  inputDepth: 4,
  iterations: 6,
  checkEvery: 3,
} as const;

for (const engine of ["reference", "cpu"] as const) {
  Deno.test(`a ${engine} trainer reused from the pool computes exactly what a new one does`, async () => {
    const fit = resolveFitOptions({
      task: "denoise",
      ...SMALL,
      ema: 0.9,
      earlyStop: { window: 2, patience: 4 },
    });
    const a = testCard(16, 16);
    const b = makeImage(3, 16, 16, a.data.map((v) => 1 - v), "inverted");
    const fresh = await fitImage({ observation: a }, fit, { schedule: { engine } });
    const pool = new TrainerPool();
    try {
      await fitImage({ observation: b }, fit, { schedule: { engine, pool } });
      const reused = await fitImage({ observation: a }, fit, { schedule: { engine, pool } });
      equal(pool.created, 1);
      equal(pool.reused, 1);
      deepEqual(reused.image.data, fresh.image.data);
      deepEqual(reused.loss, fresh.loss);
    } finally {
      pool.dispose();
    }
  });
}

Deno.test("a run compiles one trainer for a folder of same-size inputs and a new one per size", async () => {
  const recipe = pipeline().dipFit({ task: "denoise", ...SMALL, engine: "reference" });
  const inputs = ["a", "b", "c"].map((name) => imageInput(testCard(16, 16), name));
  inputs.push(imageInput(testCard(32, 16), "wide"));
  const summary = await recipe.run({ input: inputs, claims: false });
  deepEqual(summary.failed, []);
  deepEqual(summary.done.map((r) => r.info.trainerReused), [false, true, true, false]);
  const again = await recipe.run({ input: inputs, claims: false, reuse: false });
  deepEqual(again.done.map((r) => r.info.trainerReused), [false, false, false, false]);
  // Same-size inputs give the same result whatever trainer ran them.
  deepEqual(summary.done[0]!.metrics, summary.done[1]!.metrics);
  ok(summary.done.every((r) => r.info.engine === "reference"));
});

Deno.test("TrainerPool frees what it keeps beyond its capacity and after dispose()", async () => {
  const disposed: string[] = [];
  const fake = (name: string) => ({ dispose: () => void disposed.push(name) }) as never;
  const pool = new TrainerPool({ capacity: 1 });
  const plan = (n: number) => ({ batch: n }) as never;
  let k = 0;
  const create = () => Promise.resolve(fake(`t${k++}`));
  const t0 = await pool.acquire(plan(1), { engine: "cpu" }, create);
  const t1 = await pool.acquire(plan(2), { engine: "cpu" }, create);
  pool.release(t0);
  pool.release(t1); // over capacity: the oldest idle one goes
  deepEqual(disposed, ["t0"]);
  equal(await pool.acquire(plan(2), { engine: "cpu" }, create), t1);
  pool.release(t1, false); // a failed fit's trainer is not kept
  deepEqual(disposed, ["t0", "t1"]);
  const t2 = await pool.acquire(plan(3), { engine: "cpu" }, create);
  pool.dispose();
  pool.release(t2);
  deepEqual(disposed, ["t0", "t1", "t2"]);
});

Deno.test("planKey() tells plans apart by the contents of their weights, not only their size", async () => {
  const { planKey } = await import("../engine/trainer_pool.ts");
  const base = { batch: 1, params: [{ values: new Float32Array([1, 2, 3]) }] } as never;
  const same = { batch: 1, params: [{ values: new Float32Array([1, 2, 3]) }] } as never;
  const other = { batch: 1, params: [{ values: new Float32Array([1, 2, 4]) }] } as never;
  equal(planKey(base), planKey(same));
  ok(planKey(base) !== planKey(other));
  ok(planKey(base).length < 200);
});
