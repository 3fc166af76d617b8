/**
 * `--shard auto`: the index and count of a Kubernetes Indexed Job's pod or a Slurm array task,
 * and a clear error anywhere else.
 */
import assert from "node:assert/strict";
import { InputError } from "../core/errors.ts";
import { parseShard, takeShard } from "../pipeline/sources.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("parseShard('auto') reads a Kubernetes Indexed Job's index and completions", () => {
  assert.deepEqual(
    parseShard("auto", env({ JOB_COMPLETION_INDEX: "2", JOB_COMPLETIONS: "4" })),
    { index: 2, count: 4 },
  );
  assert.throws(
    () => parseShard("auto", env({ JOB_COMPLETION_INDEX: "2" })),
    InputError,
    "JOB_COMPLETIONS is not",
  );
  assert.throws(
    () => parseShard("auto", env({ JOB_COMPLETION_INDEX: "4", JOB_COMPLETIONS: "4" })),
    InputError,
    "index in 0…3 but received 4 of 4",
  );
});

Deno.test("parseShard('auto') reads a Slurm array task, from its minimum and step", () => {
  const slurm = (id: string, count: string, min?: string, step?: string) =>
    env({
      SLURM_ARRAY_TASK_ID: id,
      SLURM_ARRAY_TASK_COUNT: count,
      ...(min ? { SLURM_ARRAY_TASK_MIN: min } : {}),
      ...(step ? { SLURM_ARRAY_TASK_STEP: step } : {}),
    });
  assert.deepEqual(parseShard("auto", slurm("0", "8", "0")), { index: 0, count: 8 });
  assert.deepEqual(parseShard("auto", slurm("7", "4", "4")), { index: 3, count: 4 }, "--array=4-7");
  assert.deepEqual(parseShard("auto", slurm("5", "3", "1", "2")), { index: 2, count: 3 }, "1-5:2");
  assert.deepEqual(
    parseShard("auto", slurm("3", "4")),
    { index: 3, count: 4 },
    "MIN defaults to 0",
  );
  assert.throws(() => parseShard("auto", slurm("x", "4")), InputError, "SLURM_ARRAY_TASK_ID");
  assert.throws(() => parseShard("auto", slurm("9", "4", "0")), InputError, "0…3");
});

Deno.test("parseShard('auto') outside a cluster task names both sets of variables", () => {
  assert.throws(
    () => parseShard("auto", env({})),
    (error: Error) =>
      error instanceof InputError && /JOB_COMPLETION_INDEX/.test(error.message) &&
      /SLURM_ARRAY_TASK_ID/.test(error.message) && /--shard i\/n/.test(error.message),
  );
});

Deno.test("the shards of every task of an array cover the list exactly once", () => {
  const items = Array.from({ length: 11 }, (_, k) => k);
  const seen = [];
  for (let id = 1; id <= 3; id++) {
    const shard = parseShard(
      "auto",
      env({
        SLURM_ARRAY_TASK_ID: String(id),
        SLURM_ARRAY_TASK_COUNT: "3",
        SLURM_ARRAY_TASK_MIN: "1",
      }),
    );
    seen.push(...takeShard(items, shard));
  }
  assert.deepEqual(seen.sort((a, b) => a - b), items);
});
