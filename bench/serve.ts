/**
 * `deno task bench:serve`: the restoration service under load, on loopback only, bounded in
 * count and time. It starts `dipline serve` as a child process (a fresh `--data` in a temp
 * folder) and measures:
 *
 * 1. **API latency while a fit runs**: one long fit (cpu engine) is running; `--clients`
 *    concurrent clients each do `--rounds` rounds of submit (POST /v1/jobs) → status
 *    (GET /v1/jobs/{id}) → first SSE event (GET /v1/jobs/{id}/events); p50/p99 of each leg.
 * 2. **Queue throughput**: `--jobs` trivial jobs (degrade + save of a 16² image given by path)
 *    submitted by 8 clients at once, timed until the last one succeeded: jobs/s, and the queue's
 *    overhead per job (wall time less the jobs' own run time, per job).
 * 3. **Memory**: the server's resident set (VmRSS) after start, and after all the jobs above
 *    (`--jobs` + `--clients` × `--rounds` jobs), plus the database and data folder sizes.
 *
 * ```sh
 * deno task bench:serve                      # 50 clients × 4 rounds, 1,000 jobs
 * deno task bench:serve --jobs 200 --json
 * ```
 *
 * Flags: `--clients N` (50), `--rounds N` (4), `--jobs N` (1000), `--fit-size N` (32, the
 * running fit's image), `--time-limit S` (300: the whole run is stopped after that), `--json`.
 * The server is killed at the end whatever happens.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encodeImage } from "../image/save.ts";
import { testCard } from "../image/testcard.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

const TRIVIAL_RECIPE = {
  version: 1,
  steps: [
    { op: "degrade", options: { noise: 25, seed: 1 } },
    { op: "save", options: { pattern: "{name}_noisy.png" } },
  ],
};

const LONG_FIT_RECIPE = {
  version: 1,
  steps: [
    { op: "degrade", options: { noise: 25, seed: 1 } },
    {
      op: "dipFit",
      options: {
        task: "denoise",
        iterations: 1_000_000,
        checkEvery: 25,
        engine: "cpu",
        threads: 1,
        net: { channelsDown: [16, 16, 16], channelsUp: [16, 16, 16], channelsSkip: [4, 4, 4] },
      },
    },
    { op: "save", options: { pattern: "{name}_restored.png" } },
  ],
};

/** The p-th percentile (0–100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Resident set size of a process in MiB (Linux /proc). */
async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1]);
  return kb / 1024;
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) total += await folderBytes(path);
    else if (entry.isFile) total += (await Deno.stat(path)).size;
  }
  return total;
}

interface Api {
  readonly url: string;
  json<T>(path: string, init?: RequestInit): Promise<T>;
}

function api(url: string, signal: AbortSignal): Api {
  return {
    url,
    async json<T>(path: string, init: RequestInit = {}): Promise<T> {
      const response = await fetch(`${url}${path}`, { ...init, signal });
      const body = await response.json();
      if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${JSON.stringify(body)}`);
      return body as T;
    },
  };
}

const post = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

/** Milliseconds until the first `data:` line of the job's event stream. */
async function firstEvent(url: string, id: string, signal: AbortSignal): Promise<string> {
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  signal.addEventListener("abort", onAbort);
  try {
    const response = await fetch(`${url}/v1/jobs/${id}/events`, { signal: controller.signal });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!/^data: .*$/m.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    return /^data: (.*)$/m.exec(text)?.[1] ?? "";
  } finally {
    controller.abort();
    signal.removeEventListener("abort", onAbort);
  }
}

async function waitIdle(server: Api, signal: AbortSignal): Promise<void> {
  for (;;) {
    signal.throwIfAborted();
    const queued = await server.json<{ jobs: unknown[] }>("/v1/jobs?status=queued&limit=1");
    const running = await server.json<{ jobs: unknown[] }>("/v1/jobs?status=running&limit=1");
    if (queued.jobs.length === 0 && running.jobs.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs `count` tasks, `width` at a time. */
async function pool(count: number, width: number, task: (k: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      clients: { type: "string", default: "50" },
      rounds: { type: "string", default: "4" },
      jobs: { type: "string", default: "1000" },
      "fit-size": { type: "string", default: "32" },
      "time-limit": { type: "string", default: "300" },
      json: { type: "boolean", default: false },
    },
  });
  const clients = Number(values.clients);
  const rounds = Number(values.rounds);
  const jobs = Number(values.jobs);
  const fitSize = Number(values["fit-size"]);
  const signal = AbortSignal.timeout(Number(values["time-limit"]) * 1000);
  const log = (line: string) => console.error(line);

  const dir = await Deno.makeTempDir({ prefix: "dipline-bench-serve-" });
  const data = join(dir, "data");
  const root = join(dir, "root");
  await Deno.mkdir(root);
  await Deno.writeFile(
    join(root, "card.png"),
    await encodeImage(testCard(16, 16), { format: "png" }),
  );
  await Deno.writeFile(
    join(root, "fit.png"),
    await encodeImage(testCard(fitSize, fitSize), { format: "png" }),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "serve", "--port", "0", "--data", data, "--root", root],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
    signal,
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let first = "";
    while (!first.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the server exited: ${first}`);
      first += value;
    }
    void (async () => {
      while (!(await reader.read().catch(() => ({ done: true }))).done) { /* drain */ }
    })();
    const url = /listening on (\S+)/.exec(first)![1]!;
    const server = api(url, signal);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const rssStart = await rssMiB(child.pid);
    log(`server ${url} (pid ${child.pid}), RSS ${rssStart.toFixed(1)} MiB at start`);

    // 1. Latency with a fit running.
    const fit = await server.json<{ id: string }>(
      "/v1/jobs",
      post({ recipe: LONG_FIT_RECIPE, paths: ["fit.png"] }),
    );
    const fitEvent = await (async () => {
      for (;;) {
        const job = await server.json<{ progress: { step?: number } }>(`/v1/jobs/${fit.id}`);
        if (job.progress.step !== undefined) return job.progress.step;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    log(`fit running (step ${fitEvent}); ${clients} clients × ${rounds} rounds`);
    const submitMs: number[] = [];
    const statusMs: number[] = [];
    const sseMs: number[] = [];
    const roundMs: number[] = [];
    const latencyStart = performance.now();
    await Promise.all(Array.from({ length: clients }, async () => {
      for (let r = 0; r < rounds; r++) {
        const t0 = performance.now();
        const job = await server.json<{ id: string }>(
          "/v1/jobs",
          post({ recipe: TRIVIAL_RECIPE, paths: ["card.png"] }),
        );
        const t1 = performance.now();
        await server.json(`/v1/jobs/${job.id}`);
        const t2 = performance.now();
        const event = await firstEvent(url, job.id, signal);
        const t3 = performance.now();
        if (!event.includes('"jobId"')) throw new Error(`unexpected first event ${event}`);
        submitMs.push(t1 - t0);
        statusMs.push(t2 - t1);
        sseMs.push(t3 - t2);
        roundMs.push(t3 - t0);
      }
    }));
    const latencyWall = performance.now() - latencyStart;
    const fitNow = await server.json<{ progress: { step?: number; stepsPerSecond?: number } }>(
      `/v1/jobs/${fit.id}`,
    );
    await server.json(`/v1/jobs/${fit.id}/cancel`, { method: "POST" });
    log(`latency done in ${(latencyWall / 1000).toFixed(1)} s; draining the queued jobs`);
    await waitIdle(server, signal);

    // 2. Throughput of trivial jobs.
    const ids: string[] = [];
    const throughputStart = performance.now();
    await pool(jobs, 8, async () => {
      const job = await server.json<{ id: string }>(
        "/v1/jobs",
        post({ recipe: TRIVIAL_RECIPE, paths: ["card.png"] }),
      );
      ids.push(job.id);
    });
    const submittedMs = performance.now() - throughputStart;
    await waitIdle(server, signal);
    const throughputWall = performance.now() - throughputStart;
    let runMsTotal = 0;
    let succeeded = 0;
    let cursor: string | undefined;
    const wanted = new Set(ids);
    do {
      const page: {
        jobs: { id: string; status: string; timings: { runMs?: number } }[];
        next?: string;
      } = await server.json(`/v1/jobs?limit=100${cursor ? `&cursor=${cursor}` : ""}`);
      for (const job of page.jobs) {
        if (!wanted.has(job.id)) continue;
        if (job.status === "succeeded") succeeded++;
        runMsTotal += job.timings.runMs ?? 0;
      }
      cursor = page.next;
    } while (cursor !== undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const rssEnd = await rssMiB(child.pid);
    const dbBytes = (await Deno.stat(join(data, "queue.db"))).size +
      (await Deno.stat(join(data, "queue.db-wal")).catch(() => ({ size: 0 }))).size;
    const dataBytes = await folderBytes(data);

    const ms = (v: number) => Number(v.toFixed(1));
    const result = {
      machine: `${Deno.build.os} ${Deno.build.arch}, ${navigator.hardwareConcurrency} cores`,
      deno: Deno.version.deno,
      latency: {
        clients,
        rounds,
        samples: roundMs.length,
        fitStepsPerSecond: fitNow.progress.stepsPerSecond,
        submit: { p50: ms(percentile(submitMs, 50)), p99: ms(percentile(submitMs, 99)) },
        status: { p50: ms(percentile(statusMs, 50)), p99: ms(percentile(statusMs, 99)) },
        sseFirstEvent: { p50: ms(percentile(sseMs, 50)), p99: ms(percentile(sseMs, 99)) },
        round: { p50: ms(percentile(roundMs, 50)), p99: ms(percentile(roundMs, 99)) },
        requestsPerSecond: Number(((roundMs.length * 3) / (latencyWall / 1000)).toFixed(0)),
      },
      throughput: {
        jobs,
        succeeded,
        submitSeconds: Number((submittedMs / 1000).toFixed(2)),
        wallSeconds: Number((throughputWall / 1000).toFixed(2)),
        jobsPerSecond: Number((jobs / (throughputWall / 1000)).toFixed(1)),
        runMsPerJob: ms(runMsTotal / jobs),
        overheadMsPerJob: ms((throughputWall - runMsTotal) / jobs),
      },
      memory: {
        rssStartMiB: ms(rssStart),
        rssAfterJobsMiB: ms(rssEnd),
        jobsStored: jobs + roundMs.length + 1,
        databaseMiB: ms(dbBytes / 2 ** 20),
        dataFolderMiB: ms(dataBytes / 2 ** 20),
      },
    };
    if (values.json) console.log(JSON.stringify(result));
    else {
      const l = result.latency;
      const t = result.throughput;
      const m = result.memory;
      console.log(
        [
          `${result.machine}, Deno ${result.deno}`,
          `latency with a fit running (${l.clients} clients × ${l.rounds} rounds, fit at ${
            l.fitStepsPerSecond?.toFixed(0)
          } steps/s), ms p50 / p99:`,
          `  submit      ${l.submit.p50} / ${l.submit.p99}`,
          `  status      ${l.status.p50} / ${l.status.p99}`,
          `  SSE first   ${l.sseFirstEvent.p50} / ${l.sseFirstEvent.p99}`,
          `  round       ${l.round.p50} / ${l.round.p99}   (${l.requestsPerSecond} requests/s)`,
          `throughput: ${t.succeeded}/${t.jobs} trivial jobs in ${t.wallSeconds} s = ${t.jobsPerSecond} jobs/s ` +
          `(run ${t.runMsPerJob} ms/job, queue overhead ${t.overheadMsPerJob} ms/job)`,
          `memory: RSS ${m.rssStartMiB} MiB at start, ${m.rssAfterJobsMiB} MiB after ${m.jobsStored} jobs; ` +
          `database ${m.databaseMiB} MiB, data folder ${m.dataFolderMiB} MiB`,
        ].join("\n"),
      );
    }
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}
