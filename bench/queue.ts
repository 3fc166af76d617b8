/**
 * `deno task bench:queue`: the shared queue on loopback, bounded in count and time. It starts
 * its own `redis-server` (Debian's; 127.0.0.1, a free port, no persistence) and `dipline`
 * processes, and measures:
 *
 * 1. **Per-job queue overhead, Redis against the embedded store**: `--jobs` trivial jobs
 *    (degrade + save of a 16² card named by path) submitted by 8 clients to `dipline serve`
 *    (embedded: it runs them) and to `dipline serve --queue` + one `dipline worker`; the wall
 *    time less the jobs' own run time, per job, and jobs/s. One job at a time in both.
 * 2. **Worker death → restart elsewhere**: two `dipline worker --simulate` processes, one long
 *    job; the worker running it is killed with SIGKILL and the time until the other one starts
 *    it is taken, for each `--stall-timeouts` value (the worker's `--stall-timeout`).
 * 3. **`--hosts` simulated GPU hosts**: a folder of `--items` inputs of mixed sizes (PNG headers
 *    only: 60 % 0.25 MP, 30 % 2 MP, 10 % 12 MP, seeded), each "fitted" by sleeping in proportion
 *    to its pixels. Dynamic: `--hosts` `dipline worker --simulate` processes and one
 *    `dipline run --queue` batch; static: `--hosts` processes each sleeping through its
 *    `--shard i/n` (bench/queue_static_host.ts). Makespans against the ideal (total work /
 *    hosts); then both again with one host killed a third of the way in: the queue finishes the
 *    folder, static shards lose the dead host's remaining share.
 *
 * ```sh
 * deno task bench:queue
 * deno task bench:queue --jobs 200 --hosts 20 --items 200 --stall-timeouts 5s --json
 * ```
 *
 * Flags: `--jobs N` (1000), `--hosts N` (50), `--items N` (400), `--ideal S` (4: seconds of
 * ideal makespan the simulated work is scaled to), `--stall-timeouts LIST` (5s,30s),
 * `--only overhead|restart|hosts`, `--time-limit S` (900: everything is killed after that),
 * `--json`. Every process it started is killed at the end whatever happens.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encodeImage } from "../image/save.ts";
import { testCard } from "../image/testcard.ts";
import { parseShard, resolveInputs, takeShard } from "../pipeline/sources.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;
const STATIC_HOST = new URL("./queue_static_host.ts", import.meta.url).pathname;

const TRIVIAL_RECIPE = {
  version: 1,
  steps: [
    { op: "degrade", options: { noise: 25, seed: 1 } },
    { op: "save", options: { pattern: "{name}_noisy.png" } },
  ],
};

// ---------------------------------------------------------------------------------------------
// Processes

/** A child process whose output lines are kept and can be waited for. */
interface Child {
  readonly process: Deno.ChildProcess;
  readonly lines: string[];
  line(pattern: RegExp, timeoutMs?: number): Promise<string>;
  kill(signal?: Deno.Signal): void;
  readonly done: Promise<Deno.CommandStatus>;
}

const children = new Set<Child>();

function spawn(args: string[], options: { stdin?: boolean } = {}): Child {
  const process = new Deno.Command(Deno.execPath(), {
    args,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
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
  };
  const pumped = Promise.all([pump(process.stdout), pump(process.stderr)]);
  const done = process.status.then(async (status) => {
    await pumped;
    return status;
  });
  const child: Child = {
    process,
    lines,
    line(pattern, timeoutMs = 120_000) {
      const found = lines.find((line) => pattern.test(line));
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(new Error(`no line ${pattern} within ${timeoutMs} ms:\n${lines.join("\n")}`)),
          timeoutMs,
        );
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        done.then(() => {
          clearTimeout(timer);
          reject(new Error(`exited before ${pattern}:\n${lines.slice(-20).join("\n")}`));
        });
      });
    },
    kill(signal = "SIGKILL") {
      try {
        process.kill(signal);
      } catch { /* gone */ }
    },
    done,
  };
  children.add(child);
  done.then(() => children.delete(child));
  return child;
}

const cli = (...args: string[]) => spawn(["run", "-A", CLI, ...args]);

async function killAll(): Promise<void> {
  const all = [...children];
  for (const child of all) child.kill();
  await Promise.all(all.map((child) => child.done));
}

/** Debian's redis-server on 127.0.0.1 and a free port, no persistence, in a temp folder. */
async function startRedis(dir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  let process: Deno.ChildProcess;
  try {
    process = new Deno.Command("redis-server", {
      args: [
        "--bind",
        "127.0.0.1",
        "--port",
        String(port),
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        "no",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch {
    throw new Error("redis-server is not installed (Debian package redis-server)");
  }
  for (let k = 0; k < 200; k++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      try {
        process.kill("SIGKILL");
      } catch { /* gone */ }
      await process.status;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 1. Per-job overhead

interface OverheadResult {
  readonly store: string;
  readonly jobs: number;
  readonly wallS: number;
  readonly jobsPerS: number;
  readonly runMsMedian: number;
  readonly overheadMsPerJob: number;
}

interface JobViewLite {
  readonly id: string;
  readonly status: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly createdAt: string;
  readonly timings: { readonly runMs?: number };
}

async function allJobs(url: string): Promise<JobViewLite[]> {
  const jobs: JobViewLite[] = [];
  let cursor: string | undefined;
  do {
    const query = new URLSearchParams({ limit: "100", ...(cursor ? { cursor } : {}) });
    const page = await (await fetch(`${url}/v1/jobs?${query}`)).json();
    jobs.push(...page.jobs);
    cursor = page.next;
  } while (cursor);
  return jobs;
}

async function pending(url: string): Promise<boolean> {
  for (const status of ["queued", "running"]) {
    const page = await (await fetch(`${url}/v1/jobs?status=${status}&limit=1`)).json();
    if (page.jobs.length > 0) return true;
  }
  return false;
}

async function measureOverhead(store: string, url: string, count: number): Promise<OverheadResult> {
  const started = Date.now();
  let next = 0;
  const submitter = async () => {
    while (next < count) {
      next++;
      const response = await fetch(`${url}/v1/jobs`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ recipe: TRIVIAL_RECIPE, paths: ["card.png"] }),
      });
      if (response.status !== 201) {
        throw new Error(`submit: ${response.status} ${await response.text()}`);
      }
      await response.body?.cancel();
    }
  };
  await Promise.all(Array.from({ length: 8 }, submitter));
  while (await pending(url)) await new Promise((resolve) => setTimeout(resolve, 250));
  const jobs = await allJobs(url);
  const failed = jobs.filter((job) => job.status !== "succeeded");
  if (failed.length > 0) throw new Error(`${failed.length} of ${jobs.length} jobs did not succeed`);
  const end = Math.max(...jobs.map((job) => Date.parse(job.finishedAt!)));
  const runs = jobs.map((job) => job.timings.runMs ?? 0).sort((a, b) => a - b);
  const wall = end - started;
  const total = runs.reduce((sum, ms) => sum + ms, 0);
  return {
    store,
    jobs: jobs.length,
    wallS: wall / 1000,
    jobsPerS: jobs.length / (wall / 1000),
    runMsMedian: runs[Math.floor(runs.length / 2)]!,
    overheadMsPerJob: (wall - total) / jobs.length,
  };
}

async function overheadSection(dir: string, redisUrl: string, count: number) {
  const root = join(dir, "root");
  await Deno.mkdir(root, { recursive: true });
  await Deno.writeFile(
    join(root, "card.png"),
    await encodeImage(testCard(16, 16), { format: "png" }),
  );
  const results: OverheadResult[] = [];

  const embedded = cli("serve", "--port", "0", "--data", join(dir, "embedded"), "--root", root);
  const embeddedUrl = /listening on (\S+)/.exec(await embedded.line(/listening on/))![1]!;
  results.push(await measureOverhead("embedded (SQLite)", embeddedUrl, count));
  embedded.kill("SIGTERM");
  await embedded.done;

  const data = join(dir, "shared");
  const server = cli("serve", "--port", "0", "--data", data, "--root", root, "--queue", redisUrl);
  const serverUrl = /listening on (\S+)/.exec(await server.line(/listening on/))![1]!;
  const worker = cli("worker", "--queue", redisUrl, "--data", data, "--root", root);
  await worker.line(/dipline worker: \S+ on redis/);
  results.push(await measureOverhead("Redis (BullMQ), 1 worker", serverUrl, count));
  worker.kill("SIGTERM");
  server.kill("SIGTERM");
  await Promise.all([worker.done, server.done]);
  return results;
}

// ---------------------------------------------------------------------------------------------
// Simulated inputs

/** A PNG signature and IHDR claiming `width`×`height` (the simulated hosts read no more). */
function pngHeader(width: number, height: number): Uint8Array {
  const bytes = new Uint8Array(33);
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  const view = new DataView(bytes.buffer);
  view.setUint32(16, width);
  view.setUint32(20, height);
  bytes.set([8, 2, 0, 0, 0], 24);
  return bytes;
}

/** A small seeded generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes `count` inputs of mixed sizes; returns their megapixels in name order. */
async function writeMixedFolder(dir: string, count: number): Promise<number[]> {
  await Deno.mkdir(dir, { recursive: true });
  const next = random(11);
  const megapixels: number[] = [];
  for (let k = 0; k < count; k++) {
    const draw = next();
    const mp = draw < 0.6 ? 0.25 : draw < 0.9 ? 2 : 12;
    const width = Math.round(Math.sqrt(mp * 1e6 * 4 / 3));
    const height = Math.round(width * 3 / 4);
    await Deno.writeFile(
      join(dir, `img${String(k).padStart(4, "0")}.png`),
      pngHeader(width, height),
    );
    megapixels.push(width * height / 1e6);
  }
  return megapixels;
}

// ---------------------------------------------------------------------------------------------
// 2. Death → restart

async function restartSection(dir: string, redisUrl: string, stallTimeouts: string[]) {
  const results: { stallTimeout: string; restartS: number }[] = [];
  for (const [k, stall] of stallTimeouts.entries()) {
    const data = join(dir, `restart-${k}`);
    await Deno.mkdir(join(data, "in"), { recursive: true });
    await Deno.writeFile(join(data, "in", "long.png"), pngHeader(12_000, 10_000)); // 120 MP: 120 s
    await Deno.writeTextFile(join(dir, "trivial.json"), JSON.stringify(TRIVIAL_RECIPE));
    const name = `restart${k}`; // a database of its own per run: a fresh queue and binding
    const queue = `${redisUrl}/${k + 1}`;
    const workers = [0, 1].map(() =>
      cli(
        "worker",
        "--queue",
        queue,
        "--data",
        data,
        "--simulate",
        "1000",
        "--stall-timeout",
        stall,
      )
    );
    await Promise.all(workers.map((w) => w.line(/dipline worker: \S+ on redis/)));
    const run = cli(
      "run",
      join(dir, "trivial.json"),
      "--input",
      join(data, "in"),
      "--out",
      join(data, `out-${name}`),
      "--queue",
      queue,
      "--data",
      data,
      "--json",
    );
    const first = JSON.parse(await run.line(/"type":"job-running"/));
    const pid = Number(String(first.data.worker).split(":").pop());
    const victim = workers.find((w) => w.process.pid === pid)!;
    const killedAt = Date.now();
    victim.kill("SIGKILL");
    const runningLines = () => run.lines.filter((line) => line.includes('"type":"job-running"'));
    const until = Date.now() + 180_000;
    while (runningLines().length < 2) {
      if (Date.now() > until) throw new Error(`the job did not restart:\n${run.lines.join("\n")}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const again = JSON.parse(runningLines()[1]!);
    results.push({ stallTimeout: stall, restartS: (again.at - killedAt) / 1000 });
    for (const child of [run, ...workers]) child.kill();
    await Promise.all([run.done, ...workers.map((w) => w.done)]);
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// 3. Many simulated hosts

interface HostsResult {
  readonly hosts: number;
  readonly items: number;
  readonly workS: number;
  readonly idealS: number;
  readonly largestItemS: number;
  readonly dynamicS: number;
  readonly staticS: number;
  readonly staticPredictedS: number;
  readonly dynamicWithDeathS: number;
  readonly staticLostItems: number;
  readonly staticLostWorkS: number;
}

async function dynamicMakespan(
  dir: string,
  data: string,
  queue: string,
  out: string,
  workers: Child[],
  killAfterMs?: number,
): Promise<number> {
  const run = cli(
    "run",
    join(dir, "trivial.json"),
    "--input",
    join(data, "in"),
    "--out",
    join(data, out),
    "--queue",
    queue,
    "--data",
    data,
    "--json",
  );
  if (killAfterMs !== undefined) {
    setTimeout(() => {
      const running = run.lines.filter((l) => l.includes('"type":"job-running"')).at(-1);
      if (running === undefined) return;
      const pid = Number(String(JSON.parse(running).data.worker).split(":").pop());
      workers.find((w) => w.process.pid === pid)?.kill("SIGKILL");
    }, killAfterMs);
  }
  const status = await run.done;
  if (!status.success) throw new Error(`run --queue failed:\n${run.lines.slice(-20).join("\n")}`);
  const events = run.lines.filter((l) => l.startsWith("{") && l.includes('"batch"')).map((l) =>
    JSON.parse(l)
  );
  const begin = events.find((e) => e.type === "batch").createdAt;
  const end = Math.max(...events.filter((e) => e.type === "job-succeeded").map((e) => e.at));
  return (end - begin) / 1000;
}

async function staticMakespan(data: string, hosts: number, msPerMp: number): Promise<number> {
  const shards = Array.from({ length: hosts }, (_, i) =>
    spawn(
      [
        "run",
        "-A",
        STATIC_HOST,
        "--input",
        join(data, "in"),
        "--shard",
        `${i}/${hosts}`,
        "--ms-per-mp",
        String(msPerMp),
      ],
      { stdin: true },
    ));
  await Promise.all(shards.map((s) => s.line(/^ready$/)));
  const go = Date.now();
  const line = new TextEncoder().encode("go\n");
  await Promise.all(shards.map(async (s) => {
    const writer = s.process.stdin.getWriter();
    await writer.write(line);
    await writer.close();
  }));
  const ends = await Promise.all(
    shards.map(async (s) => JSON.parse(await s.line(/"endAt"/)).endAt),
  );
  await Promise.all(shards.map((s) => s.done));
  return (Math.max(...ends) - go) / 1000;
}

async function hostsSection(
  dir: string,
  redisUrl: string,
  hosts: number,
  items: number,
  idealS: number,
): Promise<HostsResult> {
  const data = join(dir, "hosts");
  const megapixels = await writeMixedFolder(join(data, "in"), items);
  const totalMp = megapixels.reduce((sum, mp) => sum + mp, 0);
  const msPerMp = Math.round(idealS * 1000 * hosts / totalMp);
  const seconds = megapixels.map((mp) => mp * msPerMp / 1000);
  const work = seconds.reduce((sum, s) => sum + s, 0);
  const list = await resolveInputs(join(data, "in"));
  const shardWork = Array.from({ length: hosts }, (_, i) => {
    const mine = new Set(takeShard(list, parseShard(`${i}/${hosts}`)).map((item) => item.name));
    return list.map((item, k) => (mine.has(item.name) ? seconds[k]! : 0));
  });
  const staticPredicted = Math.max(...shardWork.map((w) => w.reduce((a, b) => a + b, 0)));

  const queue = `${redisUrl}/9`;
  const workers = Array.from(
    { length: hosts },
    () =>
      cli(
        "worker",
        "--queue",
        queue,
        "--data",
        data,
        "--simulate",
        String(msPerMp),
        "--stall-timeout",
        "5s",
      ),
  );
  await Promise.all(workers.map((w) => w.line(/dipline worker: \S+ on redis/, 300_000)));
  const dynamic = await dynamicMakespan(dir, data, queue, "out-a", workers);
  const dynamicWithDeath = await dynamicMakespan(
    dir,
    data,
    queue,
    "out-b",
    workers,
    (dynamic * 1000) / 3,
  );
  for (const worker of workers) worker.kill();
  await Promise.all(workers.map((w) => w.done));

  const staticS = await staticMakespan(data, hosts, msPerMp);
  // Static shards with the busiest host dead a third of the way in: what it had not finished
  // is lost (until someone notices and runs its shard again).
  const deathAt = staticS / 3;
  const sums = shardWork.map((w) => w.reduce((a, b) => a + b, 0));
  const busiest = sums.indexOf(Math.max(...sums));
  let elapsed = 0;
  let lostItems = 0;
  let lostWork = 0;
  for (const s of shardWork[busiest]!.filter((w) => w > 0)) {
    if (elapsed + s > deathAt) {
      lostItems++;
      lostWork += s;
    }
    elapsed += s;
  }
  return {
    hosts,
    items,
    workS: work,
    idealS: work / hosts,
    largestItemS: Math.max(...seconds),
    dynamicS: dynamic,
    staticS,
    staticPredictedS: staticPredicted,
    dynamicWithDeathS: dynamicWithDeath,
    staticLostItems: lostItems,
    staticLostWorkS: lostWork,
  };
}

// ---------------------------------------------------------------------------------------------

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      jobs: { type: "string", default: "1000" },
      hosts: { type: "string", default: "50" },
      items: { type: "string", default: "400" },
      ideal: { type: "string", default: "4" },
      "stall-timeouts": { type: "string", default: "5s,30s" },
      only: { type: "string" },
      "time-limit": { type: "string", default: "900" },
      json: { type: "boolean", default: false },
    },
  });
  const dir = await Deno.makeTempDir({ prefix: "dipline-bench-queue-" });
  const limit = setTimeout(async () => {
    console.error(`bench:queue: time limit of ${values["time-limit"]} s reached; stopping`);
    await killAll();
    Deno.exit(1);
  }, Number(values["time-limit"]) * 1000);
  await Deno.writeTextFile(join(dir, "trivial.json"), JSON.stringify(TRIVIAL_RECIPE));
  const redis = await startRedis(dir);
  const report: Record<string, unknown> = {};
  const want = (part: string) => values.only === undefined || values.only === part;
  const say = (text: string) => !values.json && console.log(text);
  try {
    if (want("overhead")) {
      const rows = await overheadSection(dir, redis.url, Number(values.jobs));
      report.overhead = rows;
      say(`\nPer-job queue overhead (${values.jobs} trivial jobs, one at a time):`);
      for (const r of rows) {
        say(
          `  ${r.store.padEnd(26)} ${r.wallS.toFixed(1).padStart(6)} s  ${
            r.jobsPerS.toFixed(1).padStart(6)
          } jobs/s  run ${r.runMsMedian.toFixed(0)} ms (median)  overhead ${
            r.overheadMsPerJob.toFixed(1)
          } ms/job`,
        );
      }
    }
    if (want("restart")) {
      const rows = await restartSection(dir, redis.url, values["stall-timeouts"].split(","));
      report.restart = rows;
      say("\nWorker killed (SIGKILL) → its job started on another worker:");
      for (const r of rows) {
        say(`  --stall-timeout ${r.stallTimeout.padEnd(5)} ${r.restartS.toFixed(1)} s`);
      }
    }
    if (want("hosts")) {
      const r = await hostsSection(
        dir,
        redis.url,
        Number(values.hosts),
        Number(values.items),
        Number(values.ideal),
      );
      report.hosts = r;
      say(
        `\n${r.hosts} simulated hosts, ${r.items} inputs of mixed sizes (${
          r.workS.toFixed(0)
        } s of work):`,
      );
      say(
        `  ideal (work / hosts)          ${r.idealS.toFixed(1)} s; largest input ${
          r.largestItemS.toFixed(1)
        } s`,
      );
      say(`  dynamic (Redis queue)         ${r.dynamicS.toFixed(1)} s`);
      say(
        `  static --shard i/n            ${r.staticS.toFixed(1)} s (predicted ${
          r.staticPredictedS.toFixed(1)
        } s)`,
      );
      say(
        `  one host killed at 1/3:  queue ${
          r.dynamicWithDeathS.toFixed(1)
        } s, all done; static loses ${r.staticLostItems} inputs (${
          r.staticLostWorkS.toFixed(1)
        } s of work)`,
      );
    }
    if (values.json) console.log(JSON.stringify(report));
  } finally {
    clearTimeout(limit);
    await killAll();
    await redis.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
