/**
 * WebGPU in a child process, for callers off the main thread (a `deno test` file, a Worker):
 * see engine/webgpu/main_thread.ts for the libEGL exit race this avoids. {@link HostProcess}
 * starts `deno run engine/webgpu/host.ts` and exchanges frames (engine/webgpu/wire.ts) with
 * it; {@link RemoteWebGpuTrainer} is a {@link WebGpuTrainer} whose calls run there, in order,
 * with the same checks and messages as the in-thread trainer.
 *
 * @module
 */
import type { StepScalars } from "../backend.ts";
import type { Arena, Plan, View } from "../plan.ts";
import type { WebGpuTrainer } from "./mod.ts";
import { ioView, uploadView } from "./checks.ts";
import { encodeFrame, FrameReader } from "./wire.ts";

export type { Arena, Plan, StepScalars, WebGpuTrainer };

/** What the host answers to a request. */
export type HostReply =
  | { readonly id: number; readonly ok: true; readonly value?: unknown }
  | { readonly id: number; readonly ok: false; readonly error: HostError };

/** An error the host caught, by name and message. */
export interface HostError {
  /** The error's name ("Error", "RangeError"…). */
  readonly name: string;
  /** Its message, as thrown there. */
  readonly message: string;
}

/** A request to the host: `op` with `args`, answered by a {@link HostReply} with the same id. */
export interface HostRequest {
  /** Matches the reply to the request (0: no reply expected). */
  readonly id: number;
  /** The trainer method, or "create" / "dispose". */
  readonly op: string;
  /** Its arguments (typed arrays travel as bytes). */
  readonly args: readonly unknown[];
}

/** The host module, started as the child's main module. */
const HOST_URL = new URL("./host.ts", import.meta.url).href;

/** Bytes of the host's stderr kept to explain an unexpected exit. */
const STDERR_TAIL = 4096;

/** Whether this process may start `deno` (the host) without a prompt. */
export function canStartHost(): boolean {
  try {
    return Deno.permissions.querySync({ name: "run", command: Deno.execPath() }).state ===
      "granted";
  } catch {
    return false;
  }
}

/** The `deno run` command line of the host in `mode`. */
function hostCommand(mode: "trainer" | "probe", stdin: "piped" | "null"): Deno.Command {
  // No permissions: WebGPU needs none, and the host reads nothing but its own modules.
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--no-prompt", "--no-config", HOST_URL, mode],
    stdin,
    stdout: "piped",
    stderr: "piped",
  });
}

/** Runs the host's one-shot probe and returns what it printed (JSON), or throws its error. */
export async function probeInHost(): Promise<unknown> {
  const { code, stdout, stderr } = await hostCommand("probe", "null").output();
  const text = new TextDecoder().decode(stdout).trim();
  if (code !== 0 || text === "") {
    throw new Error(
      `engine/webgpu: the WebGPU probe process failed (exit code ${code}): ${
        new TextDecoder().decode(stderr).trim().slice(-STDERR_TAIL)
      }`,
    );
  }
  return JSON.parse(text);
}

/** Turns a host error back into an Error of the same kind. */
function reviveError(error: HostError): Error {
  const Kind = error.name === "RangeError"
    ? RangeError
    : error.name === "TypeError"
    ? TypeError
    : Error;
  const revived = new Kind(error.message);
  if (Kind === Error && error.name !== "Error") revived.name = error.name;
  return revived;
}

/** One running host process and the requests waiting for its replies. */
export class HostProcess {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #frames: FrameReader;
  readonly #stderr: ReadableStreamDefaultReader<Uint8Array>;
  readonly #waiting = new Map<number, (reply: HostReply) => void>();
  #stderrTail = "";
  #nextId = 1;
  /** Why no more requests can be answered (the host ended, or close() was called). */
  #ended?: Error;

  /** Starts the host process (`deno run engine/webgpu/host.ts trainer`). */
  constructor() {
    this.#child = hostCommand("trainer", "piped").spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#frames = new FrameReader(this.#child.stdout);
    this.#stderr = this.#child.stderr.getReader();
    this.#readReplies();
    this.#readStderr();
  }

  async #readStderr(): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await this.#stderr.read();
        if (done) return;
        this.#stderrTail = (this.#stderrTail + decoder.decode(value)).slice(-STDERR_TAIL);
      }
    } catch {
      // cancelled by close()
    }
  }

  async #readReplies(): Promise<void> {
    try {
      for (;;) {
        const reply = await this.#frames.next() as HostReply | undefined;
        if (reply === undefined) break;
        const deliver = this.#waiting.get(reply.id);
        this.#waiting.delete(reply.id);
        deliver?.(reply);
      }
    } catch {
      // cancelled by close(), or the pipe broke: answered below
    }
    if (!this.#ended) {
      const status = await this.#child.status.catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 10)); // the last stderr bytes
      const detail = this.#stderrTail.trim();
      this.#end(
        new Error(
          `engine/webgpu: the WebGPU host process ended unexpectedly (exit code ${
            status?.code ?? "unknown"
          }${status?.signal ? `, signal ${status.signal}` : ""})${detail ? `: ${detail}` : ""}`,
        ),
      );
    }
  }

  /** Fails every waiting request with `reason`; later requests fail with it at once. */
  #end(reason: Error): void {
    this.#ended ??= reason;
    for (const deliver of this.#waiting.values()) {
      deliver({ id: 0, ok: false, error: { name: reason.name, message: reason.message } });
    }
    this.#waiting.clear();
  }

  /** Sends `op` and resolves with the host's reply (a failed reply resolves too). */
  request(op: string, args: readonly unknown[]): Promise<HostReply> {
    if (this.#ended) {
      const { name, message } = this.#ended;
      return Promise.resolve({ id: 0, ok: false, error: { name, message } });
    }
    const id = this.#nextId++;
    const reply = new Promise<HostReply>((resolve) => this.#waiting.set(id, resolve));
    const frame = encodeFrame({ id, op, args } satisfies HostRequest);
    // Writes queue in order on the writer; a broken pipe shows up as the host's exit.
    this.#writer.write(frame).catch(() => {});
    return reply;
  }

  /**
   * Asks the host to free its trainer and exit, and lets go of the process: nothing of it stays
   * pending here (the host exits by itself, on its main thread).
   */
  close(): void {
    if (this.#ended) return;
    this.#end(new Error("engine/webgpu: the trainer was disposed"));
    this.#writer.write(encodeFrame({ id: 0, op: "dispose", args: [] })).catch(() => {});
    this.#writer.close().catch(() => {});
    this.#frames.cancel().catch(() => {});
    this.#stderr.cancel().catch(() => {});
    this.#child.unref();
  }
}

/** What the host reports about the trainer it built. */
export interface RemoteTrainerInfo {
  /** The adapter's description. */
  readonly adapter: string;
  /** Seconds its pipelines took to compile. */
  readonly compileSeconds: number;
  /** Distinct pipelines. */
  readonly pipelineCount: number;
  /** Dispatches per training step. */
  readonly dispatchesPerStep: number;
}

/**
 * Builds `plan`'s trainer in a new host process (the same kernels, pipelines and buffers as
 * createWebGpuTrainer on the main thread) and returns its proxy.
 */
export async function createRemoteWebGpuTrainer(
  plan: Plan,
  options: { readonly tuning?: "software" | "hardware" },
): Promise<WebGpuTrainer> {
  const host = new HostProcess();
  const reply = await host.request("create", [plan, options]);
  if (!reply.ok) {
    host.close();
    throw reviveError(reply.error);
  }
  return new RemoteWebGpuTrainer(plan, host, reply.value as RemoteTrainerInfo);
}

/**
 * A {@link WebGpuTrainer} whose device lives in a host process. Calls are sent in order and run
 * there in order, so the queue semantics are the in-thread trainer's; the argument checks that
 * throw at once there throw at once here, and an error of a call nobody awaits (run, upload…)
 * is reported by the next awaited one.
 */
export class RemoteWebGpuTrainer implements WebGpuTrainer {
  readonly engine = "webgpu" as const;
  readonly adapter: string;
  readonly compileSeconds: number;
  readonly pipelineCount: number;
  readonly dispatchesPerStep: number;
  readonly #host: HostProcess;
  #failure?: Error;
  #hasSnapshot = false;
  #disposed = false;

  /** Wraps a host that has built `plan`'s trainer (see {@link createRemoteWebGpuTrainer}). */
  constructor(readonly plan: Plan, host: HostProcess, info: RemoteTrainerInfo) {
    this.#host = host;
    this.adapter = info.adapter;
    this.compileSeconds = info.compileSeconds;
    this.pipelineCount = info.pipelineCount;
    this.dispatchesPerStep = info.dispatchesPerStep;
  }

  /** Not available: the device is in the host process. */
  get device(): GPUDevice {
    throw new Error(
      "WebGpuTrainer.device: expected the device in this process but it lives in the WebGPU host process (WebGPU runs off the main thread only there)",
    );
  }

  /** Sends a call nobody awaits; its failure is kept for the next awaited call. */
  #send(op: string, args: readonly unknown[]): void {
    this.#host.request(op, args).then((reply) => {
      if (!reply.ok) this.#failure ??= reviveError(reply.error);
    });
  }

  /** Sends a call and resolves with its value (rejects after any earlier failure). */
  async #call<T>(op: string, args: readonly unknown[] = []): Promise<T> {
    const reply = await this.#host.request(op, args);
    if (this.#failure) throw this.#failure;
    if (!reply.ok) throw reviveError(reply.error);
    return reply.value as T;
  }

  #view(name: keyof Plan["io"], caller: string): View {
    return ioView(this.plan, name, caller);
  }

  reset(seeds: readonly number[]): Promise<void> {
    this.#hasSnapshot = false;
    return this.#call("reset", [[...seeds]]);
  }

  upload(name: "z0" | "target" | "mask", data: Float32Array): void {
    uploadView(this.plan, name, data);
    this.#send("upload", [name, data]);
  }

  setNoiseSeeds(seeds: readonly number[]): void {
    if (seeds.length !== this.plan.batch) {
      throw new RangeError(
        `WebGpuTrainer.setNoiseSeeds: expected ${this.plan.batch} seeds but received ${seeds.length}`,
      );
    }
    this.#send("setNoiseSeeds", [[...seeds]]);
  }

  run(count: number): void {
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(
        `WebGpuTrainer.run: expected a non-negative integer count but received ${count}`,
      );
    }
    if (count > 0) this.#send("run", [count]);
  }

  readScalars(): Promise<StepScalars> {
    return this.#call("readScalars");
  }

  read(name: "output" | "ema" | "best"): Promise<Float32Array> {
    this.#view(name, "read");
    return this.#call("read", [name]);
  }

  readParams(): Promise<Float32Array> {
    return this.#call("readParams");
  }

  readArena(name: Arena): Promise<Float32Array> {
    return this.#call("readArena", [name]);
  }

  writeArena(name: Arena, data: Float32Array, offset = 0): void {
    this.#send("writeArena", [name, data, offset]);
  }

  snapshot(): void {
    this.#hasSnapshot = true;
    this.#send("snapshot", []);
  }

  restore(): void {
    if (!this.#hasSnapshot) {
      throw new Error("WebGpuTrainer.restore: expected a snapshot() first but there is none");
    }
    this.#send("restore", []);
  }

  evaluate(): Promise<Float32Array> {
    return this.#call("evaluate");
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#host.close();
  }
}
