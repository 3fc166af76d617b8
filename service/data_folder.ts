/**
 * The data folder every host of a Redis queue shares: inputs, outputs and the service's job
 * folders live there (a shared filesystem: NFS, CephFS, a cloud file share), each host mounting
 * it wherever it likes. The first command that uses a queue binds it to its `--data` folder: a
 * marker file `.dipline-data.json` with a random id goes into the folder and the id into Redis
 * (`dipline:data`). Every later command (`serve`, `worker`, `run --queue`, `schedule`) checks
 * that its `--data` holds the same id, and refuses to start otherwise — a worker writing to a
 * local disk that no other host sees would "finish" jobs whose outputs nobody can read.
 *
 * @module
 */
import { join } from "node:path";
import type { Redis } from "ioredis";
import { UsageError } from "../core/errors.ts";
import { workerTag } from "./redis_queue.ts";

/** The marker file in a data folder. */
export const DATA_MARKER = ".dipline-data.json";

/** The Redis key of the bound folder's identity. */
const DATA_KEY = "dipline:data";

/** Who made a data folder, as the marker and Redis hold it. */
export interface DataFolderIdentity {
  /** Random; the same on every host that mounts the folder. */
  readonly id: string;
  /** `host:pid` of the command that bound it, and its path there. */
  readonly host: string;
  readonly path: string;
  readonly createdAt: string;
}

async function readMarker(dir: string): Promise<DataFolderIdentity | undefined> {
  try {
    const parsed = JSON.parse(await Deno.readTextFile(join(dir, DATA_MARKER)));
    return typeof parsed?.id === "string" ? parsed as DataFolderIdentity : undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** Writes the marker unless one exists (then returns that one). */
async function ensureMarker(dir: string): Promise<DataFolderIdentity> {
  const existing = await readMarker(dir);
  if (existing !== undefined) return existing;
  const identity: DataFolderIdentity = {
    id: crypto.randomUUID(),
    host: workerTag(),
    path: dir,
    createdAt: new Date().toISOString(),
  };
  try {
    await Deno.writeTextFile(join(dir, DATA_MARKER), JSON.stringify(identity, null, 2) + "\n", {
      createNew: true,
    });
    return identity;
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    return (await readMarker(dir)) ?? identity; // another process wrote it first
  }
}

/** The real path of `path`, which must be a folder. */
export async function realFolder(path: string, who: string, flag = "--data"): Promise<string> {
  try {
    const real = await Deno.realPath(path);
    if ((await Deno.stat(real)).isDirectory) return real;
  } catch { /* reported below */ }
  throw new UsageError(`${who}: ${flag} ${path} is not a folder`);
}

/**
 * Binds the queue's Redis to the data folder `dir` (a real path) on first use, and checks it on
 * every later one.
 *
 * @throws {UsageError} when `dir` is not the folder the queue was bound to
 */
export async function bindDataFolder(
  redis: Redis,
  dir: string,
  who: string,
  shownUrl: string,
): Promise<DataFolderIdentity> {
  let recorded = await redis.hgetall(DATA_KEY) as Partial<DataFolderIdentity>;
  const marker = await readMarker(dir);
  if (recorded.id === undefined) {
    const mine = marker ?? await ensureMarker(dir);
    if (await redis.hsetnx(DATA_KEY, "id", mine.id) === 1) {
      await redis.hset(DATA_KEY, { host: mine.host, path: mine.path, createdAt: mine.createdAt });
      return mine;
    }
    recorded = await redis.hgetall(DATA_KEY) as Partial<DataFolderIdentity>; // lost a race
  }
  const have = marker ?? await readMarker(dir);
  if (have !== undefined && have.id === recorded.id) return have;
  const where = `${recorded.path ?? "?"} on ${recorded.host ?? "?"}`;
  const found = have === undefined
    ? `it has no ${DATA_MARKER}`
    : `its ${DATA_MARKER} belongs to another queue (${have.id.slice(0, 8)})`;
  throw new UsageError(
    `${who}: --data ${dir} is not the data folder of the queue at ${shownUrl} ` +
      `(${recorded.id!.slice(0, 8)}, made at ${where}); ${found}. Inputs and outputs live on ` +
      `storage every host sees: mount that folder here and pass it as --data`,
  );
}
