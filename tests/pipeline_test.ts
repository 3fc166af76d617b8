import assert from "node:assert/strict";
import { degradeImage } from "../dip/degrade.ts";
import type { Image } from "../core/image.ts";
import { psnr, ssim } from "../image/metrics.ts";
import { testCard } from "../image/testcard.ts";
import { expectValue, isPipeline, pipeline } from "../pipeline/dsl.ts";
import { RecipeError } from "../core/errors.ts";
import type { Expansion } from "../core/graph.ts";
import { imageInput } from "../pipeline/sources.ts";
import type { Frame, Op } from "../core/types.ts";

/** A test op that copies slot `from` to slot `to`. */
function copyOp(from: string, to: string, tag = ""): Op {
  return {
    kind: `copy${tag}`,
    reads: [from],
    writes: [to],
    params: { from, to },
    run: (frame: Frame) =>
      Promise.resolve({ ...frame, slots: { ...frame.slots, [to]: frame.slots[from]! } }),
  };
}

Deno.test("pipeline() is immutable: each call returns a new pipeline and leaves the old one", () => {
  const empty = pipeline();
  const noisy = empty.degrade({ noise: 25, seed: 1 });
  const scored = noisy.metrics();
  assert.equal(empty.steps.length, 0);
  assert.equal(noisy.steps.length, 1);
  assert.equal(scored.steps.length, 2);
  assert.notEqual(noisy, scored);
  assert.ok(Object.isFrozen(scored) && Object.isFrozen(scored.steps));
  assert.throws(() => (scored.steps as Op[]).push(copyOp("image", "x")), TypeError);
  const withInput = scored.input("photos/");
  assert.equal(scored.defaultInput, undefined);
  assert.equal(withInput.defaultInput, "photos/");
  assert.deepEqual(withInput.steps, scored.steps);
  assert.ok(isPipeline(withInput));
  assert.ok(!isPipeline({ steps: [] }));
});

Deno.test("compile() names the op, the missing slot and the slots that exist", () => {
  const recipe = pipeline().use(copyOp("image", "guide")).metrics();
  assert.throws(() => recipe.compile(), (e: Error) => {
    assert.ok(e instanceof RecipeError);
    assert.match(e.message, /#2 metrics reads slot "clean"/);
    assert.match(e.message, /slots available: image, guide/);
    return true;
  });
  assert.doesNotThrow(() => pipeline().degrade({ noise: 25 }).metrics().compile());
  assert.throws(
    () => pipeline().degrade({ noise: 5 }).use(copyOp("mask", "x")).compile(),
    /reads slot "mask"/,
  );
  assert.doesNotThrow(() => pipeline().degrade({ drop: 0.5 }).use(copyOp("mask", "x")).compile());
  assert.doesNotThrow(() =>
    pipeline().use(copyOp("guide", "x")).compile({ inputSlots: ["image", "guide"] })
  );
});

Deno.test("builder methods refuse bad options when the recipe is built", () => {
  assert.throws(
    () => pipeline().degrade({ noise: -3 }),
    (e: Error) => e instanceof RecipeError && /noise/.test(e.message),
  );
  assert.throws(() => pipeline().degrade({ downsample: 3 as 2 }), /downsample/);
  assert.throws(() => pipeline().metrics({ crop: -1 }), RecipeError);
  assert.throws(() => pipeline().save(""), RecipeError);
  assert.throws(() => pipeline().save("{name}.bmp"), RecipeError);
  assert.throws(
    () => pipeline().metrics({ label: "two words" }),
    {
      name: "RecipeError",
      message:
        'metrics(): Expected label of letters, digits, _ or - for label but received "two words" of type string',
    },
  );
  assert.throws(
    () => pipeline().input(""),
    /Expected non-empty string for spec but received "" of type string/,
  );
});

Deno.test("expectValue() words errors like sharp", () => {
  assert.throws(
    () =>
      expectValue(
        "sr",
        "factor",
        -2,
        "positive integer",
        (v) => Number.isInteger(v) && (v as number) > 0,
      ),
    { message: "sr(): Expected positive integer for factor but received -2 of type number" },
  );
  assert.doesNotThrow(() => expectValue("sr", "factor", 4, "positive integer", (v) => v === 4));
});

Deno.test("add() turns an op factory's error into a RecipeError naming the op", () => {
  const failing = () => {
    throw new RangeError("Expected 2, 4 or 8 for factor but received 3");
  };
  assert.throws(() => pipeline().add("blur", failing), {
    name: "RecipeError",
    message: "blur(): Expected 2, 4 or 8 for factor but received 3",
  });
});

Deno.test("an expansion replaces the previous op by several nodes plus a merge", () => {
  const seen: (string | undefined)[] = [];
  const twice: Expansion = {
    kind: "twice",
    params: { runs: 2 },
    expand(previous) {
      seen.push(previous?.kind);
      const merge = { ...copyOp("run0", "image", "-merge"), reads: ["run0", "run1"] };
      return {
        ops: [copyOp("image", "run0", "0"), copyOp("image", "run1", "1"), merge],
        replacesPrevious: true,
      };
    },
  };
  const graph = pipeline().use(copyOp("image", "clean", "-keep")).use(copyOp("image", "x")).use(
    twice,
  ).metrics()
    .compile();
  assert.deepEqual(graph.nodes.map((n) => n.op.kind), [
    "copy-keep",
    "copy0",
    "copy1",
    "copy-merge",
    "metrics",
  ]);
  assert.deepEqual(graph.nodes.map((n) => n.expandedFrom), [
    undefined,
    "twice",
    "twice",
    "twice",
    undefined,
  ]);
  assert.throws(() => pipeline().use(twice).compile(), /twice\(\) must follow an op/);
  assert.deepEqual(seen, ["copy", undefined], "expand() gets the op compiled just before it");
});

Deno.test("explain() lists each op with reads → writes, params and files", () => {
  const text = pipeline()
    .degrade({ noise: 25, seed: 1 })
    .metrics({ label: "noisy" })
    .save("{name}_noisy.png")
    .explain("results");
  const lines = text.split("\n");
  assert.match(lines[0]!, /3 ops, input slots: image/);
  const at = (kind: string) =>
    lines.findIndex((l) => new RegExp(`^\\s+\\d+\\. ${kind}\\b`).test(l));
  assert.ok(at("degrade") < at("metrics") && at("metrics") < at("save"), text);
  assert.match(lines[at("degrade")]!, /image → image, clean/);
  assert.match(lines[at("degrade") + 1]!, /noise=25 seed=1/);
  assert.match(lines[at("metrics")]!, /clean, image → meta/);
  assert.match(text, /label="noisy"/);
  assert.match(text, /writes .*results[/\\]\{name\}_noisy\.png/);
});

Deno.test("explain() prints what an op says about itself under its line", () => {
  const fit = {
    ...copyOp("image", "image"),
    kind: "fit",
    explain: () => "network: skip(3→3)\nparams: 42",
  };
  const lines = pipeline().use(fit).explain().split("\n");
  const at = lines.findIndex((l) => /1\. fit/.test(l));
  assert.match(lines[at + 2]!, /^\s+network: skip\(3→3\)$/);
  assert.match(lines[at + 3]!, /^\s+params: 42$/);
});

Deno.test("metrics({ label }) stores scores under the label, equal to psnr/ssim of the slots", async () => {
  const card = testCard(24, 20);
  const summary = await pipeline()
    .degrade({ noise: 25, seed: 3 })
    .metrics({ label: "noisy" })
    .use(copyOp("clean", "image"))
    .metrics()
    .run({ input: [imageInput(card, "card")] });
  assert.deepEqual(summary.failed, []);
  const metrics = summary.done[0]!.metrics;
  const { image: noisy } = await degradeImage(card, { noise: 25, seed: 3 });
  assert.equal(metrics["noisy.psnr"], psnr(card, noisy));
  assert.equal(metrics["noisy.ssim"], ssim(card, noisy));
  assert.ok(metrics["noisy.psnr"]! < 30, "σ = 25 noise costs PSNR");
  assert.equal(metrics.psnr, Infinity, "the later unlabelled metrics() sees clean against clean");
});

Deno.test("a pipeline run never mutates the frame it was given", async () => {
  const card: Image = testCard(16, 16);
  const before = card.data.slice();
  await pipeline().degrade({ noise: 50, seed: 1 }).run({ input: [imageInput(card)] });
  assert.deepEqual(card.data, before);
});
