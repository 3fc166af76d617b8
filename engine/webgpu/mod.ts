/**
 * The WebGPU backend: a compiled {@link Plan} as WGSL kernels specialised per step, one
 * storage buffer per arena, one command buffer per `run(count)`. The step counter lives on the
 * device (advanced by a one-invocation kernel at the end of each step), so Adam's bias
 * correction, the EMA and the input noise need nothing from the CPU between steps; the only
 * readbacks are `readScalars()` (each `run` copies the scalars into a staging buffer in its own
 * submission; `readScalars` maps it) and `read()`, which queues a copy and maps it.
 *
 * @example
 * ```ts ignore
 * import { compilePlan } from "../compile.ts";
 * import { createWebGpuTrainer } from "./mod.ts";
 * const trainer = await createWebGpuTrainer(compilePlan(net, options));
 * await trainer.reset([1]);
 * trainer.upload("z0", z0);
 * trainer.upload("target", x0);
 * trainer.run(100);
 * console.log((await trainer.readScalars()).loss);
 * ```
 *
 * @module
 */
import type { StepScalars, Trainer } from "../backend.ts";
import { initParams } from "../init.ts";
import { type Arena, ARENAS, type Plan, type Step, type View } from "../plan.ts";
import {
  HARDWARE_TUNING,
  kernelsForStep,
  SOFTWARE_TUNING,
  stepCounterKernel,
  type Tuning,
} from "./kernels.ts";
import { ioView, uploadView } from "./checks.ts";
import { onMainThread } from "./main_thread.ts";
import { canStartHost, createRemoteWebGpuTrainer } from "./remote.ts";
import { type BufferName, CTRL_SEEDS, type Kernel } from "./wgsl.ts";

export type { Arena, Plan, StepScalars, Trainer };
export { onMainThread } from "./main_thread.ts";
export { probeWebGpu, type WebGpuProbe } from "./probe.ts";

/** Options of {@link createWebGpuTrainer}. */
export interface WebGpuTrainerOptions {
  /** The adapter to use (default: `navigator.gpu.requestAdapter()`). */
  readonly adapter?: GPUAdapter;
  /** A device to use instead of requesting one (its limits must fit the plan). */
  readonly device?: GPUDevice;
  /**
   * Kernel sizing: "software" (few large invocations, for llvmpipe) or "hardware" (many
   * invocations, wider reductions). Default: "software" on a fallback adapter, else "hardware".
   */
  readonly tuning?: "software" | "hardware";
  /**
   * Where the device lives: "thread" (this thread), "process" (a child `deno run` process, see
   * engine/webgpu/remote.ts) or "auto" (default: this thread on the main thread, a process off
   * it when `--allow-run` permits, since a thread that used WebGPU and ends while the process
   * exits can abort it; engine/webgpu/main_thread.ts says why). A given `adapter` or `device`
   * means this thread. A process-hosted trainer has no `device` property.
   */
  readonly placement?: "auto" | "thread" | "process";
}

/** A {@link Trainer} on WebGPU, with what its compilation cost. */
export interface WebGpuTrainer extends Trainer {
  /** The device the plan runs on. */
  readonly device: GPUDevice;
  /** Seconds spent creating all compute pipelines (in parallel). */
  readonly compileSeconds: number;
  /** Distinct pipelines (kernels with identical WGSL share one). */
  readonly pipelineCount: number;
  /** Dispatches per training step. */
  readonly dispatchesPerStep: number;
  /** Reads a whole arena (tests and debugging; waits for the queue). */
  readArena(name: Arena): Promise<Float32Array>;
  /** Overwrites an arena from float `offset` (tests and debugging). */
  writeArena(name: Arena, data: Float32Array, offset?: number): void;
}

/** A queued copy into a staging buffer: `total` floats, the buffer mapped over `size` bytes. */
interface StagingCopy {
  readonly staging: GPUBuffer;
  readonly total: number;
  readonly size: number;
}

interface Launch {
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly dispatch: readonly [number, number, number];
}

/** Describes an adapter as `description` or `vendor architecture`. */
function describeAdapter(adapter: GPUAdapter): string {
  const info = adapter.info;
  const text = info.description ||
    [info.vendor, info.architecture, info.device].filter(Boolean).join(" ");
  return text || "unknown WebGPU adapter";
}

/** Requests a device whose limits fit the largest buffer and the largest storage binding. */
async function checkedDevice(
  adapter: GPUAdapter,
  bufferBytes: number,
  bindingBytes: number,
): Promise<GPUDevice> {
  const limits = adapter.limits;
  const fail = (what: string, bytes: number, limit: number) =>
    new Error(
      `engine/webgpu: expected ${what} (${bytes} bytes) within the adapter's limit of ${limit} bytes but it is larger (use a smaller size or batch, or the cpu engine)`,
    );
  if (bufferBytes > limits.maxBufferSize) {
    throw fail("the largest arena", bufferBytes, limits.maxBufferSize);
  }
  if (bindingBytes > limits.maxStorageBufferBindingSize) {
    throw fail(
      "the largest range a kernel binds",
      bindingBytes,
      limits.maxStorageBufferBindingSize,
    );
  }
  // Ask for more than the defaults (256 MiB buffers, 128 MiB bindings) only when needed.
  const requiredLimits: Record<string, number> = {};
  if (bindingBytes > 134217728) {
    requiredLimits.maxStorageBufferBindingSize = limits.maxStorageBufferBindingSize;
  }
  if (bufferBytes > 268435456) requiredLimits.maxBufferSize = limits.maxBufferSize;
  return await adapter.requestDevice({ requiredLimits });
}

/**
 * Compiles `plan` for WebGPU: generates every kernel, creates all pipelines in parallel and
 * allocates the arenas. The trainer starts with zeroed arenas; call `reset(seeds)` first.
 * Off the main thread it runs in a host process (see {@link WebGpuTrainerOptions.placement}).
 */
export async function createWebGpuTrainer(
  plan: Plan,
  options: WebGpuTrainerOptions = {},
): Promise<WebGpuTrainer> {
  const placement = options.placement ?? "auto";
  const given = options.adapter !== undefined || options.device !== undefined;
  if (
    placement === "process" ||
    (placement === "auto" && !given && !onMainThread() && canStartHost())
  ) {
    return await createRemoteWebGpuTrainer(
      plan,
      options.tuning !== undefined ? { tuning: options.tuning } : {},
    );
  }
  return await createWebGpuTrainerOnThisThread(plan, options);
}

/**
 * {@link createWebGpuTrainer} on this thread, whatever the thread (the host process uses it;
 * elsewhere prefer createWebGpuTrainer, which picks the placement).
 */
export async function createWebGpuTrainerOnThisThread(
  plan: Plan,
  options: WebGpuTrainerOptions = {},
): Promise<WebGpuTrainer> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  const adapter = options.adapter ?? (options.device ? undefined : await gpu?.requestAdapter());
  if (!adapter && !options.device) {
    throw new Error("engine/webgpu: expected a WebGPU adapter but navigator.gpu gave none");
  }

  // Deno puts isFallbackAdapter on adapter.info (the spec's older form has it on the adapter).
  const info = adapter?.info as (GPUAdapterInfo & { isFallbackAdapter?: boolean }) | undefined;
  const fallback = info?.isFallbackAdapter ??
    (adapter as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ??
    false;
  const tuningName = options.tuning ?? (fallback ? "software" : "hardware");
  const tuning: Tuning = tuningName === "software" ? SOFTWARE_TUNING : HARDWARE_TUNING;
  const stepKernels = (steps: readonly Step[]) =>
    steps.flatMap((s) => kernelsForStep(plan, s, tuning));
  const trainKernels = [
    ...stepKernels(plan.forward),
    ...stepKernels(plan.loss),
    ...stepKernels(plan.backward),
    ...stepKernels(plan.update),
    stepCounterKernel(),
  ];
  // Forward without noise: z = z0 by a copy kernel (a buffer cannot be copied onto itself).
  const evalKernels = stepKernels([
    { kind: "input_noise", z0: plan.io.z0, z: plan.io.z, std: 0 },
    ...plan.forward.filter((s) => s.kind !== "input_noise"),
  ]);
  const scratchFloats = Math.max(4, ...trainKernels.map((k) => k.scratchFloats));

  const bytes = (floats: number) => Math.max(16, Math.ceil(floats / 4) * 16);
  const sizes = new Map<BufferName, number>();
  for (const a of ARENAS) sizes.set(a, bytes(plan.arenaSizes[a]));
  sizes.set("scratch", bytes(scratchFloats));
  sizes.set("ctrl", bytes(CTRL_SEEDS + plan.batch));
  const largest = Math.max(...sizes.values());
  const widestBinding = Math.max(
    ...[...trainKernels, ...evalKernels].flatMap((k) =>
      k.bindings.map((b) => (b.size === undefined ? sizes.get(b.name)! - b.offset * 4 : b.size * 4))
    ),
  );
  const device = options.device ?? await checkedDevice(adapter!, largest, widestBinding);
  try {
    return await build(device);
  } catch (error) {
    if (!options.device) device.destroy(); // a device we created must not outlive a failure
    throw error;
  }

  async function build(device: GPUDevice): Promise<WebGpuTrainer> {
    if (largest > device.limits.maxBufferSize) {
      throw new Error(
        `engine/webgpu: expected the largest arena (${largest} bytes) within the device's maxBufferSize but it is ${device.limits.maxBufferSize}`,
      );
    }
    const adapterName = adapter ? describeAdapter(adapter) : "WebGPU device";

    const buffers = new Map<BufferName | "tables", GPUBuffer>();
    for (const [name, size] of sizes) {
      buffers.set(
        name,
        device.createBuffer({
          label: `dipline ${name}`,
          size,
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        }),
      );
    }
    const buf = (name: BufferName) => buffers.get(name)!;

    // One pipeline per distinct WGSL source, all compiled in parallel.
    device.pushErrorScope("validation");
    const t0 = performance.now();
    const pipelines = new Map<string, Promise<GPUComputePipeline>>();
    for (const k of [...trainKernels, ...evalKernels]) {
      if (pipelines.has(k.code)) continue;
      const module = device.createShaderModule({ label: k.label, code: k.code });
      pipelines.set(
        k.code,
        device.createComputePipelineAsync({
          label: k.label,
          layout: "auto",
          compute: { module, entryPoint: "main" },
        })
          .catch((cause) => {
            throw new Error(`engine/webgpu: compiling the kernel "${k.label}" failed`, { cause });
          }),
      );
    }
    const ready = new Map<string, GPUComputePipeline>();
    await Promise.all([...pipelines].map(async ([code, p]) => ready.set(code, await p)));
    const compileSeconds = (performance.now() - t0) / 1000;

    // Every kernel's uniform table (where its tensors start) in one buffer, 256-byte aligned.
    const allKernels = [...trainKernels, ...evalKernels];
    const tableAt: number[] = [];
    let tableBytes = 0;
    for (const k of allKernels) {
      tableAt.push(tableBytes);
      tableBytes += Math.ceil(Math.max(k.uniforms.byteLength, 16) / 256) * 256;
    }
    const tables = device.createBuffer({
      label: "dipline offset tables",
      size: Math.max(tableBytes, 16),
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    allKernels.forEach((k, i) => {
      if (k.uniforms.length > 0) device.queue.writeBuffer(tables, tableAt[i]!, k.uniforms);
    });
    buffers.set("tables", tables);
    const maxBinding = device.limits.maxStorageBufferBindingSize;
    const launches = (kernels: readonly Kernel[], first: number): Launch[] =>
      kernels.map((k, i) => {
        const pipeline = ready.get(k.code)!;
        const entries: GPUBindGroupEntry[] = k.bindings.map((b, binding) => {
          const buffer = buf(b.name);
          const size = b.size === undefined ? buffer.size - b.offset * 4 : b.size * 4;
          if (size > maxBinding) {
            throw new Error(
              `engine/webgpu: expected the ${b.name} range of "${k.label}" (${size} bytes) within maxStorageBufferBindingSize but it is ${maxBinding}`,
            );
          }
          return { binding, resource: { buffer, offset: b.offset * 4, size } };
        });
        if (k.uniforms.length > 0) {
          entries.push({
            binding: k.bindings.length,
            resource: { buffer: tables, offset: tableAt[first + i]!, size: k.uniforms.byteLength },
          });
        }
        return {
          pipeline,
          dispatch: k.dispatch,
          bindGroup: device.createBindGroup({
            label: k.label,
            layout: pipeline.getBindGroupLayout(0),
            entries,
          }),
        };
      });
    const trainLaunches = launches(trainKernels, 0);
    const evalLaunches = launches(evalKernels, trainKernels.length);
    const error = await device.popErrorScope();
    if (error) {
      throw new Error(`engine/webgpu: creating the plan's pipelines failed: ${error.message}`);
    }

    return new GpuTrainer(
      plan,
      device,
      !options.device,
      adapterName,
      buffers,
      trainLaunches,
      evalLaunches,
      {
        compileSeconds,
        pipelineCount: ready.size,
      },
    );
  }
}

class GpuTrainer implements WebGpuTrainer {
  readonly engine = "webgpu" as const;
  readonly compileSeconds: number;
  readonly pipelineCount: number;
  #steps = 0;
  #snapshot?: Map<Arena, GPUBuffer>;
  #staging: GPUBuffer[] = [];
  #error?: string;
  /** The scalars copy the last run() queued, and the step count it reflects. */
  #pendingScalars?: { step: number; copy: StagingCopy };

  constructor(
    readonly plan: Plan,
    readonly device: GPUDevice,
    readonly ownsDevice: boolean,
    readonly adapter: string,
    readonly buffers: Map<BufferName | "tables", GPUBuffer>,
    readonly trainLaunches: readonly Launch[],
    readonly evalLaunches: readonly Launch[],
    stats: { compileSeconds: number; pipelineCount: number },
  ) {
    this.compileSeconds = stats.compileSeconds;
    this.pipelineCount = stats.pipelineCount;
    this.setNoiseSeeds(Array.from({ length: plan.batch }, (_, b) => b));
    device.addEventListener("uncapturederror", (e) => {
      this.#error ??= (e as GPUUncapturedErrorEvent).error.message;
    });
  }

  /** Throws the first device error seen (a failed submission leaves the arenas stale). */
  #check(caller: string): void {
    if (this.#error) {
      throw new Error(`WebGpuTrainer.${caller}: the device reported an error: ${this.#error}`);
    }
  }

  get dispatchesPerStep(): number {
    return this.trainLaunches.length;
  }

  #buf(name: BufferName): GPUBuffer {
    return this.buffers.get(name)!;
  }

  #view(name: keyof Plan["io"], caller: string): View {
    return ioView(this.plan, name, caller);
  }

  #writeCtrlStep(step: number): void {
    this.device.queue.writeBuffer(this.#buf("ctrl"), 0, new Uint32Array([step]));
  }

  async reset(seeds: readonly number[]): Promise<void> {
    const { queue } = this.device;
    const params = initParams(this.plan, seeds);
    queue.writeBuffer(this.#buf("param"), 0, params as Float32Array<ArrayBuffer>);
    const enc = this.device.createCommandEncoder({ label: "reset" });
    for (const a of ["grad", "adamM", "adamV", "act", "dact", "stats", "scalars"] as const) {
      enc.clearBuffer(this.#buf(a));
    }
    queue.submit([enc.finish()]);
    const wmv = this.plan.scalars.wmv;
    if (wmv) {
      queue.writeBuffer(
        this.#buf("scalars"),
        wmv.min * 4,
        new Float32Array(this.plan.batch).fill(Infinity),
      );
    }
    this.#steps = 0;
    if (this.#pendingScalars) this.#staging.push(this.#pendingScalars.copy.staging);
    this.#pendingScalars = undefined;
    this.#writeCtrlStep(0);
    this.setNoiseSeeds(seeds); // as the reference trainer: a reset reseeds the input noise too
    this.#snapshot = undefined;
    await queue.onSubmittedWorkDone();
  }

  upload(name: "z0" | "target" | "mask", data: Float32Array): void {
    const src = data as Float32Array<ArrayBuffer>;
    const v = uploadView(this.plan, name, data);
    const n = v.c * v.h * v.w;
    for (let b = 0; b < this.plan.batch; b++) {
      this.device.queue.writeBuffer(
        this.#buf(v.arena),
        (v.offset + b * v.batchStride) * 4,
        src,
        b * n,
        n,
      );
    }
  }

  setNoiseSeeds(seeds: readonly number[]): void {
    if (seeds.length !== this.plan.batch) {
      throw new RangeError(
        `WebGpuTrainer.setNoiseSeeds: expected ${this.plan.batch} seeds but received ${seeds.length}`,
      );
    }
    this.device.queue.writeBuffer(
      this.#buf("ctrl"),
      CTRL_SEEDS * 4,
      new Uint32Array(seeds.map((s) => s >>> 0)),
    );
  }

  #encode(enc: GPUCommandEncoder, launches: readonly Launch[], count: number): void {
    const pass = enc.beginComputePass();
    for (let i = 0; i < count; i++) {
      for (const l of launches) {
        pass.setPipeline(l.pipeline);
        pass.setBindGroup(0, l.bindGroup);
        pass.dispatchWorkgroups(l.dispatch[0], l.dispatch[1], l.dispatch[2]);
      }
    }
    pass.end();
  }

  run(count: number): void {
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(
        `WebGpuTrainer.run: expected a non-negative integer count but received ${count}`,
      );
    }
    if (count === 0) return;
    const enc = this.device.createCommandEncoder({ label: `train ×${count}` });
    this.#encode(enc, this.trainLaunches, count);
    // The scalars of the last step go to a staging buffer in the same submission, so that
    // readScalars() only has to map it.
    const previous = this.#pendingScalars?.copy.staging;
    this.#pendingScalars = {
      step: this.#steps + count,
      copy: this.#copyRanges(enc, "scalars", this.#scalarRanges(), previous),
    };
    this.device.queue.submit([enc.finish()]);
    this.#steps += count;
  }

  /** Where the per-fit scalars lie in the scalars arena: loss, PSNR, then WMV min and argmin. */
  #scalarRanges(): [number, number][] {
    const { batch, scalars } = this.plan;
    const offsets = [scalars.loss, scalars.psnrObserved];
    if (scalars.wmv) offsets.push(scalars.wmv.min, scalars.wmv.argmin);
    return offsets.map((o) => [o, batch]);
  }

  /** Encodes copies of `ranges` (float offset, length) of a buffer into one staging buffer. */
  #copyRanges(
    enc: GPUCommandEncoder,
    name: BufferName,
    ranges: readonly (readonly [number, number])[],
    reuse?: GPUBuffer,
  ): StagingCopy {
    const total = ranges.reduce((s, [, n]) => s + n, 0);
    const size = Math.max(16, Math.ceil(total / 4) * 16);
    const staging = (reuse && reuse.size >= size ? reuse : undefined) ??
      this.#staging.find((s) => s.size >= size && s.mapState === "unmapped") ??
      this.device.createBuffer({
        label: "staging",
        size,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
    this.#staging = this.#staging.filter((s) => s !== staging);
    if (reuse && reuse !== staging) this.#staging.push(reuse);
    let at = 0;
    for (const [offset, n] of ranges) {
      enc.copyBufferToBuffer(this.#buf(name), offset * 4, staging, at * 4, n * 4);
      at += n;
    }
    return { staging, total, size };
  }

  /** Maps a staging copy once the device has written it, and returns the buffer to the pool. */
  async #mapCopy({ staging, total, size }: StagingCopy): Promise<Float32Array> {
    await staging.mapAsync(GPUMapMode.READ, 0, size);
    const out = new Float32Array(staging.getMappedRange(0, size).slice(0, total * 4));
    staging.unmap();
    this.#staging.push(staging);
    this.#check("read");
    return out;
  }

  /** Copies `ranges` of a buffer into a staging buffer (after `before`'s work) and maps it. */
  #readRanges(
    name: BufferName,
    ranges: readonly (readonly [number, number])[],
    before?: GPUCommandEncoder,
  ): Promise<Float32Array> {
    const enc = before ?? this.device.createCommandEncoder({ label: "readback" });
    const copy = this.#copyRanges(enc, name, ranges);
    this.device.queue.submit([enc.finish()]);
    return this.#mapCopy(copy);
  }

  async readScalars(): Promise<StepScalars> {
    const { batch, scalars } = this.plan;
    const step = this.#steps;
    const pending = this.#pendingScalars;
    this.#pendingScalars = undefined;
    // The copy run() queued is current unless something ran since (reset, restore, evaluate).
    const data = pending && pending.step === step
      ? await this.#mapCopy(pending.copy)
      : await this.#readRanges("scalars", this.#scalarRanges());
    if (pending && pending.step !== step) this.#staging.push(pending.copy.staging);
    const part = (i: number) => data.slice(i * batch, (i + 1) * batch);
    return {
      step,
      loss: part(0),
      psnrObserved: part(1),
      ...(scalars.wmv ? { wmvMin: part(2), wmvArgmin: part(3) } : {}),
    };
  }

  #fitRanges(v: View): [number, number][] {
    const n = v.c * v.h * v.w;
    return Array.from({ length: this.plan.batch }, (_, b) => [v.offset + b * v.batchStride, n]);
  }

  read(name: "output" | "ema" | "best"): Promise<Float32Array> {
    const v = this.#view(name, "read");
    return this.#readRanges(v.arena, this.#fitRanges(v));
  }

  readParams(): Promise<Float32Array> {
    return this.readArena("param");
  }

  /** Reads a whole arena (tests and debugging). */
  readArena(name: Arena): Promise<Float32Array> {
    return this.#readRanges(name, [[0, this.plan.arenaSizes[name]]]);
  }

  /** Overwrites a whole arena or a part of it from `offset` (tests and debugging). */
  writeArena(name: Arena, data: Float32Array, offset = 0): void {
    this.device.queue.writeBuffer(this.#buf(name), offset * 4, data as Float32Array<ArrayBuffer>);
  }

  snapshot(): void {
    const enc = this.device.createCommandEncoder({ label: "snapshot" });
    this.#snapshot ??= new Map(
      (["param", "adamM", "adamV"] as const).map((a) => [
        a,
        this.device.createBuffer({
          label: `snapshot ${a}`,
          size: this.#buf(a).size,
          usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        }),
      ]),
    );
    for (const [a, copy] of this.#snapshot) {
      enc.copyBufferToBuffer(this.#buf(a), 0, copy, 0, copy.size);
    }
    this.device.queue.submit([enc.finish()]);
  }

  restore(): void {
    if (!this.#snapshot) {
      throw new Error("WebGpuTrainer.restore: expected a snapshot() first but there is none");
    }
    const enc = this.device.createCommandEncoder({ label: "restore" });
    for (const [a, copy] of this.#snapshot) {
      enc.copyBufferToBuffer(copy, 0, this.#buf(a), 0, copy.size);
    }
    this.device.queue.submit([enc.finish()]);
  }

  evaluate(): Promise<Float32Array> {
    const { output } = this.plan.io;
    const enc = this.device.createCommandEncoder({ label: "evaluate" });
    this.#encode(enc, this.evalLaunches, 1);
    return this.#readRanges(output.arena, this.#fitRanges(output), enc);
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.destroy();
    for (const b of this.#snapshot?.values() ?? []) b.destroy();
    for (const b of this.#staging) b.destroy();
    this.#pendingScalars?.copy.staging.destroy();
    if (this.ownsDevice) this.device.destroy();
  }
}
