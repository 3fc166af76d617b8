/**
 * Faults across processes, each `dipline run` a time-limited subprocess: SIGTERM and SIGINT
 * (first: finish the running input; second: cancel it; both print the summary), `kill -9` in
 * the middle of a write (the next run removes the temp file and takes the lock over), and three
 * runs over one folder that split it so that every input is fitted exactly once.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { saveImage } from "../image/save.ts";
import { testCard } from "../image/testcard.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(ROOT, "cli.ts");
const FULL = Deno.env.get("DIPLINE_FAULTS") === "full";
/** No subprocess here may run longer than this. */
const LIMIT_MS = 60_000;

/** A folder of `count` tiny inputs `in/p00.png`… and a recipe file whose op is `opBody`. */
async function workspace(
  count: number,
  opBody: string,
  options: { fit?: boolean } = {},
): Promise<{ dir: string; recipe: string }> {
  const dir = await Deno.makeTempDir({ prefix: "dipline-proc-" });
  for (let i = 0; i < count; i++) {
    await saveImage(testCard(8, 8), join(dir, "in", `p${String(i).padStart(2, "0")}.png`));
  }
  const recipe = join(dir, "recipe.ts");
  const dsl = new URL("../pipeline/dsl.ts", import.meta.url).href;
  const save = new URL("../image/save.ts", import.meta.url).href;
  await Deno.writeTextFile(
    recipe,
    `import { pipeline } from "${dsl}";
import { tempPathFor } from "${save}";
void tempPathFor;
const DIR = ${JSON.stringify(dir)};
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)));
  });
export default pipeline()${
      options.fit
        ? `.dipFit({ task: "denoise", net: { channelsDown: [4, 4], channelsUp: [4, 4], channelsSkip: [2, 2] }, inputDepth: 4, iterations: 4, checkEvery: 2, engine: "cpu", threads: 1 })`
        : ""
    }.use({
  kind: "slow",
  reads: ["image"],
  writes: [],
  params: {},
  async run(frame, ctx) {
    ${opBody}
    return frame;
  },
}).save("{name}.png");
`,
  );
  return { dir, recipe };
}

/** Starts `dipline run` in `dir` (JSON events on stdout when `json`). */
function start(dir: string, recipe: string, json = true): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      CLI,
      "run",
      recipe,
      "--input",
      "in",
      "--out",
      "out",
      ...(json ? ["--json"] : []),
    ],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(LIMIT_MS),
  }).spawn();
}

/** Resolves once `path` exists (the op writes marker files). */
async function until(path: string, child?: Deno.ChildProcess): Promise<void> {
  const deadline = Date.now() + LIMIT_MS;
  while (Date.now() < deadline) {
    if (await Deno.stat(path).then(() => true, () => false)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  child?.kill("SIGKILL");
  throw new Error(`timed out waiting for ${path}`);
}

async function finish(child: Deno.ChildProcess) {
  const output = await child.output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
}

function summaryOf(stdout: string) {
  const line = stdout.trim().split("\n").at(-1)!;
  const summary = JSON.parse(line);
  assert.equal(summary.type, "summary");
  return summary as {
    done: { name: string }[];
    resumed: { name: string }[];
    claimed: { name: string }[];
    interrupted: string[];
    notStarted: string[];
    failed: unknown[];
  };
}

/** Hidden files the runs left in `out` (locks, temp files), records aside. */
async function leftovers(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(join(dir, "out"))))
    .map((e) => e.name)
    .filter((name) => name.startsWith(".") && !name.endsWith(".dipline.json"));
}

// Each input writes a marker when its op starts, then works for `ms` (cancellable).
const SLOW = (ms: number) =>
  `await Deno.writeTextFile(DIR + "/started-" + frame.meta.name, "");
    await sleep(${ms}, ctx.signal);`;

Deno.test("SIGTERM: the running input finishes, the rest is not started, the summary is printed (exit 143)", async () => {
  const { dir, recipe } = await workspace(3, SLOW(400));
  const child = start(dir, recipe);
  await until(join(dir, "started-p00"), child);
  child.kill("SIGTERM");
  const { code, stdout, stderr } = await finish(child);
  assert.equal(code, 143, stderr);
  const summary = summaryOf(stdout);
  assert.deepEqual(summary.done.map((r) => r.name), ["p00"]);
  assert.deepEqual(summary.notStarted, ["p01", "p02"]);
  assert.deepEqual(summary.failed, []);
  assert.match(stderr, /SIGTERM: finishing the current input, then stopping/);
  assert.deepEqual(await leftovers(dir), []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("SIGINT twice: the running input is cancelled and listed as interrupted, not failed (exit 130)", async () => {
  const { dir, recipe } = await workspace(2, SLOW(20_000));
  const child = start(dir, recipe, false);
  await until(join(dir, "started-p00"), child);
  child.kill("SIGINT");
  await new Promise((r) => setTimeout(r, 200));
  child.kill("SIGINT");
  const { code, stderr } = await finish(child);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /SIGINT: cancelling the current input/);
  assert.match(stderr, /0 done, 0 skipped, 0 failed, 1 interrupted, 1 not started/);
  assert.match(stderr, /Interrupted \(a rerun redoes them\): p00/);
  assert.deepEqual(await leftovers(dir), []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("kill -9 during a write: the rerun removes the temp file, takes the lock over and finishes", async () => {
  // The first input's op leaves a partial temp file of its output (as a write cut short would)
  // and hangs until it is killed.
  const { dir, recipe } = await workspace(
    2,
    `if (!(await Deno.stat(DIR + "/killed").then(() => true, () => false))) {
      const { tempPathFor } = await import(${
      JSON.stringify(new URL("../image/save.ts", import.meta.url).href)
    });
      await Deno.mkdir(DIR + "/out", { recursive: true });
      await Deno.writeFile(tempPathFor(DIR + "/out/" + frame.meta.name + ".png"), new Uint8Array(1 << 20));
      await Deno.writeTextFile(DIR + "/started-" + frame.meta.name, "");
      await sleep(60_000);
    }`,
  );
  const child = start(dir, recipe);
  await until(join(dir, "started-p00"), child);
  child.kill("SIGKILL");
  await child.status;
  await Deno.writeTextFile(join(dir, "killed"), "");
  const before = await leftovers(dir);
  assert.ok(before.some((n) => n.endsWith(".dipline-tmp")), before.join(", "));
  assert.ok(before.includes(".p00.png.dipline-lock"), before.join(", "));
  const { code, stdout, stderr } = await finish(start(dir, recipe));
  assert.equal(code, 0, stderr);
  assert.match(stdout, /removed 1 temp file/);
  assert.match(stdout, /took over p00 from a run that stopped/);
  assert.deepEqual(summaryOf(stdout).done.map((r) => r.name), ["p00", "p01"]);
  assert.deepEqual(await leftovers(dir), []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("three runs over one folder split it: every input is fitted exactly once", async () => {
  // Each input is a tiny fit (cpu engine) followed by an op that logs who ran it.
  const count = FULL ? 60 : 12;
  const { dir, recipe } = await workspace(
    count,
    `await Deno.writeTextFile(DIR + "/log", frame.meta.name + " " + Deno.pid + "\\n", { append: true });
    await sleep(100);`,
    { fit: true },
  );
  const children = [0, 1, 2].map(() => start(dir, recipe));
  const results = await Promise.all(children.map(finish));
  for (const { code, stderr } of results) assert.equal(code, 0, stderr);
  const log = (await Deno.readTextFile(join(dir, "log"))).trim().split("\n");
  const names = log.map((line) => line.split(" ")[0]!).sort();
  assert.deepEqual(
    names,
    Array.from({ length: count }, (_, i) => `p${String(i).padStart(2, "0")}`),
    "each input fitted exactly once",
  );
  const summaries = results.map((r) => summaryOf(r.stdout));
  assert.equal(summaries.reduce((n, s) => n + s.done.length, 0), count);
  for (let i = 0; i < count; i++) {
    await Deno.stat(join(dir, "out", `p${String(i).padStart(2, "0")}.png`));
  }
  assert.deepEqual(await leftovers(dir), []);
  const perProcess = new Map<string, number>();
  for (const line of log) {
    perProcess.set(line.split(" ")[1]!, (perProcess.get(line.split(" ")[1]!) ?? 0) + 1);
  }
  console.log(
    `three runs: ${count} inputs fitted once each, split ${[...perProcess.values()].join("/")}`,
  );
  await Deno.remove(dir, { recursive: true });
});
