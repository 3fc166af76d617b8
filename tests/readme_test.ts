import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { COMMANDS } from "../cli.ts";
import { isPipeline } from "../pipeline/dsl.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const README = Deno.readTextFileSync(join(ROOT, "README.md"));
const MOD = new URL("../mod.ts", import.meta.url).href;

/** The README's fenced blocks of one language, in order. */
function blocks(lang: string): string[] {
  return [...README.matchAll(new RegExp("^```" + lang + "\\n([\\s\\S]*?)^```", "gm"))].map((m) =>
    m[1]!
  );
}

Deno.test("README shows the demo and test commands with deno and with npx", () => {
  for (
    const command of [
      "deno task demo",
      "npx -y deno@2.9.6 task demo",
      "deno task test",
      "npx -y deno@2.9.6 task test",
    ]
  ) {
    assert.ok(README.includes(`\n${command}\n`), `README shows: ${command}`);
  }
  const tasks = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json"))).tasks;
  assert.ok(tasks.demo && tasks.test, "deno.json defines the demo and test tasks");
});

Deno.test("README's TypeScript blocks type-check, and recipes compile", async () => {
  const sources = blocks("ts");
  assert.ok(sources.length >= 2);
  const dir = await Deno.makeTempDir({ prefix: "dipline-readme-" });
  const files = sources.map((source, i) => {
    const path = join(dir, `block${i}.ts`);
    Deno.writeTextFileSync(path, source.replaceAll(/from "(\.\.?\/)+mod\.ts"/g, `from "${MOD}"`));
    return path;
  });
  const check = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--config", join(ROOT, "deno.json"), ...files],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
  let recipes = 0;
  for (const [i, source] of sources.entries()) {
    if (!source.includes("export default")) continue;
    const module = await import(new URL(`file://${files[i]}`).href);
    assert.ok(isPipeline(module.default), `block ${i} exports a pipeline`);
    assert.ok(module.default.compile().nodes.length > 0);
    recipes++;
  }
  assert.ok(recipes >= 1, "the README shows a recipe");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("README's JSON blocks are valid recipe documents", async () => {
  const { Pipeline } = await import(MOD);
  const docs = blocks("json");
  assert.ok(docs.length >= 1);
  for (const doc of docs) {
    const recipe = Pipeline.fromJSON(JSON.parse(doc));
    assert.deepEqual(recipe.toJSON(), JSON.parse(doc));
  }
});

Deno.test("README's CLI lines name registered commands and existing recipes", async () => {
  const names = new Set(COMMANDS.map((c) => c.name));
  const lines = blocks("sh").flatMap((b) => b.split("\n")).filter((l) =>
    /(cli\.ts|task dipline) /.test(l)
  );
  assert.ok(lines.length >= 5);
  for (const line of lines) {
    const [, command, rest] = /(?:cli\.ts|task dipline) (\S+)(.*)/.exec(line)!;
    assert.ok(names.has(command!), `${line}: "${command}" is a registered command`);
    const recipe = /^ (examples\/\S+\.ts)/.exec(rest!)?.[1];
    if (recipe) assert.ok((await Deno.stat(join(ROOT, recipe))).isFile, `${recipe} exists`);
  }
});
