/**
 * What every `dipline` subcommand shares: the {@link Command} shape that cli.ts registers,
 * flag parsing with node:util `parseArgs` (strict: unknown flags are usage errors), and the
 * exit-code rules.
 *
 * A subcommand is a module `cli/<name>.ts` that exports `command`:
 *
 * ```ts ignore
 * export const command: Command = {
 *   name: "denoise",
 *   summary: "Restore a noisy image with Deep Image Prior",
 *   usage: "dipline denoise <in> -o <out> [--iterations N] ...",
 *   async run(args) {
 *     const { values, positionals } = parseFlags(command, args, { out: { type: "string", short: "o" } });
 *     ...
 *     return 0;
 *   },
 * };
 * ```
 *
 * `--help`/`-h` and `--debug` are handled by cli.ts for every subcommand. Throw
 * {@link UsageError} (exit 2) for a bad command line, `InputError` (exit 1) for a bad input file;
 * return 1 when some inputs failed.
 *
 * @module
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { RecipeError, UsageError } from "../core/errors.ts";

/** A `dipline` subcommand. */
export interface Command {
  /** The word after `dipline`, e.g. `"run"`. */
  readonly name: string;
  /** One line for the top-level help. */
  readonly summary: string;
  /** The full help text `dipline <name> --help` prints (usage line, flags, examples). */
  readonly usage: string;
  /** Runs the command on the arguments after its name; resolves with the exit code. */
  run(args: string[]): Promise<number>;
}

/** Exit codes: 0 success, 1 an input failed, 2 the command line is wrong. */
export const EXIT = { ok: 0, input: 1, usage: 2 } as const;

/** The command line is wrong (unknown flag, missing argument, bad value): exit 2. */
export { UsageError };

/**
 * Parses flags strictly; positionals allowed. Errors become one-line {@link UsageError}s such as
 * "degrade: unknown option '--nosie'".
 */
export function parseFlags<T extends ParseArgsOptionsConfig>(
  command: Pick<Command, "name">,
  args: string[],
  options: T,
) {
  try {
    return parseArgs({
      args: joinNegativeValues(args, options),
      options,
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    // Node's messages go on with a hint about "--"; the first sentence is the one that matters.
    const first = error instanceof Error
      ? error.message.split("\n")[0]!.split(". ")[0]!
      : String(error);
    const message = first.replace(/^Unknown option/, "unknown option");
    throw new UsageError(`${command.name}: ${message}`);
  }
}

/**
 * `--seed -1` as `--seed=-1`: a value flag followed by a negative number takes it as its value
 * (parseArgs would call it "ambiguous"), so it gets the same range message as `--seed=-1`.
 */
function joinNegativeValues(args: string[], options: ParseArgsOptionsConfig): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    const name = arg.startsWith("--")
      ? arg.slice(2)
      : Object.keys(options).find((key) => arg === `-${options[key]!.short}`);
    const takesValue = name !== undefined && !arg.includes("=") && options[name]?.type === "string";
    if (takesValue && next !== undefined && /^-(\d|\.\d|Infinity\b)/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(arg);
    if (arg === "--") {
      out.push(...args.slice(i + 1));
      break;
    }
  }
  return out;
}

/**
 * Reads a numeric flag value; a missing flag gives `undefined`.
 *
 * @throws {UsageError} "degrade: Expected number for --noise but received "abc""
 */
export function numberFlag(
  command: Pick<Command, "name">,
  flag: string,
  value: string | undefined,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) {
    throw new UsageError(
      `${command.name}: Expected number for --${flag} but received ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/**
 * Reads `--max-pixels N` (a positive integer), the largest image `loadImage` accepts; a missing
 * flag gives `undefined` (the default, `DEFAULT_MAX_PIXELS`).
 *
 * @throws {UsageError} unless N is a positive integer
 */
export function maxPixelsFlag(
  command: Pick<Command, "name">,
  value: string | undefined,
): number | undefined {
  const n = numberFlag(command, "max-pixels", value);
  if (n !== undefined && !(Number.isInteger(n) && n > 0)) {
    throw new UsageError(
      `${command.name}: Expected positive integer for --max-pixels but received ${value}`,
    );
  }
  return n;
}

/**
 * Requires exactly `count` positionals.
 *
 * @throws {UsageError} naming what was expected
 */
export function expectPositionals(
  command: Pick<Command, "name">,
  positionals: string[],
  names: readonly string[],
): string[] {
  if (positionals.length !== names.length) {
    const wanted = names.map((n) => `<${n}>`).join(" ");
    throw new UsageError(
      `${command.name}: Expected ${wanted} but received ${positionals.length} argument(s)` +
        (positionals.length > 0 ? `: ${positionals.join(" ")}` : ""),
    );
  }
  return positionals;
}

/** Converts a recipe-option error (bad value caught by the DSL checks) into a usage error. */
export function asUsageError(command: Pick<Command, "name">, error: unknown): unknown {
  if (!(error instanceof RecipeError)) return error;
  const named = error.message.startsWith(command.name);
  return new UsageError(named ? error.message : `${command.name}: ${error.message}`);
}

/** Writes one line to stdout. */
export function printLine(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));
}
