/**
 * No lost or overwritten file: outputs never overwrite an input (after resolving links), an
 * existing path is always literal, an output folder equal to (or linked into) the input folder
 * is refused or left out, every output target is checked before the first op, and the temp
 * files an interrupted write leaves are recognisable and removed by the next run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../core/errors.ts";
import type { Op, ProgressEvent } from "../core/types.ts";
import {
  checkOutputTargets,
  parseTempName,
  removeStaleTemps,
  saveImage,
  TEMP_SUFFIX,
  tempPathFor,
  writeFileAtomic,
} from "../image/save.ts";
import { testCard } from "../image/testcard.ts";
import { pipeline } from "../pipeline/dsl.ts";
import { collectInputs, runPipeline } from "../pipeline/executor.ts";
import { resolveInputs } from "../pipeline/sources.ts";

async function folderWith(names: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dipline-files-" });
  for (const name of names) {
    await Deno.mkdir(join(dir, name, ".."), { recursive: true });
    await saveImage(testCard(8, 8), join(dir, name));
  }
  return dir;
}

const names = (items: { relative?: string }[]) => items.map((item) => item.relative);

Deno.test("an existing path with [ * ? is taken literally; glob: forces a glob", async () => {
  const dir = await folderWith(["shot[1].png", "shot1.png", "a*b.png"]);
  assert.deepEqual(names(await resolveInputs("shot[1].png", dir)), ["shot[1].png"]);
  assert.deepEqual(names(await resolveInputs("a*b.png", dir)), ["a*b.png"]);
  assert.deepEqual(names(await resolveInputs("glob:shot[1].png", dir)), ["shot1.png"]);
  // a spec that names no file is still a glob
  assert.deepEqual(names(await resolveInputs("shot[0-9].png", dir)), ["shot1.png"]);
  await assert.rejects(resolveInputs("glob:nothing[1].png", dir), /no image file matches/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("--out equal to the input folder is refused; inside it (even through a link) is left out", async () => {
  const dir = await folderWith(["a.png", "b.png"]);
  await assert.rejects(
    collectInputs(dir, { outDir: dir }),
    /the output folder is the input folder .*choose another --out/,
  );
  await assert.rejects(
    collectInputs(join(dir, "*.png"), { outDir: join(dir, ".", "") }),
    /the output folder is the input folder/,
  );
  // outputs inside the input folder from an earlier run
  await folderWith([]);
  await saveImage(testCard(8, 8), join(dir, "restored", "a_x.png"));
  assert.deepEqual(names(await collectInputs(dir, { outDir: join(dir, "restored") })), [
    "a.png",
    "b.png",
  ]);
  // --out is a link (outside the input folder) to a folder inside it
  const link = await Deno.makeTempDir({ prefix: "dipline-link-" });
  await Deno.symlink(join(dir, "restored"), join(link, "out"));
  assert.deepEqual(names(await collectInputs(dir, { outDir: join(link, "out") })), [
    "a.png",
    "b.png",
  ]);
  // a file named directly is always taken
  assert.equal((await collectInputs(join(dir, "restored", "a_x.png"), { outDir: dir })).length, 1);
  await Deno.remove(dir, { recursive: true });
  await Deno.remove(link, { recursive: true });
});

Deno.test("checkOutputTargets() refuses an output that is an input, by name, link or hard link", async () => {
  const dir = await folderWith(["img.png"]);
  const input = join(dir, "img.png");
  await Deno.symlink(input, join(dir, "alias.png"));
  await Deno.link(input, join(dir, "hard.png"));
  for (const target of ["img.png", "./img.png", "alias.png", "hard.png"]) {
    await assert.rejects(
      checkOutputTargets([join(dir, target)], { inputs: [input] }),
      (error: Error) => {
        assert.ok(error instanceof InputError);
        assert.match(error.message, /output would overwrite the input .*img\.png/);
        assert.ok(!error.message.includes("\n"));
        return true;
      },
      target,
    );
  }
  await checkOutputTargets([join(dir, "new.png")], { inputs: [input] });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("checkOutputTargets() fails in one line for a path under a file, a folder, a bad extension", async () => {
  const dir = await folderWith(["a.png"]);
  const cases: [string, RegExp][] = [
    [
      join(dir, "a.png", "x.png"),
      /cannot create the output folder \(a part of the path is a file\)/,
    ],
    [join(dir, "a.tif"), /cannot tell the output format from the extension "\.tif"/],
    [join(dir), /output is a folder/],
    ["/proc/dipline-no/x.png", /cannot create the output folder/],
  ];
  for (const [target, pattern] of cases) {
    await assert.rejects(checkOutputTargets([target]), (error: Error) => {
      assert.ok(error instanceof InputError, String(error));
      assert.match(error.message, pattern);
      assert.ok(!error.message.includes("\n"), error.message);
      return true;
    });
  }
  // the probe leaves nothing behind
  await checkOutputTargets([join(dir, "sub", "b.png")]);
  assert.deepEqual([...Deno.readDirSync(join(dir, "sub"))], []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a run checks every output target before the first op runs", async () => {
  const dir = await folderWith(["a.png", "b.png"]);
  let ran = 0;
  const counter: Op = {
    kind: "counter",
    reads: ["image"],
    writes: [],
    params: {},
    run: (frame) => (ran++, Promise.resolve(frame)),
  };
  const recipe = pipeline().use(counter).save("{name}.png");
  await assert.rejects(
    runPipeline(recipe, { input: dir, outDir: join(dir, "a.png", "out") }),
    /a part of the path is a file/,
  );
  // the recipe writes its outputs over its inputs
  await assert.rejects(
    runPipeline(recipe, { input: join(dir, "*.png"), outDir: join(dir, "x", "..") }),
    /output folder is the input folder/,
  );
  await assert.rejects(
    runPipeline(pipeline().use(counter).save("../{name}.png"), {
      input: join(dir, "a.png"),
      outDir: join(dir, "x"),
    }),
    /output would overwrite the input/,
  );
  assert.equal(ran, 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("temp files are recognisable; a run removes the ones a dead process left, never a live one's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-temps-" });
  const target = join(dir, "cat.png");
  const mine = tempPathFor(target);
  const owner = parseTempName(mine.slice(dir.length + 1));
  assert.equal(owner?.target, "cat.png");
  assert.equal(owner?.pid, Deno.pid);
  assert.ok(mine.endsWith(TEMP_SUFFIX));
  // a dead process on this host (pid beyond pid_max), a live one (us), another host's fresh one
  const dead = join(dir, `.cat.png.${owner!.host}-99999999-abc${TEMP_SUFFIX}`);
  const foreign = join(dir, `.cat.png.otherhost-12-abc${TEMP_SUFFIX}`);
  const old = join(dir, `.dog.png.otherhost-12-abc${TEMP_SUFFIX}`);
  for (const path of [dead, mine, foreign, old]) await Deno.writeTextFile(path, "partial");
  const hourAgo = new Date(Date.now() - 2 * 3600_000);
  await Deno.utime(old, hourAgo, hourAgo);
  assert.deepEqual((await removeStaleTemps(dir)).sort(), [dead, old].sort());
  assert.deepEqual(
    [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
    [
      foreign.slice(dir.length + 1),
      mine.slice(dir.length + 1),
    ].sort(),
  );
  // a run over that folder removes a dead process's temp file and says so
  await Deno.writeTextFile(dead, "partial");
  const events: ProgressEvent[] = [];
  await pipeline().save("{name}.png").run({
    input: [{ name: "cat", load: () => Promise.resolve(testCard(8, 8)) }],
    outDir: dir,
    onEvent: (e) => events.push(e),
  });
  assert.ok(events.some((e) => e.type === "note" && /removed 1 temp file/.test(e.message)));
  await assert.rejects(Deno.stat(dead), Deno.errors.NotFound);
  // writeFileAtomic leaves only the target
  await writeFileAtomic(join(dir, "sub", "f.bin"), new Uint8Array(1 << 20));
  assert.deepEqual([...Deno.readDirSync(join(dir, "sub"))].map((e) => e.name), ["f.bin"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("removeStaleTemps() leaves files that are not dipline temp files alone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-temps-" });
  for (const name of [".cat.png.tmp", "cat.png", ".x.dipline-tmp", ".hidden"]) {
    await Deno.writeTextFile(join(dir, name), "");
    const old = new Date(Date.now() - 2 * 3600_000);
    await Deno.utime(join(dir, name), old, old);
  }
  assert.deepEqual(await removeStaleTemps(dir), []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("InputError from a missing input folder names the spec", async () => {
  await assert.rejects(collectInputs("/nonexistent/dipline/photos"), /no such file or folder/);
});
