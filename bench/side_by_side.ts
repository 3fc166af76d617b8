/**
 * `deno task bench:torch`: runs the PyTorch twin (bench/torch_dip.py) and dipline's
 * `cli.ts bench` on the same configurations, one process after the other (never at once: two
 * CPU-heavy processes on one machine make both many times slower), with the same thread count,
 * and prints both times per step and their ratio.
 *
 * ```sh
 * deno task bench:torch                                 # the default configurations
 * deno task bench:torch --engine cpu --configs 32@64,32@128 --steps 10
 * deno task bench:torch --torch-device cuda --engine webgpu --configs 128@512
 * ```
 *
 * A configuration is `C@S`: C channels per level, S² pixels. If no Python with PyTorch is
 * found the torch column says so and dipline still runs.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** One benchmark configuration: network width, image size and preset. */
export interface BenchConfig {
  /** The network and data term (see `dipline bench --help`). */
  readonly preset: "denoise" | "sr" | "inpaint";
  /** Channels per level. */
  readonly channels: number;
  /** Output height and width. */
  readonly size: number;
}

/** The JSON both `cli.ts bench --json` and `torch_dip.py --json` print (keys in common). */
export interface BenchReport {
  /** `webgpu`, `cpu`, `reference`, `torch-cpu` or `torch-cuda`. */
  readonly engine: string;
  /** The adapter, GPU or CPU description. */
  readonly adapter: string;
  /** Parameters of one fit. */
  readonly params: number;
  /** Output height and width. */
  readonly size: number;
  /** Fits per step. */
  readonly batch: number;
  /** Mean wall time of one timed step. */
  readonly msPerStep: number;
  /** 3 × forward MACs × 2 × batch / 1e9. */
  readonly gflopPerStep: number;
  /** Achieved GFLOP/s. */
  readonly gflops: number | null;
  /** Start of device setup → first step's loss read back. */
  readonly firstStepMs: number;
  /** Network → plan (dipline) or model construction on the device (torch). */
  readonly compileMs: number;
}

/** A run that produced no report, and why. */
export interface BenchFailure {
  /** One line: the process's last error lines, or why it was not run. */
  readonly error: string;
}

/** One line of the side-by-side table. */
export interface SideBySideRow {
  /** A label such as `denoise C=32 128²`. */
  readonly config: string;
  /** The preset run. */
  readonly preset: BenchConfig["preset"];
  /** Channels per level. */
  readonly channels: number;
  /** Output height and width. */
  readonly size: number;
  /** Threads given to both. */
  readonly threads: number;
  /** The PyTorch twin's report. */
  readonly torch: BenchReport | BenchFailure;
  /** dipline's report. */
  readonly dipline: BenchReport | BenchFailure;
  /** dipline ms/step ÷ torch ms/step (> 1: dipline is slower); null if either failed. */
  readonly ratio: number | null;
}

/** Default configurations: the standard net at 64² and 128², the 32-channel variant up to 256². */
export const DEFAULT_CONFIGS = "128@64,128@128,32@64,32@128,32@256";

const PRESETS = ["denoise", "sr", "inpaint"] as const;

/** Parses `C@S[,C@S…]` into configurations of one preset. */
export function parseConfigs(text: string, preset: BenchConfig["preset"]): BenchConfig[] {
  return text.split(",").filter((s) => s.trim() !== "").map((item) => {
    const match = /^\s*(\d+)@(\d+)\s*$/.exec(item);
    const channels = Number(match?.[1]);
    const size = Number(match?.[2]);
    if (!match || channels < 1 || size < 1) {
      throw new RangeError(
        `side_by_side: expected configurations like 128@64 (channels@size) but received "${item}"`,
      );
    }
    return { preset, channels, size };
  });
}

/** Whether a report parsed from a process is a result rather than an error. */
export function isReport(r: BenchReport | BenchFailure): r is BenchReport {
  return !("error" in r);
}

/** Runs a command, returning the last stdout line parsed as JSON, or an error. */
async function runJson(
  command: string,
  args: string[],
): Promise<BenchReport | BenchFailure> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    return { error: `could not start ${command}: ${(e as Error).message}` };
  }
  const stdout = new TextDecoder().decode(output.stdout).trim();
  const stderr = new TextDecoder().decode(output.stderr).trim();
  if (!output.success) {
    const why = stderr.split("\n").slice(-3).join(" | ") || `exit code ${output.code}`;
    return { error: why };
  }
  const last = stdout.split("\n").at(-1) ?? "";
  try {
    return JSON.parse(last) as BenchReport;
  } catch {
    return { error: `expected one JSON line on stdout but received "${last.slice(0, 120)}"` };
  }
}

/**
 * Finds a Python interpreter that can import torch: `$DIPLINE_PYTHON`, then `python3`, then
 * Debian's `/usr/bin/python3` (where python3-torch installs when a pyenv shim shadows it).
 */
export async function findTorchPython(explicit?: string): Promise<string | undefined> {
  const env = Deno.env.get("DIPLINE_PYTHON");
  const candidates = explicit ? [explicit] : [...(env ? [env] : []), "python3", "/usr/bin/python3"];
  for (const python of candidates) {
    try {
      const { success } = await new Deno.Command(python, {
        args: ["-c", "import torch"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (success) return python;
    } catch {
      // not installed under this name: try the next
    }
  }
  return undefined;
}

/** The run with the median time per step (the first failure if any run failed). */
export function medianRun(
  runs: readonly (BenchReport | BenchFailure)[],
): BenchReport | BenchFailure {
  const failed = runs.find((r) => !isReport(r));
  if (failed) return failed;
  const sorted = [...runs as BenchReport[]].sort((a, b) => a.msPerStep - b.msPerStep);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function fmtMs(r: BenchReport | BenchFailure, key: "msPerStep" | "firstStepMs") {
  return isReport(r) ? r[key].toFixed(1) : "—";
}

/** Formats rows as an aligned text table. */
export function formatTable(rows: readonly SideBySideRow[]): string {
  const header = [
    "config",
    "torch ms/step",
    "dipline ms/step",
    "dipline/torch",
    "torch 1st ms",
    "dipline 1st ms",
    "dipline engine",
  ];
  const lines = rows.map((r) => [
    r.config,
    fmtMs(r.torch, "msPerStep"),
    fmtMs(r.dipline, "msPerStep"),
    r.ratio === null ? "—" : `${r.ratio.toFixed(2)}×`,
    fmtMs(r.torch, "firstStepMs"),
    fmtMs(r.dipline, "firstStepMs"),
    isReport(r.dipline) ? r.dipline.engine : "failed",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  const out = [fmt(header), fmt(widths.map((w) => "-".repeat(w))), ...lines.map(fmt)];
  for (const r of rows) {
    if (!isReport(r.torch)) out.push(`${r.config} torch: ${r.torch.error}`);
    if (!isReport(r.dipline)) out.push(`${r.config} dipline: ${r.dipline.error}`);
  }
  return out.join("\n");
}

const USAGE = `deno task bench:torch [options]

  --configs C@S,…      configurations (default ${DEFAULT_CONFIGS})
  --preset P           denoise | sr | inpaint (default denoise)
  --engine E           dipline engine: webgpu | cpu | reference | auto (default auto)
  --torch-device D     cpu | cuda (default cpu)
  --threads T          threads for both (default: all cores)
  --steps N            timed steps (default 10)
  --warmup W           warm-up steps (default 2)
  --repeat R           run each side R times, alternating, and keep the median (default 1)
  --python PATH        Python with torch (default: $DIPLINE_PYTHON, python3, /usr/bin/python3)
  --no-torch           run dipline only
  --json               print the rows as JSON instead of a table`;

/** Entry point: parses flags, runs every configuration sequentially, prints the table. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      configs: { type: "string", default: DEFAULT_CONFIGS },
      preset: { type: "string", default: "denoise" },
      engine: { type: "string", default: "auto" },
      "torch-device": { type: "string", default: "cpu" },
      threads: { type: "string", default: String(navigator.hardwareConcurrency) },
      steps: { type: "string", default: "10" },
      warmup: { type: "string", default: "2" },
      repeat: { type: "string", default: "1" },
      python: { type: "string" },
      "no-torch": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const preset = values.preset as BenchConfig["preset"];
  if (!PRESETS.includes(preset)) {
    throw new RangeError(
      `side_by_side: expected --preset denoise, sr or inpaint but received "${values.preset}"`,
    );
  }
  const configs = parseConfigs(values.configs, preset);
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) {
    throw new RangeError(
      `side_by_side: expected a positive integer for --repeat but received "${values.repeat}"`,
    );
  }
  const common = ["--threads", values.threads, "--steps", values.steps, "--warmup", values.warmup];
  const python = values["no-torch"] ? undefined : await findTorchPython(values.python);
  const noTorch = values["no-torch"]
    ? "skipped (--no-torch)"
    : "no Python with PyTorch found (tried $DIPLINE_PYTHON, python3, /usr/bin/python3; " +
      "install python3-torch or pass --python)";
  if (!python && !values["no-torch"]) {
    console.error(`side_by_side: ${noTorch}; running dipline only`);
  }
  const script = new URL("./torch_dip.py", import.meta.url).pathname;
  const cli = new URL("../cli.ts", import.meta.url).pathname;

  const rows: SideBySideRow[] = [];
  for (const c of configs) {
    const shape = [
      "--preset",
      c.preset,
      "--channels",
      String(c.channels),
      "--size",
      String(c.size),
    ];
    const config = `${c.preset} C=${c.channels} ${c.size}²`;
    if (!values.json) console.error(`side_by_side: ${config} …`);
    // Sequential on purpose: torch, then dipline, each with the machine to itself; repeated
    // runs alternate so a passing disturbance hits both sides alike.
    const torchRuns: (BenchReport | BenchFailure)[] = [];
    const diplineRuns: (BenchReport | BenchFailure)[] = [];
    for (let i = 0; i < repeat; i++) {
      torchRuns.push(
        python
          ? await runJson(python, [
            script,
            ...shape,
            ...common,
            "--device",
            values["torch-device"],
            "--json",
          ])
          : { error: noTorch },
      );
      diplineRuns.push(
        await runJson(Deno.execPath(), [
          "run",
          "-A",
          cli,
          "bench",
          ...shape,
          ...common,
          "--engine",
          values.engine,
          "--json",
        ]),
      );
    }
    const torch = medianRun(torchRuns);
    const dipline = medianRun(diplineRuns);
    const ratio = isReport(torch) && isReport(dipline) ? dipline.msPerStep / torch.msPerStep : null;
    rows.push({ config, ...c, threads: Number(values.threads), torch, dipline, ratio });
  }
  console.log(values.json ? JSON.stringify(rows, null, 2) : formatTable(rows));
  return rows.every((r) => isReport(r.dipline)) ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
