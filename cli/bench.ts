/**
 * `dipline bench`: the command line of bench/train_step.ts (time to first step, time per step
 * and GFLOP/s of a reference network on an engine).
 *
 * ```sh
 * deno run -A cli.ts bench --engine cpu --size 128 --steps 20
 * deno run -A cli.ts bench --engine webgpu --size 512 --json
 * ```
 *
 * @module
 */
import {
  BENCH_DEFAULTS,
  type BenchEngine,
  type BenchOptions,
  type BenchPreset,
  formatBenchResult,
  runBench,
  validateBenchOptions,
} from "../bench/train_step.ts";
import { type Command, EXIT, parseFlags, printLine, UsageError } from "./common.ts";

export * from "../bench/train_step.ts";

/** Usage text of `dipline bench`. */
export const BENCH_USAGE = `Usage: dipline bench [options]

Trains a reference network on synthetic data and reports the time to the first step (trainer
creation and shader compilation included), the time per step and the achieved GFLOP/s.

Options:
  --engine E     webgpu | cpu | reference | auto (default ${BENCH_DEFAULTS.engine})
  --preset P     denoise | sr | inpaint (default ${BENCH_DEFAULTS.preset})
  --channels C   channels per level (default ${BENCH_DEFAULTS.channels}; 32 = the light variant)
  --size S       output height and width, a multiple of 32, ≥ 64 (default ${BENCH_DEFAULTS.size})
  --steps N      timed steps (default ${BENCH_DEFAULTS.steps})
  --warmup W     warm-up steps before timing (default ${BENCH_DEFAULTS.warmup})
  --batch B      independent fits per step (default ${BENCH_DEFAULTS.batch})
  --threads T    cpu engine threads (default: all cores)
  --json         print one JSON object (the keys bench/torch_dip.py prints too)

Examples:
  deno task bench --engine cpu --size 64
  deno run -A cli.ts bench --engine webgpu --size 512 --json`;

function intFlag(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === "" || !Number.isInteger(value)) {
    throw new UsageError(`bench: expected an integer for --${name} but received "${text}"`);
  }
  return value;
}

/** Parses `bench`'s flags into checked options (defaults from {@link BENCH_DEFAULTS}). */
export function parseBenchArgs(args: string[]): BenchOptions & { readonly json: boolean } {
  const { values, positionals } = parseFlags(command, args, {
    engine: { type: "string" },
    preset: { type: "string" },
    channels: { type: "string" },
    size: { type: "string" },
    steps: { type: "string" },
    warmup: { type: "string" },
    batch: { type: "string" },
    threads: { type: "string" },
    json: { type: "boolean", default: false },
  });
  if (positionals.length > 0) {
    throw new UsageError(`bench: expected no arguments but received ${positionals.join(" ")}`);
  }
  const d = BENCH_DEFAULTS;
  const options = {
    engine: (values.engine ?? d.engine) as BenchEngine,
    preset: (values.preset ?? d.preset) as BenchPreset,
    channels: intFlag("channels", values.channels, d.channels),
    size: intFlag("size", values.size, d.size),
    steps: intFlag("steps", values.steps, d.steps),
    warmup: intFlag("warmup", values.warmup, d.warmup),
    batch: intFlag("batch", values.batch, d.batch),
    threads: intFlag("threads", values.threads, d.threads),
    json: values.json ?? false,
  };
  validateBenchOptions(options);
  return options;
}

/** The `bench` subcommand. */
export const command: Command = {
  name: "bench",
  summary: "Time training steps of a reference network on an engine (GFLOP/s, first step)",
  usage: BENCH_USAGE,
  async run(args) {
    const options = parseBenchArgs(args);
    const result = await runBench(options);
    printLine(options.json ? JSON.stringify(result) : formatBenchResult(result));
    return EXIT.ok;
  },
};
