/**
 * `dipline bench` and the side-by-side runner: flags, the JSON shape, and agreement of the
 * PyTorch twin's networks with dipline's. Behaviour only: tiny networks on the reference
 * engine, never a timing assertion.
 */
import assert from "node:assert/strict";
import {
  BENCH_DEFAULTS,
  benchDataTerm,
  benchNetwork,
  type BenchPreset,
  type BenchResult,
  parseBenchArgs,
  runBench,
} from "../cli/bench.ts";
import { UsageError } from "../cli/common.ts";
import { compilePlan } from "../engine/compile.ts";
import {
  type BenchReport,
  findTorchPython,
  formatTable,
  medianRun,
  parseConfigs,
  type SideBySideRow,
} from "../bench/side_by_side.ts";

const root = new URL("..", import.meta.url).pathname;

function planOf(preset: BenchPreset, channels: number, size = 64) {
  return compilePlan(benchNetwork(preset, channels), {
    batch: 1,
    height: size,
    width: size,
    dataTerm: benchDataTerm(preset),
    lr: 0.01,
    regNoiseStd: 0,
    emaDecay: 0.99,
  });
}

/** The keys both `cli.ts bench --json` and `torch_dip.py --json` print. */
const SHARED_KEYS = [
  "engine",
  "adapter",
  "params",
  "size",
  "batch",
  "msPerStep",
  "gflopPerStep",
  "gflops",
  "firstStepMs",
  "compileMs",
] as const;

Deno.test("parseBenchArgs() fills the documented defaults", () => {
  const o = parseBenchArgs([]);
  assert.deepEqual(
    { ...o },
    { ...BENCH_DEFAULTS, json: false },
  );
  assert.equal(o.channels, 128);
  assert.equal(o.preset, "denoise");
});

Deno.test("parseBenchArgs() reads every flag", () => {
  const o = parseBenchArgs([
    "--engine=cpu",
    "--preset",
    "inpaint",
    "--channels",
    "32",
    "--size",
    "256",
    "--steps",
    "7",
    "--warmup",
    "0",
    "--batch",
    "2",
    "--threads",
    "3",
    "--json",
  ]);
  assert.deepEqual({ ...o }, {
    engine: "cpu",
    preset: "inpaint",
    channels: 32,
    size: 256,
    steps: 7,
    warmup: 0,
    batch: 2,
    threads: 3,
    json: true,
  });
});

Deno.test("parseBenchArgs() rejects bad values with a usage error naming the flag", () => {
  const cases: [string[], RegExp][] = [
    [["--size", "100"], /--size a multiple of 32, at least 64 .* received 100/],
    [["--engine", "cuda"], /--engine webgpu, cpu, reference or auto but received "cuda"/],
    [["--preset", "deblur"], /--preset denoise, sr or inpaint but received "deblur"/],
    [["--steps", "0"], /positive integer for --steps but received 0/],
    [["--warmup=-1"], /non-negative integer for --warmup but received -1/],
    [["--size", "32"], /at least 64 .* received 32/],
    [["--channels", "1.5"], /integer for --channels but received "1.5"/],
    [["--sizes", "64"], /unknown option '--sizes'/],
    [["64"], /expected no arguments but received 64/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseBenchArgs(args), (e: unknown) => {
      assert.ok(e instanceof UsageError, `${args.join(" ")} gave ${e}`);
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("benchNetwork() builds the notebooks' networks (REFERENCE.md §1a counts)", () => {
  assert.equal(planOf("denoise", 128).paramsPerFit, 2_217_831);
  assert.equal(planOf("sr", 128).paramsPerFit, 2_217_831);
  assert.equal(planOf("inpaint", 128).paramsPerFit, 3_002_627);
  assert.equal(benchDataTerm("denoise").kind, "identity");
  assert.equal(benchDataTerm("inpaint").kind, "mask");
  const sr = benchDataTerm("sr");
  assert.ok(sr.kind === "downsample" && sr.factor === 4);
});

Deno.test("runBench() on the reference engine reports the shared JSON keys consistently", async () => {
  const r: BenchResult = await runBench({
    engine: "reference",
    preset: "denoise",
    channels: 4,
    size: 64,
    steps: 2,
    warmup: 1,
    batch: 2,
    threads: 1,
  });
  for (const key of SHARED_KEYS) assert.ok(key in r, `missing ${key}`);
  const plan = planOf("denoise", 4);
  assert.equal(r.engine, "reference");
  assert.equal(r.params, plan.paramsPerFit);
  assert.equal(r.forwardMacs, plan.forwardMacs);
  assert.equal(r.size, 64);
  assert.equal(r.batch, 2);
  // 3 × forward MACs × 2 FLOP per MAC × batch.
  assert.ok(Math.abs(r.gflopPerStep - (3 * plan.forwardMacs * 2 * 2) / 1e9) < 1e-12);
  assert.ok(r.msPerStep > 0 && r.firstStepMs > 0 && r.compileMs >= 0);
  assert.ok(Math.abs(r.gflops - r.gflopPerStep / (r.msPerStep / 1000)) < 1e-6 * r.gflops);
  assert.equal(r.loss.length, 2);
  assert.equal(r.firstLoss.length, 2);
  for (const l of [...r.loss, ...r.firstLoss]) assert.ok(Number.isFinite(l) && l > 0);
  // Two fits with different seeds train different networks on different data.
  assert.notEqual(r.firstLoss[0], r.firstLoss[1]);
});

Deno.test("runBench() trains the inpainting preset with its mask", async () => {
  const r = await runBench({
    engine: "reference",
    preset: "inpaint",
    channels: 2,
    size: 64,
    steps: 1,
    warmup: 0,
    batch: 1,
    threads: 1,
  });
  const plan = planOf("inpaint", 2);
  assert.ok(plan.io.mask !== undefined);
  assert.equal(r.params, plan.paramsPerFit);
  assert.equal(r.network, benchNetwork("inpaint", 2).name);
  assert.match(r.network, /ns=\[2×5\]/);
  // A 50% mask on a U(0,1) target: the masked MSE is well below the unmasked one (≈ 0.08).
  assert.ok(r.firstLoss[0]! > 0 && r.firstLoss[0]! < 0.07, `loss ${r.firstLoss[0]}`);
});

Deno.test("findTorchPython() answers undefined for an interpreter that does not exist", async () => {
  assert.equal(await findTorchPython("/nonexistent/python3"), undefined);
});

Deno.test("cli.ts bench --json prints one JSON object (sr preset, mask-free)", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${root}cli.ts`,
      "bench",
      "--engine",
      "reference",
      "--preset",
      "sr",
      "--channels",
      "2",
      "--size",
      "64",
      "--steps",
      "1",
      "--warmup",
      "0",
      "--json",
    ],
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const lines = new TextDecoder().decode(stdout).trim().split("\n");
  assert.equal(lines.length, 1);
  const r = JSON.parse(lines[0]!);
  for (const key of SHARED_KEYS) assert.ok(key in r, `missing ${key}`);
  assert.equal(r.preset, "sr");
  assert.equal(r.params, planOf("sr", 2).paramsPerFit);
});

Deno.test("cli.ts bench exits 2 with a one-line message on a bad flag", async () => {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}cli.ts`, "bench", "--size", "48"],
  }).output();
  assert.equal(code, 2);
  assert.match(new TextDecoder().decode(stderr), /bench: expected --size a multiple of 32/);
});

Deno.test("parseConfigs() reads channels@size lists and rejects anything else", () => {
  assert.deepEqual(parseConfigs("128@64, 32@256", "sr"), [
    { preset: "sr", channels: 128, size: 64 },
    { preset: "sr", channels: 32, size: 256 },
  ]);
  assert.throws(() => parseConfigs("128x64", "denoise"), /channels@size\) but received "128x64"/);
  assert.throws(() => parseConfigs("0@64", "denoise"), /received "0@64"/);
});

Deno.test("formatTable() prints the ratio and each failure's reason", () => {
  const report = (engine: string, ms: number) => ({
    engine,
    adapter: "test",
    params: 1,
    size: 64,
    batch: 1,
    msPerStep: ms,
    gflopPerStep: 1,
    gflops: 1000 / ms,
    firstStepMs: 2 * ms,
    compileMs: 1,
  });
  const rows: SideBySideRow[] = [
    {
      config: "denoise C=32 64²",
      preset: "denoise",
      channels: 32,
      size: 64,
      threads: 2,
      torch: report("torch-cpu", 10),
      dipline: report("cpu", 25),
      ratio: 2.5,
    },
    {
      config: "denoise C=32 128²",
      preset: "denoise",
      channels: 32,
      size: 128,
      threads: 2,
      torch: { error: "no Python with PyTorch found" },
      dipline: report("cpu", 90),
      ratio: null,
    },
  ];
  const text = formatTable(rows);
  const lines = text.split("\n");
  assert.match(lines[2]!, /^denoise C=32 64²\s+10\.0\s+25\.0\s+2\.50×\s+20\.0\s+50\.0\s+cpu/);
  assert.match(lines[3]!, /—\s+90\.0\s+—/);
  assert.match(text, /denoise C=32 128² torch: no Python with PyTorch found/);
});

Deno.test("side_by_side.ts --no-torch still runs dipline and prints JSON rows", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${root}bench/side_by_side.ts`,
      "--no-torch",
      "--engine",
      "reference",
      "--configs",
      "2@64",
      "--steps",
      "1",
      "--warmup",
      "0",
      "--threads",
      "1",
      "--json",
    ],
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const rows = JSON.parse(new TextDecoder().decode(stdout)) as SideBySideRow[];
  assert.equal(rows.length, 1);
  const row = rows[0]!;
  assert.equal(row.channels, 2);
  assert.deepEqual(row.torch, { error: "skipped (--no-torch)" });
  assert.ok(!("error" in row.dipline), JSON.stringify(row.dipline));
  assert.equal(row.ratio, null);
});

const python = await findTorchPython();

Deno.test({
  name: "torch_dip.py --check agrees with dipline on parameters, MACs and Lanczos taps",
  ignore: python === undefined, // needs python3-torch
  async fn() {
    const { code, stdout, stderr } = await new Deno.Command(python!, {
      args: [`${root}bench/torch_dip.py`, "--check", "--json", "--threads", "1"],
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const check = JSON.parse(new TextDecoder().decode(stdout));
    assert.equal(check.ok, true);
    assert.equal(check.presets.length, 6);
    for (const row of check.presets) {
      const plan = planOf(row.preset, row.channels, 64);
      assert.equal(row.params, plan.paramsPerFit, `${row.preset} C=${row.channels} params`);
      assert.equal(row.forwardMacs64, plan.forwardMacs, `${row.preset} C=${row.channels} MACs`);
    }
    const sr = benchDataTerm("sr");
    assert.ok(sr.kind === "downsample");
    assert.equal(check.lanczos2x4.length, sr.taps.length);
    check.lanczos2x4.forEach((t: number, i: number) => assert.ok(Math.abs(t - sr.taps[i]!) < 1e-6));
  },
});

Deno.test("medianRun() keeps the median time per step and surfaces a failure", () => {
  const run = (ms: number) => ({ msPerStep: ms }) as unknown as BenchReport;
  assert.equal((medianRun([run(30), run(10), run(20)]) as BenchReport).msPerStep, 20);
  assert.equal((medianRun([run(30), run(10)]) as BenchReport).msPerStep, 10);
  assert.deepEqual(medianRun([run(10), { error: "boom" }]), { error: "boom" });
});
