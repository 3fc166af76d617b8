/**
 * A throwaway `redis-server` for the queue tests: Debian's binary on 127.0.0.1 with a free port,
 * persistence off (`--save "" --appendonly no`) unless asked for, in a temp folder, stopped (and
 * the folder removed) by `stop()`. Every step is bounded in time; when redis-server is not
 * installed the test fails with a message naming the package (`deno task test` installs it via
 * scripts/test_deps.ts).
 */
import { join } from "node:path";

/** A running redis-server owned by one test. */
export interface TestRedis {
  readonly port: number;
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string;
  /** Its working folder (the AOF lives here when persistent). */
  readonly dir: string;
  /** Stops it with SIGKILL (no save), then starts it again on the same port and folder. */
  restart(options?: { downMs?: number }): Promise<void>;
  /** Stops it at once (SIGKILL); `restart` brings it back. */
  kill(): Promise<void>;
  /** Stops it and removes its folder. */
  stop(): Promise<void>;
}

/** Options of {@link startRedis}. */
export interface RedisOptions {
  /** Keep data across a restart: append-only file, fsync on every write. Default false. */
  readonly persistent?: boolean;
}

const READY_MS = 10_000;

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function ping(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(new TextEncoder().encode("PING\r\n"));
      const buffer = new Uint8Array(64);
      const n = await conn.read(buffer);
      return n !== null && new TextDecoder().decode(buffer.subarray(0, n)).startsWith("+PONG");
    } finally {
      conn.close();
    }
  } catch {
    return false;
  }
}

function spawn(port: number, dir: string, persistent: boolean): Deno.ChildProcess {
  const args = [
    "--bind",
    "127.0.0.1",
    "--port",
    String(port),
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    persistent ? "yes" : "no",
    ...(persistent ? ["--appendfsync", "always"] : []),
    "--protected-mode",
    "yes",
    "--loglevel",
    "warning",
  ];
  try {
    return new Deno.Command("redis-server", {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        "redis-server is not installed: install the Debian package redis-server " +
          "(apt-get install redis-server; `deno task test` does it via scripts/test_deps.ts)",
      );
    }
    throw error;
  }
}

async function waitReady(port: number, child: Deno.ChildProcess): Promise<void> {
  let exited = false;
  child.status.then(() => exited = true);
  const until = Date.now() + READY_MS;
  while (!(await ping(port))) {
    if (exited) throw new Error(`redis-server on port ${port} exited at start`);
    if (Date.now() > until) {
      throw new Error(`redis-server on port ${port} not ready in ${READY_MS} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Starts a redis-server for one test. */
export async function startRedis(options: RedisOptions = {}): Promise<TestRedis> {
  const persistent = options.persistent ?? false;
  const dir = await Deno.makeTempDir({ prefix: "dipline-redis-" });
  const port = freePort();
  let child: Deno.ChildProcess | undefined = spawn(port, dir, persistent);
  try {
    await waitReady(port, child);
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  const kill = async () => {
    if (child === undefined) return;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    child = undefined;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir: join(dir),
    kill,
    async restart({ downMs = 0 } = {}) {
      await kill();
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      child = spawn(port, dir, persistent);
      await waitReady(port, child);
    },
    async stop() {
      await kill();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
