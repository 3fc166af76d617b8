/**
 * The files in deploy/ are parsed, and the `dipline` command each runs is checked against the
 * CLI's own flags (read from the command's `--help` text, so a renamed or removed flag fails
 * here), with `--shard auto` resolved as each cluster would set its variables.
 */
import assert from "node:assert/strict";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { parse as parseYaml } from "yaml";
import { COMMANDS } from "../cli.ts";
import { ENGINES } from "../dip/options.ts";
import { parseShard } from "../pipeline/sources.ts";
import { parseRedisUrl } from "../service/redis_url.ts";

const DEPLOY = new URL("../deploy/", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, DEPLOY));

/** The flags a command's help lists: `--name VALUE` takes a value, `--name` alone does not. */
export function flagsFromUsage(usage: string): ParseArgsOptionsConfig {
  const options: ParseArgsOptionsConfig = {};
  for (const match of usage.matchAll(/^\s{2,}--([a-z][a-z0-9-]*)(?: (\S+))?(?:\s{2,}|$)/gm)) {
    options[match[1]!] = { type: match[2] === undefined ? "boolean" : "string" };
  }
  return options;
}

/**
 * Checks `dipline <command> …args` against the command's flags; returns the parsed values and
 * positionals.
 */
function checkCommand(args: string[], positionals?: number) {
  const [name, ...rest] = args;
  const command = COMMANDS.find((c) => c.name === name);
  assert.ok(command, `no dipline command ${name}`);
  const parsed = parseArgs({
    args: rest,
    options: flagsFromUsage(command.usage),
    strict: true,
    allowPositionals: true,
  });
  if (positionals !== undefined) {
    assert.equal(parsed.positionals.length, positionals, `${name}: ${parsed.positionals}`);
  }
  const engine = parsed.values.engine;
  if (engine !== undefined) {
    assert.ok((ENGINES as readonly unknown[]).includes(engine), `${engine}`);
  }
  return parsed;
}

/** The arguments after `cli.ts` in a `deno run … cli.ts …` command line. */
function dipline(words: readonly string[]): string[] {
  const at = words.findIndex((word) => word.endsWith("cli.ts"));
  const runner = words.slice(0, at);
  assert.ok(
    at > 0 && runner.some((word) => word.split("/").pop() === "deno") && runner.includes("run"),
    `not a dipline command: ${words}`,
  );
  return words.slice(at + 1);
}

/** Shell words of one command line: quotes removed, variables left as they are. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const match of line.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)) {
    words.push(match[1] ?? match[2] ?? match[3]!);
  }
  return words;
}

/** A systemd unit as sections of key → values. */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const sections: Record<string, Record<string, string[]>> = {};
  let section: Record<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = sections[header[1]!] = {};
      continue;
    }
    const entry = /^(\w+)=(.*)$/.exec(line);
    assert.ok(entry && section, `not a unit line: ${line}`);
    (section[entry[1]!] ??= []).push(entry[2]!);
  }
  return sections;
}

Deno.test("deploy/k8s: an Indexed Job of GPU pods on the Deno image and the shared volume runs run --shard auto", async () => {
  const job = parseYaml(await read("k8s/restore-job.yaml"));
  assert.equal(job.apiVersion, "batch/v1");
  assert.equal(job.kind, "Job");
  assert.equal(job.spec.completionMode, "Indexed");
  const pod = job.spec.template.spec;
  assert.equal(pod.containers.length, 1);
  const container = pod.containers[0];
  assert.equal(container.image, "denoland/deno:2.9.6");
  assert.ok(Number(container.resources.limits["nvidia.com/gpu"]) >= 1, "a GPU per pod");
  const env = Object.fromEntries(
    container.env.map((e: { name: string; value: string }) => [e.name, e.value]),
  );
  assert.equal(Number(env.JOB_COMPLETIONS), job.spec.completions, "JOB_COMPLETIONS = completions");
  assert.ok(job.spec.parallelism <= job.spec.completions);

  const args = dipline(container.command);
  const { values, positionals } = checkCommand(args, 1);
  assert.equal(values.shard, "auto");
  for (let index = 0; index < job.spec.completions; index++) {
    const shard = parseShard(
      "auto",
      (name) => name === "JOB_COMPLETION_INDEX" ? String(index) : env[name],
    );
    assert.deepEqual(shard, { index, count: job.spec.completions });
  }
  // Every path the command names lies on a mounted volume.
  const mounts = container.volumeMounts.map((m: { mountPath: string }) => m.mountPath);
  const claimed = new Set(pod.volumes.map((v: { name: string }) => v.name));
  for (const mount of container.volumeMounts) assert.ok(claimed.has(mount.name));
  for (const path of [container.command[3], positionals[0], values.input, values.out]) {
    assert.ok(mounts.some((m: string) => String(path).startsWith(m + "/")), `${path} on a volume`);
  }
});

Deno.test("deploy/slurm: a GPU array task per shard runs run --shard auto", async () => {
  const text = await read("slurm/restore.sbatch");
  const check = await new Deno.Command("bash", {
    args: ["-n", new URL("slurm/restore.sbatch", DEPLOY).pathname],
  })
    .output();
  assert.ok(check.success, new TextDecoder().decode(check.stderr));
  const directives = Object.fromEntries(
    [...text.matchAll(/^#SBATCH --([a-z-]+)=(\S+)/gm)].map((m) => [m[1]!, m[2]!]),
  );
  assert.match(directives.gres!, /^gpu:\d+$/);
  const array = /^(\d+)-(\d+)$/.exec(directives.array!);
  assert.ok(array, `an array range: ${directives.array}`);
  const [min, max] = [Number(array[1]), Number(array[2])];
  const line = text.split("\n").find((l) => l.startsWith("srun "));
  assert.ok(line, "one srun line");
  const { values } = checkCommand(dipline(shellWords(line)), 1);
  assert.equal(values.shard, "auto");
  const count = max - min + 1;
  const indexes = [];
  for (let id = min; id <= max; id++) {
    const vars: Record<string, string> = {
      SLURM_ARRAY_TASK_ID: String(id),
      SLURM_ARRAY_TASK_MIN: String(min),
      SLURM_ARRAY_TASK_COUNT: String(count),
    };
    indexes.push(parseShard("auto", (name) => vars[name]).index);
  }
  assert.deepEqual(indexes, Array.from({ length: count }, (_, k) => k));
});

Deno.test("deploy/systemd: a oneshot restore service with its nightly timer, and a worker service", async () => {
  const service = parseUnit(await read("systemd/dipline-restore.service"));
  const timer = parseUnit(await read("systemd/dipline-restore.timer"));
  assert.equal(service.Service!.Type![0], "oneshot");
  const run = checkCommand(dipline(shellWords(service.Service!.ExecStart![0]!)), 1);
  assert.ok(run.values.input && run.values.out);
  assert.equal(timer.Timer!.Unit![0], "dipline-restore.service");
  assert.match(timer.Timer!.OnCalendar![0]!, /\d\d:\d\d/);
  assert.equal(timer.Install!.WantedBy![0], "timers.target");

  const worker = parseUnit(await read("systemd/dipline-worker.service"));
  const { values } = checkCommand(dipline(shellWords(worker.Service!.ExecStart![0]!)), 0);
  parseRedisUrl(String(values.queue));
  assert.ok(values.data, "a worker needs --data");
  assert.equal(worker.Service!.KillSignal![0], "SIGTERM");
  const grace = Number(/^(\d+)s$/.exec(String(values.grace))![1]);
  assert.ok(
    Number(worker.Service!.TimeoutStopSec![0]) > grace,
    "systemd waits longer than --grace",
  );
});

Deno.test("flagsFromUsage() reads value and boolean flags from a help text", () => {
  const flags = flagsFromUsage(
    "Options:\n  --input PATH    a file\n  --force         all\n  --stall-timeout DURATION\n",
  );
  assert.deepEqual(flags, {
    input: { type: "string" },
    force: { type: "boolean" },
    "stall-timeout": { type: "string" },
  });
});

Deno.test("README's Scaling out commands use flags their commands list", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const start = readme.indexOf("\n## Scaling out");
  assert.ok(start > 0, "README has a Scaling out section");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const lines = [...section.matchAll(/^```sh\n([\s\S]*?)^```/gm)]
    .flatMap((m) => m[1]!.split("\n"))
    .filter((line) => line.startsWith("deno task dipline "));
  assert.ok(lines.length >= 6);
  for (const line of lines) {
    const { values } = checkCommand(shellWords(line).slice(3));
    if (values.queue !== undefined) parseRedisUrl(String(values.queue));
  }
});
