/**
 * Exclusive claims on an input's outputs through lock files, so that runs sharing an output
 * folder (on one host or on several over a shared filesystem) split the work with no
 * coordinator: each run claims an input before fitting it and leaves inputs claimed by another
 * live run alone. The shared-filesystem complement to `--shard` and to a queue.
 *
 * A lock file `.<output>.dipline-lock` sits beside the input's first output and holds its owner
 * (host, process id, run id, start time) as JSON. It is created with a hard link from a
 * complete temp file, which is atomic and exclusive also on NFS. The owner refreshes its
 * modification time every {@link HEARTBEAT_MS}. A lock is stale when its owner is a dead process
 * on this host, or when it was not refreshed for {@link STALE_MS} (another host, or unknown);
 * a stale lock is taken over under a short-lived breaker lock so that two runs never both take
 * it over.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { hostTag, isProcessAlive, tempPathFor } from "../image/save.ts";

/** Lock files end with this. */
export const LOCK_SUFFIX = ".dipline-lock";
/** How often an owner refreshes its lock file. */
export const HEARTBEAT_MS = 5_000;
/** A lock not refreshed for this long is stale (its owner died on another host, or hangs). */
export const STALE_MS = 60_000;
/** A breaker lock older than this was left by a process that died while taking over. */
const BREAKER_STALE_MS = 10_000;

/** Who holds a lock. */
export interface LockOwner {
  /** Host name (as in {@link hostTag}). */
  readonly host: string;
  /** Process id on that host. */
  readonly pid: number;
  /** A random id of the run (one process may run several). */
  readonly run: string;
  /** When the lock was taken (ISO 8601). */
  readonly since: string;
}

/** A held lock; release it when the input is finished (or failed). */
export interface Claim {
  /** The lock file. */
  readonly path: string;
  /** Who holds it: this run. */
  readonly owner: LockOwner;
  /** Whether another run took the lock over meanwhile (this run looked dead to it). */
  readonly lost: boolean;
  /** Stops the heartbeat and removes the lock file if it is still this run's. */
  release(): Promise<void>;
}

/** What {@link tryClaim} found: the claim, or the live owner that holds it. */
export type ClaimResult =
  | { readonly claim: Claim; readonly tookOver?: LockOwner }
  | { readonly heldBy: LockOwner | undefined };

/** The lock file of the input whose first output is `output`. */
export function lockPathFor(output: string): string {
  return join(dirname(output), `.${basename(output)}${LOCK_SUFFIX}`);
}

/** A new owner record for this process, with a fresh run id. */
export function newOwner(run: string = randomId()): LockOwner {
  return { host: hostTag(), pid: Deno.pid, run, since: new Date().toISOString() };
}

/** Options of {@link tryClaim}. */
export interface ClaimOptions {
  /** Who claims; default a fresh {@link newOwner}. */
  readonly owner?: LockOwner;
  /** Staleness threshold (default {@link STALE_MS}). */
  readonly staleMs?: number;
  /** Heartbeat period (default {@link HEARTBEAT_MS}). */
  readonly heartbeatMs?: number;
}

/**
 * Claims the input whose first output is `output`: creates its lock file, or takes over a stale
 * one. Never waits for a live owner: returns `heldBy` at once.
 */
export async function tryClaim(output: string, options: ClaimOptions = {}): Promise<ClaimResult> {
  const path = lockPathFor(output);
  const owner = options.owner ?? newOwner();
  const staleMs = options.staleMs ?? STALE_MS;
  await Deno.mkdir(dirname(path), { recursive: true });
  let tookOver: LockOwner | undefined;
  for (let attempt = 0; attempt < 4; attempt++) {
    if (await createExclusive(path, JSON.stringify(owner))) {
      return { claim: holdClaim(path, owner, options.heartbeatMs ?? HEARTBEAT_MS), tookOver };
    }
    const held = await readLock(path);
    if (held === "gone") continue; // released meanwhile: try again
    if (!isStale(held, staleMs)) return { heldBy: held.owner };
    if (!await breakStale(path, held, staleMs)) return { heldBy: held.owner };
    tookOver = held.owner;
  }
  return { heldBy: undefined };
}

/** Reads a lock file's owner and age; "gone" when there is no lock file. */
export async function readLock(
  path: string,
): Promise<{ owner: LockOwner | undefined; text: string; mtime: number } | "gone"> {
  let text: string;
  let mtime: number;
  try {
    text = await Deno.readTextFile(path);
    mtime = (await Deno.stat(path)).mtime?.getTime() ?? Date.now();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "gone";
    throw error;
  }
  return { owner: parseOwner(text), text, mtime };
}

/** Whether a lock is stale: a dead owner on this host, or no heartbeat for `staleMs`. */
export function isStale(
  lock: { owner: LockOwner | undefined; mtime: number },
  staleMs: number = STALE_MS,
): boolean {
  const { owner } = lock;
  if (owner && owner.host === hostTag() && isProcessAlive(owner.pid) === false) return true;
  return Date.now() - lock.mtime > staleMs;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text);
    if (typeof value?.host === "string" && Number.isInteger(value?.pid)) return value;
  } catch { /* a damaged lock file: judged by its age alone */ }
  return undefined;
}

/** Creates `path` holding `text` only if it does not exist (hard link of a complete file). */
async function createExclusive(path: string, text: string): Promise<boolean> {
  const temp = tempPathFor(path);
  await Deno.writeTextFile(temp, text, { createNew: true });
  try {
    await Deno.link(temp, path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    // A filesystem without hard links: exclusive create (a reader may briefly see it empty).
    try {
      await Deno.writeTextFile(path, text, { createNew: true });
      return true;
    } catch (second) {
      if (second instanceof Deno.errors.AlreadyExists) return false;
      throw error;
    }
  } finally {
    await Deno.remove(temp).catch(() => {});
  }
}

/**
 * Removes a stale lock, under a breaker lock so that of several runs that found it stale only
 * one removes it (and never a fresh lock another one created meanwhile).
 */
async function breakStale(
  path: string,
  seen: { text: string },
  staleMs: number,
): Promise<boolean> {
  const breaker = `${path}.break`;
  if (!await createExclusive(breaker, JSON.stringify(newOwner()))) {
    const info = await Deno.stat(breaker).catch(() => undefined);
    const age = Date.now() - (info?.mtime?.getTime() ?? Date.now());
    if (age > BREAKER_STALE_MS) await Deno.remove(breaker).catch(() => {});
    return false;
  }
  try {
    const now = await readLock(path);
    if (now === "gone") return true;
    if (now.text !== seen.text || !isStale(now, staleMs)) return false;
    await Deno.remove(path).catch(() => {});
    return true;
  } finally {
    await Deno.remove(breaker).catch(() => {});
  }
}

function holdClaim(path: string, owner: LockOwner, heartbeatMs: number): Claim {
  const text = JSON.stringify(owner);
  let lost = false;
  let beating: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    beating = (async () => {
      const now = await readLock(path).catch(() => "gone" as const);
      if (now === "gone" || now.text !== text) {
        lost = true;
        return;
      }
      const time = new Date();
      await Deno.utime(path, time, time).catch(() => {});
    })();
  }, heartbeatMs);
  Deno.unrefTimer(timer);
  return {
    path,
    owner,
    get lost() {
      return lost;
    },
    async release() {
      clearInterval(timer);
      await beating;
      const now = await readLock(path).catch(() => "gone" as const);
      if (now !== "gone" && now.text === text) await Deno.remove(path).catch(() => {});
    },
  };
}

function randomId(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(6)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}
