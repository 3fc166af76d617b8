import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../core/errors.ts";
import {
  globToRegExp,
  listFolder,
  matchGlob,
  parseShard,
  resolveInputs,
  takeShard,
} from "../pipeline/sources.ts";

/** Makes a temp folder holding the given (empty) files; returns its path. */
async function tree(files: string[]): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "dipline-sources-" });
  for (const file of files) {
    const path = join(root, file);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeFile(path, new Uint8Array());
  }
  return root;
}

const FILES = [
  "b.png",
  "a.jpg",
  "notes.txt",
  "sub/c.png",
  "sub/deep/d.JPEG",
  "sub/deep/e.gif",
  "x1.png",
  "x2.png",
  "xa.png",
  ".hidden/z.png",
  ".y.png",
];

Deno.test("globToRegExp() keeps * and ? inside one segment", () => {
  const re = globToRegExp("*.png");
  assert.ok(re.test("a.png"));
  assert.ok(!re.test("sub/a.png"));
  assert.ok(globToRegExp("x?.png").test("x1.png"));
  assert.ok(!globToRegExp("x?.png").test("x12.png"));
});

Deno.test("globToRegExp() lets ** match zero or more whole segments", () => {
  const re = globToRegExp("**/*.png");
  assert.ok(re.test("a.png"));
  assert.ok(re.test("sub/a.png"));
  assert.ok(re.test("sub/deep/a.png"));
  assert.ok(!re.test("sub/a.jpg"));
  assert.ok(globToRegExp("sub/**").test("sub/deep/d.png"));
});

Deno.test("globToRegExp() handles classes, ranges and negated classes", () => {
  assert.ok(globToRegExp("x[12].png").test("x2.png"));
  assert.ok(!globToRegExp("x[12].png").test("xa.png"));
  assert.ok(globToRegExp("x[0-9].png").test("x7.png"));
  assert.ok(globToRegExp("x[!0-9].png").test("xa.png"));
  assert.ok(!globToRegExp("x[!0-9].png").test("x1.png"));
  assert.ok(!globToRegExp("a.png").test("aXpng"), "a dot is literal");
  assert.throws(() => globToRegExp("x[12.png"), InputError);
});

Deno.test("listFolder() finds image files recursively, sorted, skipping hidden and non-images", async () => {
  const root = await tree(FILES);
  const items = await listFolder(root);
  assert.deepEqual(items.map((i) => i.relative), [
    "a.jpg",
    "b.png",
    "sub/c.png",
    "sub/deep/d.JPEG",
    "sub/deep/e.gif",
    "x1.png",
    "x2.png",
    "xa.png",
  ]);
  assert.deepEqual(items.slice(0, 3).map((i) => i.name), ["a", "b", "c"]);
  assert.equal(items[0]!.path, join(root, "a.jpg"));
  await Deno.remove(root, { recursive: true });
});

Deno.test("matchGlob() matches relative to the glob's literal prefix", async () => {
  const root = await tree(FILES);
  const rel = async (glob: string) => (await matchGlob(glob, root)).map((i) => i.relative);
  assert.deepEqual(await rel("*.png"), ["b.png", "x1.png", "x2.png", "xa.png"]);
  assert.deepEqual(await rel("x[0-9].png"), ["x1.png", "x2.png"]);
  assert.deepEqual(await rel("**/*.png"), ["b.png", "sub/c.png", "x1.png", "x2.png", "xa.png"]);
  assert.deepEqual(await rel("sub/**/*"), ["c.png", "deep/d.JPEG", "deep/e.gif"]);
  assert.deepEqual(await rel(join(root, "sub", "*.png")), ["c.png"]);
  assert.deepEqual(await rel("*.txt"), [], "a glob yields image files only");
  await Deno.remove(root, { recursive: true });
});

Deno.test("resolveInputs() takes a file, a folder or a glob, and names a missing path", async () => {
  const root = await tree(FILES);
  assert.equal((await resolveInputs("sub", root)).length, 3);
  assert.equal((await resolveInputs("sub/**/*.gif", root)).length, 1);
  const [single] = await resolveInputs("notes.txt", root);
  assert.equal(single?.name, "notes", "a file named explicitly is kept whatever its extension");
  await assert.rejects(() => resolveInputs("missing.png", root), (e: Error) => {
    assert.ok(e instanceof InputError);
    assert.match(e.message, /missing\.png/);
    return true;
  });
  await assert.rejects(() => resolveInputs("*.bmp", root), /\*\.bmp: no image file matches/);
  const empty = await tree(["readme.md"]);
  await assert.rejects(() => resolveInputs(empty), /holds no image files/);
  await Deno.remove(root, { recursive: true });
  await Deno.remove(empty, { recursive: true });
});

Deno.test("parseShard() accepts 0-based i/n and refuses anything else", () => {
  assert.deepEqual(parseShard("0/4"), { index: 0, count: 4 });
  assert.deepEqual(parseShard("3/4"), { index: 3, count: 4 });
  for (const bad of ["4/4", "1/0", "-1/3", "a/b", "1", "1/2/3", ""]) {
    assert.throws(() => parseShard(bad), InputError, bad);
  }
});

Deno.test("takeShard() splits a list into disjoint, covering, deterministic parts", async () => {
  const root = await tree(FILES);
  const items = await listFolder(root);
  const names = items.map((i) => i.relative);
  const parts = [0, 1, 2].map((index) => takeShard(names, { index, count: 3 }));
  assert.deepEqual(parts[0], [names[0], names[3], names[6]]);
  assert.deepEqual(parts.flat().sort(), [...names].sort());
  const again = (await listFolder(root)).map((i) => i.relative);
  assert.deepEqual(takeShard(again, { index: 1, count: 3 }), parts[1], "same folder, same shard");
  await Deno.remove(root, { recursive: true });
});
