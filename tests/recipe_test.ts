import { deepStrictEqual as deepEqual, equal, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RecipeError } from "../core/errors.ts";
import { saveImage } from "../image/save.ts";
import { testCard } from "../image/testcard.ts";
import { isPipeline, Pipeline, pipeline } from "../pipeline/dsl.ts";
import { imageInput } from "../pipeline/sources.ts";
import { loadRecipe, pipelineFromJSON, recipeJsonSchema } from "../pipeline/recipe.ts";
import { BUILTIN_OPS } from "../ops/registry.ts";
import { tempDir } from "./fixtures.ts";

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));

async function example(file: string): Promise<Pipeline> {
  const module = await import(new URL(`../examples/${file}`, import.meta.url).href);
  ok(isPipeline(module.default), file);
  return module.default;
}

Deno.test("every example recipe made of built-in ops round-trips through JSON exactly", async () => {
  const files = [...Deno.readDirSync(join(ROOT, "examples"))]
    .map((e) => e.name)
    .filter((n) => n.endsWith(".ts") && n !== "demo.ts" && n !== "flash.ts");
  ok(files.length >= 10, files.join(", "));
  for (const file of files) {
    const recipe = await example(file);
    const doc = recipe.toJSON();
    equal(doc.version, 1);
    const text = JSON.stringify(doc);
    const back = Pipeline.fromJSON(JSON.parse(text));
    equal(JSON.stringify(back.toJSON()), text, file);
    equal(back.explain(), recipe.explain(), file);
  }
});

Deno.test("a recipe and its JSON form compute the same outputs", async () => {
  const recipe = pipeline()
    .degrade({ noise: 25, seed: 3 })
    .metrics({ label: "noisy" })
    .dipFit({
      task: "denoise",
      iterations: 4,
      checkEvery: 2,
      net: { channelsDown: [4, 4], channelsUp: [4, 4], channelsSkip: [2, 2] },
      inputDepth: 4,
      engine: "cpu",
    })
    .metrics();
  const back = Pipeline.fromJSON(JSON.parse(JSON.stringify(recipe.toJSON())));
  const input = [imageInput(testCard(16, 16), "card")];
  const a = await recipe.run({ input, claims: false });
  const b = await back.run({ input, claims: false });
  deepEqual(a.failed, []);
  deepEqual(a.done[0]!.metrics, b.done[0]!.metrics);
});

Deno.test("a step from use() says clearly that it cannot be serialized", () => {
  const custom = pipeline().degrade({ noise: 5 }).use({
    kind: "sharpen",
    reads: ["image"],
    writes: ["image"],
    params: {},
    run: (frame) => Promise.resolve(frame),
  });
  throws(() => custom.toJSON(), /Step #2 \(sharpen\) was added with use\(\).*cannot be serialized/);
});

Deno.test("bad JSON recipes get one line naming the step, the option and what was expected", () => {
  const cases: [unknown, RegExp][] = [
    [{ version: 2, steps: [] }, /^recipe: Expected 1 for version but received 2 of type number$/],
    [{ steps: [] }, /Expected 1 for version but received undefined/],
    [
      { version: 1, steps: [{ op: "blurr" }] },
      /^steps\[0\]: Unknown op "blurr" \(expected one of load, degrade, dipFit, [^)]*save[^)]*\)$/,
    ],
    [
      { version: 1, steps: [{ op: "degrade", options: { noise: 5, sigma: 2 } }] },
      /^steps\[0\] degrade\(\): Unknown option "sigma" \(expected one of blur, noise/,
    ],
    [
      {
        version: 1,
        steps: [{ op: "degrade", options: { noise: 5 } }, {
          op: "dipFit",
          options: { task: "denoise", lr: "fast" },
        }],
      },
      /^steps\[1\] dipFit\(\): Expected number for lr but received "fast" of type string$/,
    ],
    [
      { version: 1, steps: [{ op: "dipFit", options: { task: "sr", iterations: 0 } }] },
      /^steps\[0\] dipFit\(\): Expected integer ≥ 1 for iterations but received 0 of type number$/,
    ],
    [
      { version: 1, steps: [{ op: "metrics" }] },
      /^recipe: Op #1 metrics reads slot "clean" but no earlier op writes it/,
    ],
    [{ version: 1, steps: [] }, /no steps/],
    ["not an object", /^recipe: Expected a JSON object with version and steps but received "not/],
  ];
  for (const [doc, message] of cases) {
    throws(
      () => pipelineFromJSON(doc),
      (e: unknown) =>
        e instanceof RecipeError && message.test(e.message) && !e.message.includes("\n"),
      `${JSON.stringify(doc)} → ${message}`,
    );
  }
});

Deno.test("recipeJsonSchema() is generated from every op's option schema", () => {
  const schema = recipeJsonSchema() as {
    properties: {
      steps: { items: { oneOf: { properties: Record<string, Record<string, unknown>> }[] } };
    };
  };
  const variants = schema.properties.steps.items.oneOf;
  deepEqual(variants.map((v) => v.properties.op!.const), BUILTIN_OPS.map((s) => s.kind));
  const dipFit = variants.find((v) => v.properties.op!.const === "dipFit")!.properties.options! as {
    properties: Record<string, { description?: string; minimum?: number; enum?: string[] }>;
    additionalProperties: boolean;
  };
  equal(dipFit.additionalProperties, false);
  deepEqual(dipFit.properties.iterations?.minimum, 1);
  ok(dipFit.properties.task?.enum?.includes("poisson"));
  ok(dipFit.properties.lr?.description?.includes("learning rate"));
});

Deno.test("loadRecipe() reads .ts and .json recipes and names the file of a bad one", async () => {
  await withDir(async (dir) => {
    const json = join(dir, "r.json");
    const recipe = pipeline().degrade({ noise: 25, seed: 1 }).save("{name}_noisy.png");
    await Deno.writeTextFile(json, JSON.stringify(recipe.toJSON()));
    equal((await loadRecipe(json)).explain(), recipe.explain());
    await Deno.writeTextFile(json, "{ not json");
    await loadRecipe(json).then(
      () => ok(false),
      (e: Error) => ok(e.message.startsWith(json), e.message),
    );
    await Deno.writeTextFile(json, JSON.stringify({ version: 1, steps: [{ op: "nope" }] }));
    await loadRecipe(json).then(
      () => ok(false),
      (e: Error) =>
        ok(e instanceof RecipeError && e.message.startsWith(`${json}: steps[0]`), e.message),
    );
    const ts = join(dir, "broken.ts");
    await Deno.writeTextFile(ts, "export default {\n  a: 1;\n};\n");
    await loadRecipe(ts).then(
      () => ok(false),
      (e: Error) => ok(/broken\.ts: syntax error at line 2, column \d+/.test(e.message), e.message),
    );
  });
});

Deno.test("dipline recipe prints the JSON document and the schema; run takes recipe.json", async () => {
  await withDir(async (dir) => {
    const cli = join(ROOT, "cli.ts");
    const dipline = async (...args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", cli, ...args],
        stdout: "piped",
        stderr: "piped",
        cwd: ROOT,
      }).output();
      const decode = (b: Uint8Array) => new TextDecoder().decode(b);
      return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
    };
    const printed = await dipline("recipe", "examples/degrade-noise.ts");
    equal(printed.code, 0, printed.stderr);
    deepEqual(JSON.parse(printed.stdout), (await example("degrade-noise.ts")).toJSON());
    const file = join(dir, "noise.json");
    await Deno.writeTextFile(file, printed.stdout);
    await saveImage(testCard(12, 12), join(dir, "card.png"));
    const run = await dipline(
      "run",
      file,
      "--input",
      join(dir, "card.png"),
      "--out",
      join(dir, "out"),
    );
    equal(run.code, 0, run.stderr);
    ok(Deno.statSync(join(dir, "out", "card_noisy.png")).isFile);
    const schema = await dipline("recipe", "--schema");
    equal(JSON.parse(schema.stdout).title, "dipline recipe");
    await Deno.writeTextFile(
      file,
      JSON.stringify({ version: 1, steps: [{ op: "degrade", options: { noise: -1 } }] }),
    );
    const bad = await dipline("run", file, "--input", join(dir, "card.png"));
    equal(bad.code, 2);
    equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    ok(
      bad.stderr.includes("steps[0] degrade(): Expected number ≥ 0 for noise but received -1"),
      bad.stderr,
    );
    const flash = await dipline("recipe", "examples/flash.ts");
    equal(flash.code, 2);
    ok(flash.stderr.includes("cannot be serialized"), flash.stderr);
  });
});
