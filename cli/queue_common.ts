/**
 * What the commands on a shared queue share (`worker`, `schedule`, `run --queue`,
 * `serve --queue`): the `--queue` URL with its `$DIPLINE_QUEUE` default, durations such as
 * `90s`, `10m`, `2h`, and one signal handler that drains first and stops second.
 *
 * @module
 */
import { parseRedisUrl, type RedisUrl } from "../service/redis_url.ts";
import { type Command, UsageError } from "./common.ts";

/** `--queue`, else `$DIPLINE_QUEUE`; undefined when neither is set. */
export function queueFlag(
  command: Pick<Command, "name">,
  value: string | undefined,
): RedisUrl | undefined {
  const given = value ?? (Deno.env.get("DIPLINE_QUEUE") || undefined);
  if (given === undefined) return undefined;
  try {
    return parseRedisUrl(given);
  } catch (error) {
    throw new UsageError(`${command.name}: ${(error as Error).message}`);
  }
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration: a number with a unit (`500ms`, `30s`, `10m`, `2h`, `1d`), or a plain number of
 * seconds.
 *
 * @throws {UsageError} "schedule: Expected a duration such as 30s, 10m or 2h for --every but
 * received "soon""
 */
export function durationFlag(
  command: Pick<Command, "name">,
  flag: string,
  value: string,
  least = 0,
): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  const ms = match ? Number(match[1]) * UNITS[match[2] ?? "s"]! : NaN;
  if (!Number.isFinite(ms) || ms < least) {
    throw new UsageError(
      `${command.name}: Expected a duration such as 30s, 10m or 2h${
        least > 0 ? ` (at least ${least / 1000} s)` : ""
      } for --${flag} but received ${JSON.stringify(value)}`,
    );
  }
  return Math.round(ms);
}

/** A positive integer flag (`--concurrency`, `--attempts`). */
export function countFlag(
  command: Pick<Command, "name">,
  flag: string,
  value: string | undefined,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(
      `${command.name}: Expected integer ≥ 1 for --${flag} but received ${value}`,
    );
  }
  return n;
}

/**
 * SIGINT and SIGTERM: the first calls `drain`, the second `stop`, the third exits at once; each
 * says so on stderr. Returns the function that removes the listeners.
 */
export function onStopSignals(
  name: string,
  drain: (signal: Deno.Signal) => void,
  stop: (signal: Deno.Signal) => void,
): () => void {
  let count = 0;
  const listeners: [Deno.Signal, () => void][] = [];
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    const listener = () => {
      count++;
      if (count === 1) drain(signal);
      else if (count === 2) stop(signal);
      else {
        console.error(`${name}: ${signal}: quitting now`);
        Deno.exit(signal === "SIGTERM" ? 143 : 130);
      }
    };
    try {
      Deno.addSignalListener(signal, listener);
      listeners.push([signal, listener]);
    } catch { /* SIGTERM cannot be listened to on Windows */ }
  }
  return () => {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  };
}
