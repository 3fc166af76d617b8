/**
 * `--queue` values: `redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS) selects
 * Redis; anything else is refused with the expected form. Passwords never reach a log line.
 *
 * @module
 */
import { UsageError } from "../core/errors.ts";

/** A checked Redis URL. */
export interface RedisUrl {
  /** The URL as given (contains the password, if any: never print it). */
  readonly href: string;
  /** The URL with the password replaced by `***`, for messages. */
  readonly shown: string;
}

/**
 * Checks a `--queue` value.
 *
 * @throws {UsageError} unless it is a redis:// or rediss:// URL with a host
 */
export function parseRedisUrl(value: string, flag = "--queue"): RedisUrl {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(
      `Expected redis://HOST:PORT for ${flag} but received ${JSON.stringify(redact(value))}`,
    );
  }
  if ((url.protocol !== "redis:" && url.protocol !== "rediss:") || url.hostname === "") {
    throw new UsageError(
      `Expected redis://HOST:PORT for ${flag} but received ${JSON.stringify(redact(value))}`,
    );
  }
  const db = url.pathname.replace(/^\//, "");
  if (db !== "" && !/^\d{1,2}$/.test(db)) {
    throw new UsageError(
      `Expected a database number after the port in ${flag} but received /${db}`,
    );
  }
  return { href: url.href, shown: redact(url.href) };
}

/** The URL with its password (if any) replaced by `***`. */
export function redact(value: string): string {
  try {
    const url = new URL(value);
    if (url.password !== "") url.password = "***";
    return url.href;
  } catch {
    return value.replace(/\/\/[^@/]*@/, "//***@");
  }
}
