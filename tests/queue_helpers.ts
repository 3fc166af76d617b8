/**
 * What the multi-host queue tests share: `dipline` subprocesses (a server, workers) whose output
 * is kept for the failure message, started once a line says they are ready, and always killed
 * at the end; tiny inputs on a shared data folder.
 */
import { join } from "node:path";
import { cardPng } from "./service_helpers.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** A `dipline` subprocess. */
export interface CliProcess {
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  /** Everything it printed so far (stdout and stderr interleaved by line). */
  output(): string;
  /** The first line matching `pattern`, once printed; rejects if the process exits first. */
  line(pattern: RegExp): Promise<string>;
  /** Resolves with the exit status. */
  readonly status: Promise<Deno.CommandStatus>;
  /** SIGKILL (if still running), then waits for it. */
  kill(): Promise<void>;
}

/** Starts `deno run -A cli.ts …args`. */
export function spawnCli(
  args: string[],
  options: { env?: Record<string, string> } = {},
): CliProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
  }).spawn();
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let exited = false;
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        for (const waiter of [...waiters]) {
          if (waiter.pattern.test(line)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(line);
          }
        }
      }
    }
    if (rest !== "") lines.push(rest);
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = (async () => {
    const result = await child.status;
    await pumped;
    exited = true;
    return result;
  })();
  return {
    child,
    pid: child.pid,
    output: () => lines.join("\n"),
    line(pattern) {
      const found = lines.find((line) => pattern.test(line));
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        status.then(() => {
          if (exited) {
            reject(new Error(`exited before printing ${pattern}:\n${lines.join("\n")}`));
          }
        });
      });
    },
    status,
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await status;
    },
  };
}

/** Starts `dipline serve --queue URL`; resolves with it and its URL once listening. */
export async function spawnServer(
  url: string,
  data: string,
  root: string,
): Promise<{ process: CliProcess; url: string }> {
  const process = spawnCli([
    "serve",
    "--port",
    "0",
    "--data",
    data,
    "--root",
    root,
    "--queue",
    url,
  ]);
  const line = await process.line(/listening on http/);
  return { process, url: /listening on (http:\/\/\S+)/.exec(line)![1]! };
}

/** Starts `dipline worker` (cpu engine, a 2 s stall timeout); resolves once it takes jobs. */
export async function spawnWorker(
  url: string,
  data: string,
  extra: string[] = [],
): Promise<CliProcess> {
  const process = spawnCli([
    "worker",
    "--queue",
    url,
    "--data",
    data,
    "--engine",
    "cpu",
    "--threads",
    "1",
    "--stall-timeout",
    "2s",
    ...extra,
  ]);
  await process.line(/dipline worker: \S+ on redis:/);
  return process;
}

/** Writes `names` as `size`² test-card PNGs into `dir` (created). */
export async function writeCards(dir: string, names: readonly string[], size = 24): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const bytes = await cardPng(size);
  for (const name of names) await Deno.writeFile(join(dir, `${name}.png`), bytes);
}

/** Every file under `dir`, relative, sorted. */
export async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const rel = prefix + entry.name;
    if (entry.isDirectory) out.push(...await listFiles(join(dir, entry.name), rel + "/"));
    else out.push(rel);
  }
  return out.sort();
}
