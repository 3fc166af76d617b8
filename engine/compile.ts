/**
 * The compiler: a {@link Network} plus a fit size, a batch and a data term become a {@link Plan}
 * (shape inference, forward schedule, derived backward schedule, buffer plan), once per fit.
 *
 * Buffer plan:
 * - `param`/`grad`/`adamM`/`adamV`: parameters packed in network order (weight, then bias), so
 *   `paramsPerFit` equals {@link countParams}; fit b's copy at b · paramsPerFit.
 * - `act`: every forward tensor kept for backward, each in its own 64-float aligned region,
 *   except a concat input whose only consumer is that concat and whose size needs no crop: it
 *   is a channel slice of the concat output (its producer writes there, no copy).
 * - `dact`: one region per tensor gradient (a concat's aliased inputs are slices of the concat
 *   gradient), live from its first backward writer to its last backward reader; regions whose
 *   lifetimes do not overlap share memory (first fit).
 * - `io`: z0, z, target, mask, EMA, and for ES-WMV the best output and the ring of outputs.
 * - `scalars`: loss, PSNR, WMV variance/min/argmin, each `batch` long.
 *
 * @module
 */
import type { LayerNode, Network } from "../models/graph.ts";
import { inferChannels, lanczosKernelSize, paramTensors } from "../models/count.ts";
import type { Arena, DataTerm, ParamInit, ParamRef, Plan, Step, View } from "./plan.ts";

/** What {@link compilePlan} needs besides the network. */
export interface CompileOptions {
  /** Independent fits trained side by side (each with its own parameters, z and target). */
  readonly batch: number;
  /** Height of the network output (the image being restored). */
  readonly height: number;
  /** Width of the network output. */
  readonly width: number;
  /** What the output goes through before it is compared with the observation. */
  readonly dataTerm: DataTerm;
  /** Adam learning rate (reference notebooks: 0.01). */
  readonly lr: number;
  /** Adam β1; default 0.9 (PyTorch). */
  readonly beta1?: number;
  /** Adam β2; default 0.999 (PyTorch). */
  readonly beta2?: number;
  /** Adam ε; default 1e-8 (PyTorch). */
  readonly eps?: number;
  /** Std of the per-step Gaussian perturbation of z (reference `reg_noise_std`, e.g. 1/30). */
  readonly regNoiseStd: number;
  /** EMA decay of the output (reference denoising: 0.99); 0 = no EMA step. */
  readonly emaDecay: number;
  /** ES-WMV window (Wang et al.: 100); absent = no windowed-variance step. */
  readonly earlyStopWindow?: number;
  /**
   * Reuse `dact` regions by liveness (default true). False gives every gradient its own
   * region: more memory, same numbers (tests compare the two).
   */
  readonly shareGradients?: boolean;
}

// ---- Lanczos -----------------------------------------------------------------------------

/**
 * The 1-D kernel of the reference `Downsampler` (models/downsampler.py, `get_kernel`):
 * support a = 2 (lanczos2) or 3 (lanczos3), width w = 2af + 1; at phase 0.5 the kernel has w − 1
 * taps at distances d_i = |i + 0.5 − c| / f (c = (w + 1) / 2), at phase 0 w taps at |i − c| / f;
 * L(d) = a·sin(πd)·sin(πd/a)/(π²d²), L(0) = 1, normalised to sum 1. The 2-D kernel is the outer
 * product (the reference normalises the 2-D product, which is the same).
 *
 * @example
 * ```ts
 * import { lanczosTaps } from "./compile.ts";
 * lanczosTaps(2); // 8 taps: …, 0.1165, 0.4343, 0.4343, 0.1165, …
 * ```
 */
export function lanczosTaps(
  factor: number,
  kind: "lanczos2" | "lanczos3" = "lanczos2",
  phase: 0 | 0.5 = 0.5,
): number[] {
  if (!Number.isInteger(factor) || factor < 1) {
    throw new RangeError(`lanczosTaps: expected a positive integer factor but received ${factor}`);
  }
  const support = kind === "lanczos2" ? 2 : 3;
  const width = 2 * support * factor + 1;
  const center = (width + 1) / 2;
  const count = phase === 0.5 ? width - 1 : width;
  const taps: number[] = [];
  for (let i = 1; i <= count; i++) {
    const d = Math.abs(phase === 0.5 ? i + 0.5 - center : i - center) / factor;
    taps.push(
      d === 0 ? 1 : support * Math.sin(Math.PI * d) * Math.sin(Math.PI * d / support) /
        (Math.PI * Math.PI * d * d),
    );
  }
  const sum = taps.reduce((a, b) => a + b, 0);
  return taps.map((t) => t / sum);
}

/**
 * The super-resolution data term: the reference Lanczos2 `Downsampler` at phase 0.5 with
 * `preserve_size` (replicate padding (K − f)/2, so the output is exactly H/f × W/f).
 */
export function downsampleTerm(
  factor: number,
  kind: "lanczos2" | "lanczos3" = "lanczos2",
): DataTerm {
  const taps = lanczosTaps(factor, kind, 0.5);
  return { kind: "downsample", factor, taps, pad: (taps.length - factor) / 2 };
}

// ---- compiler ----------------------------------------------------------------------------

/** Regions in act, dact and io start on 64-float (256-byte) boundaries, for GPU bindings. */
const ALIGN = 64;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

interface Shape {
  c: number;
  h: number;
  w: number;
}

/** Labels of the steps a compile produced (node ids), for {@link describePlan}. */
const stepLabels = new WeakMap<Step, string>();

/** The node (or data-term stage) a step of a compiled plan belongs to, if known. */
export function stepLabel(step: Step): string | undefined {
  return stepLabels.get(step);
}

/**
 * One gradient region of `dact`: the gradient of `tensor` (and of any concat inputs aliased
 * into it), `size` floats at `offset`, live from step `first` to step `last` (indices into
 * `[...plan.loss, ...plan.backward]`).
 */
export interface GradientRegion {
  /** The node (or data-term stage) whose gradient this is. */
  readonly tensor: string;
  /** Float offset in `dact`. */
  readonly offset: number;
  /** Floats reserved (all fits, aligned). */
  readonly size: number;
  /** Index of the first step that writes it. */
  readonly first: number;
  /** Index of the last step that reads it. */
  readonly last: number;
}

const planRegions = new WeakMap<Plan, readonly GradientRegion[]>();

/** The `dact` regions a compile planned for `plan` (for tests and describePlan). */
export function gradientRegions(plan: Plan): readonly GradientRegion[] | undefined {
  return planRegions.get(plan);
}

function label<S extends Step>(step: S, name: string): S {
  stepLabels.set(step, name);
  return step;
}

/** A forward tensor: a network node or a data-term stage. */
interface Tensor {
  readonly id: string;
  readonly shape: Shape;
  /** Ids of the tensors it reads. */
  readonly inputs: readonly string[];
  readonly node?: LayerNode;
  /** Data-term downsample stage. */
  readonly resample?: { factor: number; taps: readonly number[]; pad: number };
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`compilePlan: expected a positive integer for ${name} but received ${v}`);
  }
}

function flattenTerm(term: DataTerm): DataTerm[] {
  return term.kind === "compose" ? term.terms.flatMap(flattenTerm) : [term];
}

/** Output size of a conv with padding p on each side (PyTorch's rule). */
function convOut(n: number, k: number, p: number, stride: number): number {
  return Math.floor((n + 2 * p - k) / stride) + 1;
}

/**
 * Compiles a network and a data term into a training step for `batch` fits of
 * `height` × `width`.
 *
 * @example
 * ```ts
 * import { compilePlan, downsampleTerm } from "./compile.ts";
 * import { denoisingNet } from "../models/mod.ts";
 * const plan = compilePlan(denoisingNet(), {
 *   batch: 1, height: 64, width: 64, dataTerm: downsampleTerm(4),
 *   lr: 0.01, regNoiseStd: 0.03, emaDecay: 0,
 * });
 * ```
 */
export function compilePlan(network: Network, options: CompileOptions): Plan {
  const { batch, height, width } = options;
  positiveInt("batch", batch);
  positiveInt("height", height);
  positiveInt("width", width);
  if (!(options.lr > 0)) {
    throw new RangeError(`compilePlan: expected a positive lr but received ${options.lr}`);
  }
  if (!(options.regNoiseStd >= 0)) {
    throw new RangeError(
      `compilePlan: expected regNoiseStd ≥ 0 but received ${options.regNoiseStd}`,
    );
  }
  if (!(options.emaDecay >= 0 && options.emaDecay < 1)) {
    throw new RangeError(
      `compilePlan: expected emaDecay in [0, 1) but received ${options.emaDecay}`,
    );
  }
  if (options.earlyStopWindow !== undefined) {
    positiveInt("earlyStopWindow", options.earlyStopWindow);
  }
  const where = `compilePlan(${network.name})`;
  const channels = inferChannels(network);

  // ---- shapes -----------------------------------------------------------------------------
  const tensors = new Map<string, Tensor>();
  const shapeOf = (id: string): Shape => tensors.get(id)!.shape;
  let inputId: string | undefined;
  for (const node of network.nodes) {
    const c = channels.get(node.id)!;
    let shape: Shape;
    let inputs: string[];
    switch (node.op) {
      case "input": {
        if (inputId !== undefined) {
          throw new RangeError(
            `${where}: expected one input node but found ${inputId} and ${node.id}`,
          );
        }
        inputId = node.id;
        if (height % node.downscale !== 0 || width % node.downscale !== 0) {
          throw new RangeError(
            `${where}: expected height and width divisible by the input downscale ${node.downscale} but received ${height}×${width}`,
          );
        }
        shape = { c, h: height / node.downscale, w: width / node.downscale };
        inputs = [];
        break;
      }
      case "conv": {
        const x = shapeOf(node.input);
        const p = (node.kernel - 1) / 2;
        if (node.pad === "reflection" && (p >= x.h || p >= x.w)) {
          throw new RangeError(
            `${where}: conv ${node.id} needs reflection padding ${p} but its input is ${x.h}×${x.w}; expected height and width > ${p} (use a larger image or fewer levels)`,
          );
        }
        shape = {
          c,
          h: convOut(x.h, node.kernel, p, node.stride),
          w: convOut(x.w, node.kernel, p, node.stride),
        };
        inputs = [node.input];
        break;
      }
      case "bn":
      case "act":
        shape = { ...shapeOf(node.input) };
        inputs = [node.input];
        break;
      case "pool": {
        const x = shapeOf(node.input);
        shape = { c, h: Math.floor(x.h / 2), w: Math.floor(x.w / 2) };
        inputs = [node.input];
        break;
      }
      case "lanczos_down": {
        const x = shapeOf(node.input);
        shape = { c, h: Math.floor(x.h / node.factor), w: Math.floor(x.w / node.factor) };
        inputs = [node.input];
        break;
      }
      case "upsample": {
        const x = shapeOf(node.input);
        shape = { c, h: 2 * x.h, w: 2 * x.w };
        inputs = [node.input];
        break;
      }
      case "concat": {
        const xs = node.inputs.map(shapeOf);
        shape = { c, h: Math.min(...xs.map((s) => s.h)), w: Math.min(...xs.map((s) => s.w)) };
        inputs = [...node.inputs];
        break;
      }
      case "add": {
        const [a, b] = node.inputs.map(shapeOf);
        if (a!.h !== b!.h || a!.w !== b!.w) {
          throw new RangeError(
            `${where}: expected add ${node.id} to sum equal sizes but received ${a!.h}×${
              a!.w
            } and ${b!.h}×${b!.w}`,
          );
        }
        shape = { ...a! };
        inputs = [...node.inputs];
        break;
      }
    }
    if (shape.h < 1 || shape.w < 1) {
      throw new RangeError(
        `${where}: node ${node.id} would be ${shape.h}×${shape.w}; expected a larger image`,
      );
    }
    tensors.set(node.id, { id: node.id, shape, inputs, node });
  }
  if (inputId === undefined) {
    throw new RangeError(`${where}: expected an input node but found none`);
  }
  const out = shapeOf(network.output);
  if (out.h !== height || out.w !== width) {
    throw new RangeError(
      `${where}: expected the output to be ${height}×${width} but it is ${out.h}×${out.w}; use a size that is a multiple of ${network.sizeMultiple}`,
    );
  }

  // Data term: downsample stages after the output; a mask (last) applies in the loss.
  let pred = network.output;
  let hasMask = false;
  const terms = flattenTerm(options.dataTerm);
  terms.forEach((term, i) => {
    if (term.kind === "mask") {
      // The loss applies the mask at the data-term output size, so it must come last.
      if (i !== terms.length - 1) {
        throw new RangeError(
          `${where}: expected the mask last in a compose data term but received it at position ${
            i + 1
          } of ${terms.length}`,
        );
      }
      hasMask = true;
    } else if (term.kind === "downsample") {
      const x = shapeOf(pred);
      const expectedPad = (term.taps.length - term.factor) / 2;
      if (term.pad !== expectedPad) {
        throw new RangeError(
          `${where}: expected downsample pad (taps − factor)/2 = ${expectedPad} but received ${term.pad}`,
        );
      }
      const shape = { c: x.c, h: Math.floor(x.h / term.factor), w: Math.floor(x.w / term.factor) };
      if (shape.h < 1 || shape.w < 1) {
        throw new RangeError(
          `${where}: expected an image of at least ${term.factor}² to downsample ×${term.factor}`,
        );
      }
      const id = `data.down${i}`;
      tensors.set(id, {
        id,
        shape,
        inputs: [pred],
        resample: { factor: term.factor, taps: term.taps, pad: term.pad },
      });
      pred = id;
    }
  });
  const order = [...tensors.values()];

  // Consumers, and every tensor must reach the prediction.
  const consumers = new Map<string, string[]>();
  for (const t of order) {
    for (const x of t.inputs) consumers.set(x, [...(consumers.get(x) ?? []), t.id]);
  }
  const reaches = new Set<string>([pred]);
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i]!;
    if (reaches.has(t.id)) t.inputs.forEach((x) => reaches.add(x));
  }
  for (const t of order) {
    if (!reaches.has(t.id)) {
      throw new RangeError(`${where}: node ${t.id} does not reach the output ${network.output}`);
    }
  }

  // ---- parameters -------------------------------------------------------------------------
  const tensorsP = paramTensors(network);
  const paramRefs = new Map<string, ParamRef>();
  const params: ParamInit[] = [];
  let paramsPerFit = 0;
  for (const p of tensorsP) {
    const ref: ParamRef = { offset: paramsPerFit, size: p.size };
    paramsPerFit += p.size;
    paramRefs.set(p.name, ref);
    if (p.init === "uniform") params.push({ ref, init: "uniform", fanIn: p.fanIn, name: p.name });
    else if (p.init === "one" || p.init === "zero") {
      params.push({ ref, init: "constant", value: p.init === "one" ? 1 : 0, name: p.name });
    } else {
      const node = network.nodes.find((n) => n.id === p.node);
      if (node?.op !== "lanczos_down") {
        throw new Error(`${where}: internal error, ${p.name} is not a Lanczos kernel`);
      }
      params.push({
        ref,
        init: "values",
        values: lanczosWeight(node.factor, node.kernel, p.shape[0]!),
        name: p.name,
      });
    }
  }
  const pref = (name: string): ParamRef => {
    const r = paramRefs.get(name);
    if (r === undefined) throw new Error(`${where}: internal error, no parameter ${name}`);
    return r;
  };

  // ---- concat aliasing ------------------------------------------------------------------
  /** Tensor id → the concat it is a channel slice of, and the channel offset. */
  const aliasOf = new Map<string, { concat: string; channel: number }>();
  for (const t of order) {
    if (t.node?.op !== "concat") continue;
    let channel = 0;
    for (const x of t.inputs) {
      const s = shapeOf(x);
      if (
        x !== inputId && x !== network.output && consumers.get(x)?.length === 1 &&
        s.h === t.shape.h &&
        s.w === t.shape.w
      ) {
        aliasOf.set(x, { concat: t.id, channel });
      }
      channel += s.c;
    }
  }

  // ---- io, act and stats layout ---------------------------------------------------------
  let ioSize = 0;
  const ioView = (shape: Shape, slots = 1): View => {
    const view: View = {
      arena: "io",
      offset: ioSize,
      batchStride: slots * shape.c * shape.h * shape.w,
      ...shape,
    };
    ioSize = align(ioSize + batch * view.batchStride);
    return view;
  };
  const zShape = shapeOf(inputId);
  const predShape = shapeOf(pred);
  const z0 = ioView(zShape);
  const z = ioView(zShape);
  const target = ioView(predShape);
  const mask = hasMask ? ioView({ c: 1, h: predShape.h, w: predShape.w }) : undefined;
  const outShape = shapeOf(network.output);
  const ema = ioView(outShape);
  const window = options.earlyStopWindow;
  const best = window !== undefined ? ioView(outShape) : undefined;
  const ring = window !== undefined ? ioView(outShape, window) : undefined;

  let actSize = 0;
  const views = new Map<string, View>([[inputId, z]]);
  for (const t of order) {
    if (t.id === inputId || aliasOf.has(t.id)) continue;
    const n = t.shape.c * t.shape.h * t.shape.w;
    views.set(t.id, { arena: "act", offset: actSize, batchStride: n, ...t.shape });
    actSize = align(actSize + batch * n);
  }
  const slice = (v: View, channel: number, shape: Shape): View => ({
    arena: v.arena,
    offset: v.offset + channel * v.h * v.w,
    batchStride: v.batchStride,
    ...shape,
  });
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i]!;
    const a = aliasOf.get(t.id);
    if (a) views.set(t.id, slice(views.get(a.concat)!, a.channel, t.shape));
  }
  const view = (id: string): View => views.get(id)!;

  let statsSize = 0;
  const statsRefs = new Map<string, { offset: number; batchStride: number; channels: number }>();
  for (const t of order) {
    if (t.node?.op !== "bn") continue;
    statsRefs.set(t.id, { offset: statsSize, batchStride: 2 * t.shape.c, channels: t.shape.c });
    statsSize += batch * 2 * t.shape.c;
  }

  // ---- forward ----------------------------------------------------------------------------
  const forward: Step[] = [
    label({ kind: "input_noise", z0, z, std: options.regNoiseStd }, "input_noise"),
  ];
  let forwardMacs = 0;
  for (const t of order) {
    const node = t.node;
    const y = view(t.id);
    if (t.resample) {
      forward.push(label({ kind: "resample_down", x: view(t.inputs[0]!), y, ...t.resample }, t.id));
      continue;
    }
    if (!node) continue;
    switch (node.op) {
      case "input":
        break;
      case "conv": {
        const x = view(node.input);
        const bias = node.bias ? pref(`${node.id}.bias`) : undefined;
        forward.push(label({
          kind: "conv",
          x,
          y,
          weight: pref(`${node.id}.weight`),
          ...(bias ? { bias } : {}),
          k: node.kernel,
          stride: node.stride,
          pad: node.pad,
        }, node.id));
        forwardMacs += y.c * x.c * node.kernel * node.kernel * y.h * y.w;
        break;
      }
      case "bn":
        forward.push(label({
          kind: "bn_act",
          x: view(node.input),
          y,
          gamma: pref(`${node.id}.weight`),
          beta: pref(`${node.id}.bias`),
          stats: statsRefs.get(node.id)!,
          act: node.act,
        }, node.id));
        break;
      case "act":
        forward.push(label({ kind: "act", x: view(node.input), y, act: node.act }, node.id));
        break;
      case "pool":
        forward.push(label({ kind: "pool", x: view(node.input), y, mode: node.mode }, node.id));
        break;
      case "lanczos_down": {
        const x = view(node.input);
        const k = lanczosKernelSize(node.factor, node.kernel);
        forward.push(label({
          kind: "conv",
          x,
          y,
          weight: pref(`${node.id}.weight`),
          bias: pref(`${node.id}.bias`),
          k,
          stride: node.factor,
          pad: "replicate",
          padding: (k - node.factor) / 2,
        }, node.id));
        forwardMacs += y.c * x.c * k * k * y.h * y.w;
        break;
      }
      case "upsample":
        forward.push(label({ kind: "upsample", x: view(node.input), y, mode: node.mode }, node.id));
        break;
      case "concat": {
        let channel = 0;
        for (const x of node.inputs) {
          const s = shapeOf(x);
          if (!aliasOf.has(x)) {
            forward.push(
              label({
                kind: "crop_copy",
                x: view(x),
                y: slice(y, channel, { c: s.c, h: y.h, w: y.w }),
              }, node.id),
            );
          }
          channel += s.c;
        }
        break;
      }
      case "add":
        forward.push(
          label({ kind: "add", a: view(node.inputs[0]), b: view(node.inputs[1]), y }, node.id),
        );
        break;
    }
  }

  // ---- backward (symbolic gradient regions, allocated by liveness afterwards) ---------------
  /** A gradient root: a tensor that is not a slice of a concat's gradient. */
  const rootOf = (id: string): { root: string; channel: number } => {
    let channel = 0;
    let cur = id;
    for (let a = aliasOf.get(cur); a; a = aliasOf.get(cur)) {
      channel += a.channel;
      cur = a.concat;
    }
    return { root: cur, channel };
  };
  interface Pending {
    build: (
      grad: (id: string) => View,
      gslice: (id: string, channel: number, shape: Shape) => View,
    ) => Step;
    reads: string[];
    writes: string[];
    label: string;
  }
  const pending: Pending[] = [];
  const written = new Set<string>();
  const needsGrad = (id: string) => id !== inputId;
  /** Accumulate flag for a write of `id`'s gradient: first writer overwrites. */
  const firstWrite = (id: string): boolean => {
    const acc = written.has(id);
    written.add(id);
    return acc;
  };
  const roots = (...ids: string[]) => ids.map((id) => rootOf(id).root);

  // The loss is the first writer of the prediction's gradient.
  written.add(pred);
  pending.push({
    build: (grad) => ({
      kind: "mse_loss",
      pred: view(pred),
      target,
      ...(mask ? { mask } : {}),
      dpred: grad(pred),
      lossOffset: 0,
    }),
    reads: [],
    writes: roots(pred),
    label: "loss",
  });

  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i]!;
    if (t.id === inputId) continue;
    const node = t.node;
    const dyRoot = roots(t.id);
    if (t.resample) {
      const x = t.inputs[0]!;
      const accumulate = firstWrite(x);
      const r = t.resample;
      pending.push({
        build: (grad) => ({
          kind: "resample_down_bwd",
          dy: grad(t.id),
          dx: grad(x),
          ...r,
          accumulate,
        }),
        reads: dyRoot,
        writes: roots(x),
        label: t.id,
      });
      continue;
    }
    if (!node) continue;
    switch (node.op) {
      case "input":
        break;
      case "conv":
      case "lanczos_down": {
        const fwd = forward.find((s) => stepLabels.get(s) === node.id);
        if (fwd?.kind !== "conv") {
          throw new Error(`${where}: internal error, no forward conv for ${node.id}`);
        }
        const { x, weight, bias, k, stride, pad } = fwd;
        const padding = fwd.padding;
        const extra = padding !== undefined ? { padding } : {};
        pending.push({
          build: (grad) => ({
            kind: "conv_bwd_weight",
            x,
            dy: grad(t.id),
            weight,
            ...(bias ? { bias } : {}),
            k,
            stride,
            pad,
            ...extra,
          }),
          reads: dyRoot,
          writes: [],
          label: node.id,
        });
        if (needsGrad(node.input)) {
          const accumulate = firstWrite(node.input);
          pending.push({
            build: (grad) => ({
              kind: "conv_bwd_data",
              dy: grad(t.id),
              dx: grad(node.input),
              weight,
              k,
              stride,
              pad,
              ...extra,
              accumulate,
            }),
            reads: dyRoot,
            writes: roots(node.input),
            label: node.id,
          });
        }
        break;
      }
      case "bn": {
        if (!needsGrad(node.input)) {
          throw new RangeError(
            `${where}: expected BN ${node.id} to follow a layer, not the input z`,
          );
        }
        const accumulate = firstWrite(node.input);
        pending.push({
          build: (grad) => ({
            kind: "bn_act_bwd",
            x: view(node.input),
            dy: grad(t.id),
            dx: grad(node.input),
            gamma: pref(`${node.id}.weight`),
            beta: pref(`${node.id}.bias`),
            stats: statsRefs.get(node.id)!,
            act: node.act,
            accumulate,
          }),
          reads: dyRoot,
          writes: roots(node.input),
          label: node.id,
        });
        break;
      }
      case "act":
      case "pool":
      case "upsample": {
        if (!needsGrad(node.input)) break;
        const accumulate = firstWrite(node.input);
        const x = view(node.input);
        const y = view(node.id);
        pending.push({
          build: (grad): Step => {
            const dy = grad(t.id), dx = grad(node.input);
            if (node.op === "act") {
              return { kind: "act_bwd", x, y, dy, dx, act: node.act, accumulate };
            }
            if (node.op === "pool") {
              return { kind: "pool_bwd", x, dy, dx, mode: node.mode, accumulate };
            }
            return { kind: "upsample_bwd", dy, dx, mode: node.mode, accumulate };
          },
          reads: dyRoot,
          writes: roots(node.input),
          label: node.id,
        });
        break;
      }
      case "concat": {
        let channel = 0;
        for (const x of node.inputs) {
          const s = shapeOf(x);
          const ch = channel;
          channel += s.c;
          if (aliasOf.has(x) || !needsGrad(x)) continue;
          const accumulate = firstWrite(x);
          pending.push({
            build: (grad, gslice) => ({
              kind: "crop_copy_bwd",
              dy: gslice(t.id, ch, { c: s.c, h: t.shape.h, w: t.shape.w }),
              dx: grad(x),
              accumulate,
            }),
            reads: dyRoot,
            writes: roots(x),
            label: node.id,
          });
        }
        break;
      }
      case "add":
        for (const x of node.inputs) {
          if (!needsGrad(x)) continue;
          const accumulate = firstWrite(x);
          pending.push({
            build: (grad) => ({ kind: "copy_grad", dy: grad(t.id), dx: grad(x), accumulate }),
            reads: dyRoot,
            writes: roots(x),
            label: node.id,
          });
        }
        break;
    }
  }

  // Liveness: a root lives from its first to its last touch in [loss, ...backward].
  const life = new Map<string, { start: number; end: number }>();
  pending.forEach((p, i) => {
    for (const r of [...p.reads, ...p.writes]) {
      const l = life.get(r);
      if (l) l.end = i;
      else life.set(r, { start: i, end: i });
    }
  });
  const dactOffset = new Map<string, number>();
  const regions: GradientRegion[] = [];
  let dactSize = 0;
  const live: { offset: number; size: number; end: number }[] = [];
  for (const [root, l] of [...life.entries()].sort((a, b) => a[1].start - b[1].start)) {
    const share = options.shareGradients ?? true;
    for (let j = live.length - 1; j >= 0; j--) {
      if (share && live[j]!.end < l.start) live.splice(j, 1);
    }
    live.sort((a, b) => a.offset - b.offset);
    const s = shapeOf(root);
    const size = align(batch * s.c * s.h * s.w);
    let offset = 0;
    for (const block of live) {
      if (offset + size <= block.offset) break;
      offset = Math.max(offset, block.offset + block.size);
    }
    live.push({ offset, size, end: l.end });
    dactOffset.set(root, offset);
    regions.push({ tensor: root, offset, size, first: l.start, last: l.end });
    dactSize = Math.max(dactSize, offset + size);
  }
  const gslice = (id: string, channel: number, shape: Shape): View => {
    const { root, channel: base } = rootOf(id);
    const r = shapeOf(root);
    const offset = dactOffset.get(root);
    if (offset === undefined) {
      throw new Error(`${where}: internal error, no gradient region for ${id}`);
    }
    return {
      arena: "dact",
      offset: offset + (base + channel) * r.h * r.w,
      batchStride: r.c * r.h * r.w,
      ...shape,
    };
  };
  const grad = (id: string): View => gslice(id, 0, shapeOf(id));
  const lossAndBackward = pending.map((p) => label(p.build(grad, gslice), p.label));
  const loss = lossAndBackward.slice(0, 1);
  const backward = lossAndBackward.slice(1);

  // ---- update -----------------------------------------------------------------------------
  const scalarsLoss = 0;
  const scalarsPsnr = batch;
  const update: Step[] = [
    label({
      kind: "adam",
      size: batch * paramsPerFit,
      lr: options.lr,
      beta1: options.beta1 ?? 0.9, // PyTorch Adam defaults
      beta2: options.beta2 ?? 0.999,
      eps: options.eps ?? 1e-8,
    }, "adam"),
  ];
  const output = view(network.output);
  if (options.emaDecay > 0) {
    update.push(label({ kind: "ema", x: output, ema, decay: options.emaDecay }, "ema"));
  }
  update.push(label({ kind: "psnr", a: view(pred), b: target, offset: scalarsPsnr }, "psnr"));
  let scalarsSize = 2 * batch;
  let wmv: { variance: number; min: number; argmin: number } | undefined;
  if (window !== undefined && ring && best) {
    wmv = { variance: 2 * batch, min: 3 * batch, argmin: 4 * batch };
    scalarsSize = 5 * batch;
    update.push(label({
      kind: "wmv",
      x: output,
      ring,
      window,
      best,
      varOffset: wmv.variance,
      minOffset: wmv.min,
      argminOffset: wmv.argmin,
    }, "wmv"));
  }

  const paramSize = batch * paramsPerFit;
  const arenaSizes: Record<Arena, number> = {
    param: paramSize,
    grad: paramSize,
    adamM: paramSize,
    adamV: paramSize,
    act: actSize,
    dact: dactSize,
    stats: statsSize,
    io: ioSize,
    scalars: scalarsSize,
  };
  const plan: Plan = {
    batch,
    height,
    width,
    paramsPerFit,
    arenaSizes,
    forward,
    loss,
    backward,
    update,
    params,
    io: { z0, z, output, target, ...(mask ? { mask } : {}), ema, ...(best ? { best } : {}) },
    scalars: { loss: scalarsLoss, psnrObserved: scalarsPsnr, ...(wmv ? { wmv } : {}) },
    forwardMacs,
  };
  planRegions.set(plan, regions);
  return plan;
}

/** The reference Downsampler's initial n→n weight: the 2-D Lanczos kernel on the diagonal. */
function lanczosWeight(factor: number, kernel: "lanczos2" | "lanczos3", n: number): Float32Array {
  const taps = lanczosTaps(factor, kernel, 0.5);
  const k = taps.length;
  const w = new Float32Array(n * n * k * k);
  for (let c = 0; c < n; c++) {
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) w[((c * n + c) * k + i) * k + j] = taps[i]! * taps[j]!;
    }
  }
  return w;
}

// ---- describe -----------------------------------------------------------------------------

function fmtView(v: View): string {
  return `${v.arena}@${v.offset}[${v.c}×${v.h}×${v.w}${
    v.batchStride !== v.c * v.h * v.w ? ` /${v.batchStride}` : ""
  }]`;
}

function fmtStep(s: Step): string {
  const acc = "accumulate" in s && s.accumulate ? " +=" : "";
  switch (s.kind) {
    case "conv":
      return `${fmtView(s.x)} → ${fmtView(s.y)} k${s.k}/${s.stride} ${s.pad}`;
    case "bn_act":
      return `${fmtView(s.x)} → ${fmtView(s.y)} ${s.act}`;
    case "act":
    case "pool":
    case "upsample":
    case "crop_copy":
    case "resample_down":
      return `${fmtView(s.x)} → ${fmtView(s.y)}${"act" in s ? ` ${s.act}` : ""}${
        "mode" in s ? ` ${s.mode}` : ""
      }`;
    case "add":
      return `${fmtView(s.a)} + ${fmtView(s.b)} → ${fmtView(s.y)}`;
    case "conv_bwd_data":
    case "bn_act_bwd":
    case "act_bwd":
    case "pool_bwd":
    case "upsample_bwd":
    case "crop_copy_bwd":
    case "copy_grad":
    case "resample_down_bwd":
      return `${fmtView(s.dy)} →${acc} ${fmtView(s.dx)}`;
    case "conv_bwd_weight":
      return `${fmtView(s.x)} ⊗ ${fmtView(s.dy)} → grad@${s.weight.offset}`;
    case "input_noise":
      return `${fmtView(s.z0)} → ${fmtView(s.z)} std ${s.std}`;
    case "mse_loss":
      return `${fmtView(s.pred)} vs ${fmtView(s.target)}${
        s.mask ? ` mask ${fmtView(s.mask)}` : ""
      }`;
    case "adam":
      return `${s.size} params lr ${s.lr}`;
    case "ema":
      return `${fmtView(s.x)} → ${fmtView(s.ema)} decay ${s.decay}`;
    case "psnr":
      return `${fmtView(s.a)} vs ${fmtView(s.b)}`;
    case "wmv":
      return `${fmtView(s.x)} window ${s.window}`;
  }
}

/**
 * A plain-text listing of a plan: arena sizes, then every step with its node and views
 * (`arena@offset[c×h×w /batchStride]`), for `explain()` and `--dry-run`.
 */
export function describePlan(plan: Plan): string {
  const mb = (floats: number) => `${(floats * 4 / 2 ** 20).toFixed(2)} MiB`;
  const lines = [
    `plan: batch ${plan.batch}, ${plan.height}×${plan.width}, ${plan.paramsPerFit} parameters per fit, ${
      (plan.forwardMacs / 1e9).toFixed(3)
    } GMAC forward per fit`,
    "arenas (floats):",
    ...Object.entries(plan.arenaSizes).map(([k, v]) =>
      `  ${k.padEnd(8)} ${String(v).padStart(12)}  ${mb(v)}`
    ),
  ];
  for (
    const [phase, steps] of [["forward", plan.forward], ["loss", plan.loss], [
      "backward",
      plan.backward,
    ], [
      "update",
      plan.update,
    ]] as const
  ) {
    lines.push(`${phase} (${steps.length} steps):`);
    for (const s of steps) {
      lines.push(`  ${s.kind.padEnd(18)} ${(stepLabel(s) ?? "").padEnd(18)} ${fmtStep(s)}`);
    }
  }
  return lines.join("\n");
}
