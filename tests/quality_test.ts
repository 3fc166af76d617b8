import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type Column,
  COMPARISON_COLUMNS,
  EARLY_STOP_TOLERANCE_DB,
  earlyStopVerdict,
  FitBudget,
  meanOf,
  mergeReports,
  metric,
  MIN_SEEDS,
  PAPER_TOLERANCE_DB,
  paperVerdicts,
  type QualityReport,
  type Row,
  tableLines,
  TORCH_TOLERANCE_DB,
  torchVerdicts,
} from "../bench/quality.ts";
import { buildPng, tempDir } from "./fixtures.ts";

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: expected ${expected}, got ${actual}`);

Deno.test("meanOf() averages and is NaN for no values", () => {
  close(meanOf([1, 2, 6]), 3, "mean");
  assert.ok(Number.isNaN(meanOf([])));
});

Deno.test("torchVerdicts() averages seeds per image, then images, per task", () => {
  const verdicts = torchVerdicts([
    { task: "denoise", oursPerSeed: [30, 31, 32], torchPerSeed: [30.5, 31.5, 32.5] },
    { task: "denoise", oursPerSeed: [20, 20, 23], torchPerSeed: [21, 21, 21] },
    { task: "sr", oursPerSeed: [25, 25, 25], torchPerSeed: [24, 24, 24] },
  ]);
  assert.deepEqual(verdicts.map((v) => v.task), ["denoise", "sr"]);
  const [denoise, sr] = verdicts as [(typeof verdicts)[0], (typeof verdicts)[0]];
  // image means: ours 31 and 21, torch 31.5 and 21
  close(denoise.ours, 26, "denoise ours");
  close(denoise.torch, 26.25, "denoise torch");
  close(denoise.diff, -0.25, "denoise diff");
  close(denoise.maxAbsDiff, 0.5, "denoise largest per-image difference");
  assert.equal(denoise.images, 2);
  assert.equal(denoise.seeds, 3);
  assert.equal(denoise.met, true, denoise.line);
  assert.match(denoise.line, /within the 0\.3 dB target — MET/);
  close(sr.diff, 1, "sr diff");
  assert.equal(sr.met, false);
  assert.match(sr.line, /outside the 0\.3 dB target — NOT MET/);
});

Deno.test("torchVerdicts() pairs only images with torch values and skips tasks without any", () => {
  const verdicts = torchVerdicts([
    { task: "denoise", oursPerSeed: [30, 30, 30], torchPerSeed: [30.1, 30.1, 30.1] },
    { task: "denoise", oursPerSeed: [10, 10, 10] }, // the twin did not run: not in the mean
    { task: "inpaint", oursPerSeed: [28, 28, 28] },
  ]);
  assert.equal(verdicts.length, 1);
  assert.equal(verdicts[0]!.images, 1);
  close(verdicts[0]!.ours, 30, "paired ours");
});

Deno.test("torchVerdicts() does not meet the target with fewer than MIN_SEEDS seeds", () => {
  const few = Array.from({ length: MIN_SEEDS - 1 }, () => 30);
  const [verdict] = torchVerdicts([{ task: "denoise", oursPerSeed: few, torchPerSeed: few }]);
  assert.equal(verdict!.seeds, MIN_SEEDS - 1);
  close(verdict!.diff, 0, "diff");
  assert.equal(verdict!.met, false);
  assert.match(verdict!.line, /fewer than 3 seeds/);
});

Deno.test("torchVerdicts() takes the tolerance as a bound on |ours − torch| either way", () => {
  const at = (diff: number) =>
    torchVerdicts([{
      task: "sr",
      oursPerSeed: [20 + diff, 20 + diff, 20 + diff],
      torchPerSeed: [20, 20, 20],
    }])[0]!;
  assert.equal(at(TORCH_TOLERANCE_DB - 0.01).met, true);
  assert.equal(at(-(TORCH_TOLERANCE_DB - 0.01)).met, true);
  assert.equal(at(TORCH_TOLERANCE_DB + 0.01).met, false);
  assert.equal(at(-(TORCH_TOLERANCE_DB + 0.01)).met, false);
  assert.equal(at(Number.NaN).met, false, "a failed fit (NaN) never meets the target");
});

Deno.test("earlyStopVerdict() reports the mean and largest gap against the 0.5 dB target", () => {
  const met = earlyStopVerdict([
    { gap: 0.1, stopStep: 700 },
    { gap: 0.7, stopStep: 900 },
    { gap: 0.4, stopStep: 650 },
  ]);
  close(met.meanGap, 0.4, "mean gap");
  close(met.maxGap, 0.7, "largest gap");
  assert.equal(met.stopped, 3);
  assert.equal(met.met, true, met.line);
  const wide = earlyStopVerdict([{ gap: EARLY_STOP_TOLERANCE_DB + 0.2, stopStep: 500 }]);
  assert.equal(wide.met, false);
  assert.match(wide.line, /outside the 0\.5 dB target/);
});

Deno.test("earlyStopVerdict() does not meet the target when a fit ran to the cap", () => {
  const verdict = earlyStopVerdict([{ gap: 0, stopStep: 400 }, { gap: 0.1 }]);
  assert.equal(verdict.stopped, 1);
  assert.equal(verdict.met, false);
  assert.match(verdict.line, /reached the cap/);
  assert.equal(earlyStopVerdict([]).met, false, "no fits: nothing tested");
});

Deno.test("paperVerdicts() compares each set's mean with the anchors of the same images", () => {
  const rows = [
    { task: "denoise", set: "color", ours: 31, paper: 31.2 },
    { task: "denoise", set: "color", ours: 30, paper: 30.2 },
    { task: "sr", set: "set5", ours: 29, paper: 30 },
    { task: "sr", set: "set14", ours: Number.NaN, paper: 27 }, // skipped
  ];
  const verdicts = paperVerdicts(rows, { "denoise/color": 2, "sr/set5": 2, "sr/set14": 1 });
  assert.deepEqual(verdicts.map((v) => `${v.task}/${v.set}`), ["denoise/color", "sr/set5"]);
  const [color, set5] = verdicts as [(typeof verdicts)[0], (typeof verdicts)[0]];
  close(color.ours, 30.5, "color ours");
  close(color.paper, 30.7, "color paper");
  close(color.diff, -0.2, "color diff");
  assert.equal(color.met, true, color.line);
  assert.match(color.line, /over 2 of 2 images/);
  assert.equal(set5.met, false, "a partial set never meets the target, however close");
  assert.match(set5.line, /1 of 2 images.*partial: 1 images missing/);
  const off = paperVerdicts([{ task: "inpaint", set: "gray50", ours: 33, paper: 33.5 }], {
    "inpaint/gray50": 1,
  })[0]!;
  assert.ok(Math.abs(off.diff) > PAPER_TOLERANCE_DB);
  assert.equal(off.met, false);
  assert.match(off.line, /outside the 0\.3 dB target — NOT MET/);
});

Deno.test("FitBudget predicts from the fits timed so far and refuses what would overrun", () => {
  let ms = 0;
  const clock = () => ms;
  const budget = new FitBudget(100, clock);
  assert.equal(budget.refuse(1000, 512 * 512), undefined, "nothing timed yet: the fit may start");
  assert.equal(budget.predict(1000, 512 * 512), undefined);
  // A fit of 1000 steps at 20 ms/step on 256² took 25 s of wall time: 5 s of setup.
  ms = 25_000;
  budget.record(25, 1000, 256 * 256, 20);
  close(budget.predict(1000, 256 * 256)!, 25, "same fit again");
  close(budget.predict(1000, 512 * 512)!, 5 + 80, "four times the pixels");
  assert.equal(budget.refuse(1000, 256 * 256), undefined, "25 s of 75 s left");
  assert.match(budget.refuse(1000, 512 * 512)!, /predicted 85 s, 75 s of the 100 s budget left/);
  assert.match(budget.refuse(4000, 512 * 512)!, /325 s, longer than the whole 100 s budget/);
  // A running fit at 50 steps/s: 2500 more steps need 50 s, 75 s are left; 5000 need 100 s.
  assert.equal(budget.refuseRest(2500, 50), undefined);
  assert.match(budget.refuseRest(5000, 50)!, /5000 more steps need 100 s, 75 s of the 100 s/);
  ms = 100_000;
  assert.match(budget.refuse(1, 1)!, /budget of 100 s spent/);
  const none = new FitBudget(undefined, clock);
  none.record(25, 1000, 256 * 256, 20);
  assert.equal(none.refuse(1e9, 1e9), undefined, "without a budget every fit may start");
  assert.equal(none.signal(), undefined);
  assert.equal(none.refuseRest(1e9, 1), undefined);
});

function report(rows: QualityReport["rows"], seeds: number[]): QualityReport {
  return {
    reduced: false,
    engine: "webgpu",
    seeds,
    setSizes: { "denoise/color": 2 },
    rows,
    verdicts: [],
    paperVerdicts: [],
    skipped: [],
  };
}

function row(image: string, seeds: number[], ours: number[], skipped?: string) {
  return {
    task: "denoise" as const,
    set: "color",
    image,
    size: "8×8",
    seeds,
    ours: meanOf(ours),
    oursPerSeed: ours,
    paper: 30,
    input: 20,
    msPerStep: 10,
    iterations: skipped ? 0 : 3000,
    ...(skipped ? { skipped } : {}),
  };
}

Deno.test("mergeReports() fills skipped images from later slices and pools seeds", () => {
  const first = report([row("a", [0], [30]), row("b", [0], [], "budget of 500 s spent")], [0]);
  const second = report([row("b", [0], [31])], [0]);
  const third = report([row("a", [1], [29])], [1]);
  const merged = mergeReports([first, second, third]);
  assert.deepEqual(merged.rows.map((r) => r.image), ["a", "b"]);
  const [a, b] = merged.rows as [(typeof merged.rows)[0], (typeof merged.rows)[0]];
  assert.deepEqual(a.seeds, [0, 1]);
  assert.deepEqual(a.oursPerSeed, [30, 29]);
  close(a.ours, 29.5, "pooled mean");
  assert.equal(b.skipped, undefined);
  close(b.ours, 31, "filled in");
  assert.deepEqual(merged.skipped, []);
  assert.equal(merged.paperVerdicts.length, 1);
  close(merged.paperVerdicts[0]!.ours, 30.25, "set mean over the merged rows");
  assert.equal(merged.paperVerdicts[0]!.images, 2);
  const stillSkipped = mergeReports([first]);
  assert.deepEqual(stillSkipped.skipped, [{ task: "denoise", only: "b" }]);
  assert.throws(
    () => mergeReports([first, { ...second, reduced: true }]),
    /one protocol but received both reduced and full/,
  );
});

Deno.test("tableLines() prints a row per image and a mean per set, for any list of columns", () => {
  const row = (image: string, ours: number, extra: Partial<Row> = {}): Row => ({
    task: "sr",
    set: "set5",
    image,
    size: "8×8",
    seeds: [0],
    ours,
    oursPerSeed: [ours],
    authors: 20,
    paper: 21,
    input: Number.NaN,
    msPerStep: 12.34,
    iterations: 2,
    ...extra,
  });
  const rows = [row("a", 25), row("b", 27, { torch: 26, torchPerSeed: [26], diff: 1 })];
  const lines = tableLines(COMPARISON_COLUMNS, rows, (r) => `${r.task} ${r.set}`);
  const none = ["–", "–", "–", "–"]; // bicubic and the learned baselines: not scored here
  assert.deepEqual(lines, [
    [
      "task",
      "set",
      "image",
      "size",
      "input",
      "ours",
      "torch",
      "ours−torch",
      "authors",
      "bicubic",
      "esrgan-slim",
      "esrgan-medium",
      "esrgan-thick",
      "paper",
      "ms/step",
    ],
    ["sr", "set5", "a", "8×8", "–", "25.00", "–", "–", "20.00", ...none, "21.00", "12.3"],
    ["sr", "set5", "b", "8×8", "–", "27.00", "26.00", "+1.00", "20.00", ...none, "21.00", "12.3"],
    // a set mean only where every image has a value
    ["sr", "set5", "mean (2)", "", "–", "26.00", "–", "–", "20.00", ...none, "21.00", ""],
  ]);
  // Another method is one more column (its value a field of the row).
  const esrgan = metric("esrgan", (r) => (r as Row & { esrgan?: number }).esrgan);
  const columns: Column<Row>[] = [...COMPARISON_COLUMNS.slice(0, 9), esrgan];
  const withEsrgan = rows.map((r, i) => ({ ...r, esrgan: 23 + i }));
  assert.deepEqual(tableLines(columns, withEsrgan, (r) => r.set).map((l) => l.at(-1)), [
    "esrgan",
    "23.00",
    "24.00",
    "23.50",
  ]);
});

/** A tiny benchmark folder in the paper-benchmarks layout (one image per task). */
async function tinyBenchmarks(dir: string): Promise<void> {
  const write = async (path: string, bytes: Uint8Array | string) => {
    await Deno.mkdir(join(dir, path, ".."), { recursive: true });
    if (typeof bytes === "string") await Deno.writeTextFile(join(dir, path), bytes);
    else await Deno.writeFile(join(dir, path), bytes);
  };
  const ramp = (w: number, h: number, spp: number, max: number) =>
    Array.from({ length: w * h * spp }, (_, i) => Math.round(((i * 37) % 101) / 100 * max));
  // A 16-bit RGB image whose size is no multiple of 32.
  await write(
    "denoise-color/a.png",
    buildPng({
      width: 20,
      height: 12,
      colorType: 2,
      bitDepth: 16,
      samples: ramp(20, 12, 3, 65535),
    }),
  );
  await write(
    "sr/set5/b.png",
    buildPng({ width: 36, height: 34, colorType: 2, bitDepth: 8, samples: ramp(36, 34, 3, 255) }),
  );
  await write(
    "dip-outputs/sr-x4/valid_region.csv",
    "set,image,gt_height,gt_width,top,left,height,width\nset5,b,34,36,1,2,32,32\n",
  );
  await write(
    "inpaint-gray50/c.png",
    buildPng({ width: 16, height: 16, colorType: 0, bitDepth: 8, samples: ramp(16, 16, 1, 255) }),
  );
  const mask = Array.from({ length: 256 }, (_, i) => ((i * 7) % 3 === 0 ? 0 : 255));
  await write(
    "inpaint-gray50/c_mask.png",
    buildPng({ width: 16, height: 16, colorType: 0, bitDepth: 8, samples: mask }),
  );
  await write(
    "anchors.csv",
    "task,image,dip_psnr\ndenoise_color_sigma25,a,30.5\nsr_x4_set5,b,28.25\ninpaint_gray50,c,33\n",
  );
}

const QUALITY = new URL("../bench/quality.ts", import.meta.url).pathname;

async function quality(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", QUALITY, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = {
    stdout: new TextDecoder().decode(stdout),
    stderr: new TextDecoder().decode(stderr),
  };
  assert.equal(code, 0, `quality.ts ${args.join(" ")} failed:\n${text.stderr}`);
  return text;
}

Deno.test("quality.ts runs the full protocol's path on every task and writes its JSON", async () => {
  const dir = await tempDir();
  try {
    await tinyBenchmarks(join(dir, "data"));
    const jsonOut = join(dir, "slice.json");
    const { stdout } = await quality(
      "--data",
      join(dir, "data"),
      "--engine",
      "cpu",
      "--threads",
      "1",
      "--channels",
      "4",
      "--iterations",
      "2",
      "--budget-s",
      "3600",
      "--json",
      "--json-out",
      jsonOut,
    );
    const printed = JSON.parse(stdout) as QualityReport;
    assert.deepEqual(JSON.parse(await Deno.readTextFile(jsonOut)), printed);
    assert.equal(printed.reduced, false);
    assert.deepEqual(printed.rows.map((r) => `${r.task}/${r.set}/${r.image}/${r.size}`), [
      "denoise/color/a/20×12",
      "sr/set5/b/32×32",
      "inpaint/gray50/c/16×16",
    ]);
    for (const r of printed.rows) {
      assert.equal(r.skipped, undefined, `${r.image}: ${r.skipped}`);
      assert.ok(Number.isFinite(r.ours) && r.ours > 0, `${r.image}: PSNR ${r.ours}`);
      assert.equal(r.iterations, 2);
    }
    assert.deepEqual(printed.rows.map((r) => r.paper), [30.5, 28.25, 33]);
    assert.deepEqual(printed.setSizes, { "denoise/color": 1, "sr/set5": 1, "inpaint/gray50": 1 });
    assert.deepEqual(printed.paperVerdicts.map((v) => `${v.task}/${v.set} ${v.images}`), [
      "denoise/color 1",
      "sr/set5 1",
      "inpaint/gray50 1",
    ]);
    assert.deepEqual(printed.skipped, []);

    // The merge of that slice prints the table with the paper verdicts.
    const merged = await quality("--merge", jsonOut);
    assert.match(merged.stdout, /issue 5 \(full protocol\)/);
    assert.match(merged.stdout, /sr set5: ours [\d.]+ dB, paper 28\.25 dB over 1 of 1 images/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("quality.ts --stage copies only what the selected images need", async () => {
  const dir = await tempDir();
  try {
    await tinyBenchmarks(join(dir, "data"));
    await quality("--data", join(dir, "data"), "--task", "inpaint", "--stage", join(dir, "staged"));
    const files: string[] = [];
    const walk = async (sub: string) => {
      for await (const e of Deno.readDir(join(dir, "staged", sub))) {
        if (e.isDirectory) await walk(join(sub, e.name));
        else files.push(join(sub, e.name));
      }
    };
    await walk("");
    assert.deepEqual(files.sort(), [
      "anchors.csv",
      "inpaint-gray50/c.png",
      "inpaint-gray50/c_mask.png",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
