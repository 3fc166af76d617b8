/**
 * The command line under faults, as a new user meets them: an output that would replace the
 * input, a bracketed file name, `--out` equal to the input folder, an unwritable output, a
 * negative number after a flag. Each is one line on stderr and the right exit code.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { saveImage } from "../image/save.ts";
import { testCard } from "../image/testcard.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

async function dipline(cwd: string, ...args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "cli.ts"), ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(60_000),
  }).output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr).trim(),
  };
}

function oneLine(stderr: string, pattern: RegExp): void {
  assert.equal(stderr.split("\n").length, 1, stderr);
  assert.match(stderr, pattern);
}

Deno.test("degrade refuses to overwrite its input (also through a link) and checks -o before reading", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-cli-faults-" });
  await saveImage(testCard(8, 8), join(dir, "img.png"));
  const original = await Deno.readFile(join(dir, "img.png"));
  await Deno.symlink(join(dir, "img.png"), join(dir, "link.png"));
  for (const out of ["img.png", "./img.png", "link.png"]) {
    const r = await dipline(dir, "degrade", "img.png", "-o", out, "--noise", "25");
    assert.equal(r.code, 1, r.stderr);
    oneLine(r.stderr, /output would overwrite the input img\.png/);
  }
  assert.deepEqual(await Deno.readFile(join(dir, "img.png")), original);
  // the output is checked first: a bad extension is reported although the input is no image
  await Deno.writeTextFile(join(dir, "notes.png"), "not an image");
  const tif = await dipline(dir, "degrade", "notes.png", "-o", "a.tif", "--noise", "25");
  assert.equal(tif.code, 1);
  oneLine(tif.stderr, /a\.tif: cannot tell the output format from the extension "\.tif"/);
  const under = await dipline(dir, "degrade", "img.png", "-o", "img.png/x.png", "--noise", "25");
  assert.equal(under.code, 1);
  oneLine(under.stderr, /cannot create the output folder \(a part of the path is a file\)/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a negative number after a flag gets the same message as --flag=-N", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-cli-faults-" });
  await saveImage(testCard(8, 8), join(dir, "img.png"));
  const spaced = await dipline(dir, "degrade", "img.png", "-o", "o.png", "--noise", "-5");
  const joined = await dipline(dir, "degrade", "img.png", "-o", "o.png", "--noise=-5");
  assert.equal(spaced.code, 2);
  assert.equal(spaced.stderr, joined.stderr);
  assert.doesNotMatch(spaced.stderr, /ambiguous/);
  const seed = await dipline(
    dir,
    "degrade",
    "img.png",
    "-o",
    "o.png",
    "--noise",
    "5",
    "--seed",
    "-1",
  );
  const seedJoined = await dipline(
    dir,
    "degrade",
    "img.png",
    "-o",
    "o.png",
    "--noise",
    "5",
    "--seed=-1",
  );
  assert.equal(seed.stderr, seedJoined.stderr);
  assert.doesNotMatch(seed.stderr, /ambiguous/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("run: a bracketed name is that file; --out the input folder and an unwritable --out fail first", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-cli-faults-" });
  await saveImage(testCard(8, 8), join(dir, "in", "shot[1].png"));
  await saveImage(testCard(8, 8), join(dir, "in", "shot1.png"));
  const recipe = join(ROOT, "examples", "degrade-noise.ts");
  const literal = await dipline(dir, "run", recipe, "--input", "in/shot[1].png", "--out", "o");
  assert.equal(literal.code, 0, literal.stderr);
  assert.deepEqual(
    [...Deno.readDirSync(join(dir, "o"))].map((e) => e.name).filter((n) => !n.startsWith(".")),
    ["shot[1]_noisy.png"],
  );
  const same = await dipline(dir, "run", recipe, "--input", "in", "--out", "in");
  assert.equal(same.code, 1);
  oneLine(same.stderr, /the output folder is the input folder .*choose another --out/);
  await Deno.writeTextFile(join(dir, "file"), "");
  const blocked = await dipline(dir, "run", recipe, "--input", "in", "--out", "file/out");
  assert.equal(blocked.code, 1);
  oneLine(blocked.stderr, /cannot create the output folder \(a part of the path is a file\)/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("run: a rerun with the same recipe reports the skipped inputs' scores and their mean", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-cli-faults-" });
  await saveImage(testCard(8, 8), join(dir, "in", "a.png"));
  await saveImage(testCard(12, 8), join(dir, "in", "b.png"));
  const recipe = join(ROOT, "examples", "degrade-noise.ts");
  const first = await dipline(dir, "run", recipe, "--input", "in", "--out", "o");
  assert.equal(first.code, 0, first.stderr);
  const again = await dipline(dir, "run", recipe, "--input", "in", "--out", "o");
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, first.stdout, "the same score lines and mean");
  assert.match(again.stdout, /^mean of 2: noisy\.psnr /m);
  assert.match(again.stderr, /0 done, 2 skipped, 0 failed/);
  await Deno.remove(dir, { recursive: true });
});
