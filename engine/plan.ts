/**
 * The compiled training step: pure data that the compiler (engine/compile.ts) produces from a
 * network, a fit size, a batch and a data term, and that each backend (engine/webgpu,
 * engine/cpu) executes. The plan is the algorithm; a backend is a schedule of it (Halide's
 * split): every backend must produce the same numbers for the same plan, within float error.
 *
 * Memory model. All tensors are float32, NCHW, and live in a few flat buffers ("arenas"):
 *
 * | arena     | holds                                                                |
 * |-----------|----------------------------------------------------------------------|
 * | `param`   | all parameters of all fits: fit b's copy starts at b * paramsPerFit    |
 * | `grad`    | parameter gradients, same layout as `param`                          |
 * | `adamM`   | Adam first moments, same layout as `param`                           |
 * | `adamV`   | Adam second moments, same layout as `param`                          |
 * | `act`     | forward activations kept for backward (offsets planned once)         |
 * | `dact`    | activation gradients, regions reused by liveness                     |
 * | `stats`   | per-(fit, channel) saved statistics (BN mean and inverse std)        |
 * | `io`      | z0, z (perturbed), target, mask, EMA output, ring buffers            |
 * | `scalars` | per-fit loss, PSNR and such, read back every k steps                 |
 *
 * A {@link View} addresses a tensor inside an arena with an explicit batch stride, so that a
 * concat input is simply a channel slice of the concat output (no copy): element (b, c, y, x)
 * of a view is `arena[offset + b * batchStride + c * h * w + y * w + x]`.
 *
 * Batch. `batch` independent fits share one step: each has its own parameters (a {@link
 * ParamRef}'s element (b, i) is `param[b * paramsPerFit + offset + i]`), its own z, target
 * and statistics. Nothing mixes across the batch: BN statistics are per image (per fit).
 *
 * @module
 */

/**
 * A nonlinearity the engine runs. The plan owns its vocabulary so that the backends import
 * nothing above engine/; models/graph.ts's Activation is the same union.
 */
export type Activation = "leaky_relu" | "relu" | "swish" | "elu" | "sigmoid" | "none";

/** Every flat buffer a plan addresses. */
export const ARENAS = [
  "param",
  "grad",
  "adamM",
  "adamV",
  "act",
  "dact",
  "stats",
  "io",
  "scalars",
] as const;

/** The flat buffers a plan addresses. */
export type Arena = (typeof ARENAS)[number];

/** A tensor region: NCHW with an explicit batch stride (in floats). */
export interface View {
  /** The arena the tensor lives in. */
  readonly arena: Arena;
  /** Float offset of element (0, 0, 0, 0). */
  readonly offset: number;
  /** Floats between element (b, c, y, x) and (b + 1, c, y, x); ≥ c * h * w. */
  readonly batchStride: number;
  /** Channels. */
  readonly c: number;
  /** Height. */
  readonly h: number;
  /** Width. */
  readonly w: number;
}

/**
 * Parameters of one layer tensor inside `param` (and its gradient, at the same offsets, in
 * `grad`). Fit b's copy is at `b * plan.paramsPerFit + offset`, `size` floats long.
 */
export interface ParamRef {
  /** Float offset within a fit's parameters. */
  readonly offset: number;
  /** Floats in the tensor. */
  readonly size: number;
}

/**
 * Per-(fit, channel) statistics: mean at `offset + b * batchStride + c`, invStd at
 * `offset + b * batchStride + channels + c` (batchStride = 2 · channels).
 */
export interface StatsRef {
  /** Float offset of fit 0's means. */
  readonly offset: number;
  /** Floats between fit b's statistics and fit b + 1's (2 · channels). */
  readonly batchStride: number;
  /** Channels of the normalised tensor. */
  readonly channels: number;
}

/**
 * One kernel launch. Forward kinds first, then their backward counterparts, then the
 * step-level kinds (loss, Adam, RNG, EMA, PSNR, windowed variance). `accumulate` on a kind that
 * writes a gradient means "add into the destination" instead of "overwrite it" (a tensor with
 * several consumers gets the sum of their gradients).
 */
export type Step =
  // ---- forward ----
  /**
   * y = conv(pad(x), w) + bias. `w` is [cout][cin][k][k] (PyTorch's OIHW), bias [cout].
   * Padding p = (k-1)/2 in `pad` mode (reflection mirrors without repeating the edge, as
   * ReflectionPad2d; replicate repeats the edge; zero pads 0), then stride.
   * `padding`, when present, overrides (k-1)/2 (the in-network Lanczos downsampler: an even
   * k with replicate padding (k - stride)/2); absent everywhere else.
   */
  | {
    readonly kind: "conv";
    readonly x: View;
    readonly y: View;
    readonly weight: ParamRef;
    readonly bias?: ParamRef;
    readonly k: number;
    readonly stride: number;
    readonly pad: "reflection" | "zero" | "replicate";
    readonly padding?: number;
  }
  /**
   * BatchNorm (training mode, statistics over H×W of each fit and channel, biased variance,
   * eps 1e-5) with affine gamma/beta, then `act`. Saves mean and 1/sqrt(var + eps) to `stats`.
   */
  | {
    readonly kind: "bn_act";
    readonly x: View;
    readonly y: View;
    readonly gamma: ParamRef;
    readonly beta: ParamRef;
    readonly stats: StatsRef;
    readonly act: Activation;
  }
  /** y = act(x) pointwise. */
  | { readonly kind: "act"; readonly x: View; readonly y: View; readonly act: Activation }
  /** 2×2/stride-2 average or max pooling (output floor(h/2) × floor(w/2)). */
  | { readonly kind: "pool"; readonly x: View; readonly y: View; readonly mode: "avg" | "max" }
  /** ×2 upsampling, nearest or bilinear with align_corners=False. */
  | {
    readonly kind: "upsample";
    readonly x: View;
    readonly y: View;
    readonly mode: "nearest" | "bilinear";
  }
  /** Copies the centre crop of x (offsets floor((x.h - y.h)/2), floor((x.w - y.w)/2)) into y. */
  | { readonly kind: "crop_copy"; readonly x: View; readonly y: View }
  /** y = a + b. */
  | { readonly kind: "add"; readonly a: View; readonly b: View; readonly y: View }
  /**
   * Fixed (not trained) depthwise separable downsampling by `factor`: y = K ⊛ replicatePad(x),
   * stride factor. `taps` is the 1-D kernel (length T, even for phase 0.5), applied along rows
   * and columns; padding `pad` = (T - factor) / 2 on each side. Output exactly h/f × w/f.
   * Used by the SR data term (reference Downsampler, lanczos2, phase 0.5, preserve_size).
   */
  | {
    readonly kind: "resample_down";
    readonly x: View;
    readonly y: View;
    readonly factor: number;
    readonly taps: readonly number[];
    readonly pad: number;
  }
  // ---- backward ----
  /** dx (+)= conv_transpose(dy, w): the gradient of `conv` with respect to its input. */
  | {
    readonly kind: "conv_bwd_data";
    readonly dy: View;
    readonly dx: View;
    readonly weight: ParamRef;
    readonly k: number;
    readonly stride: number;
    readonly pad: "reflection" | "zero" | "replicate";
    /** As on `conv`. */
    readonly padding?: number;
    readonly accumulate: boolean;
  }
  /** dW = Σ_b,y,x dy ⊗ pad(x) (per fit), dbias = Σ dy: overwrites `grad` at the refs. */
  | {
    readonly kind: "conv_bwd_weight";
    readonly x: View;
    readonly dy: View;
    readonly weight: ParamRef;
    readonly bias?: ParamRef;
    readonly k: number;
    readonly stride: number;
    readonly pad: "reflection" | "zero" | "replicate";
    /** As on `conv`. */
    readonly padding?: number;
  }
  /** Gradient of `bn_act`: reads x, saved stats, gamma/beta, dy; writes dx (+)=, dgamma, dbeta. */
  | {
    readonly kind: "bn_act_bwd";
    readonly x: View;
    readonly dy: View;
    readonly dx: View;
    readonly gamma: ParamRef;
    readonly beta: ParamRef;
    readonly stats: StatsRef;
    readonly act: Activation;
    readonly accumulate: boolean;
  }
  /** Gradient of `act`; `x` is the forward input, `y` the forward output (either may serve). */
  | {
    readonly kind: "act_bwd";
    readonly x: View;
    readonly y: View;
    readonly dy: View;
    readonly dx: View;
    readonly act: Activation;
    readonly accumulate: boolean;
  }
  | {
    readonly kind: "pool_bwd";
    readonly x: View;
    readonly dy: View;
    readonly dx: View;
    readonly mode: "avg" | "max";
    readonly accumulate: boolean;
  }
  | {
    readonly kind: "upsample_bwd";
    readonly dy: View;
    readonly dx: View;
    readonly mode: "nearest" | "bilinear";
    readonly accumulate: boolean;
  }
  /** dx (+)= zero-padded dy placed at the centre-crop offsets. */
  | {
    readonly kind: "crop_copy_bwd";
    readonly dy: View;
    readonly dx: View;
    readonly accumulate: boolean;
  }
  /** dx (+)= dy (the gradient of one `add` input; also used wherever a gradient is forwarded). */
  | {
    readonly kind: "copy_grad";
    readonly dy: View;
    readonly dx: View;
    readonly accumulate: boolean;
  }
  | {
    readonly kind: "resample_down_bwd";
    readonly dy: View;
    readonly dx: View;
    readonly factor: number;
    readonly taps: readonly number[];
    readonly pad: number;
    readonly accumulate: boolean;
  }
  // ---- step level ----
  /**
   * z = z0 + std · N(0, 1), the reference's per-step input noise; N(0,1) from
   * {@link gaussianAt}(seed_b, step, index) so every backend draws the same numbers, where
   * index = c · h · w + y · w + x is the element's index within fit b's z and step counts the
   * training steps run since `reset` (0 for the first). With std 0 it is a copy.
   */
  | { readonly kind: "input_noise"; readonly z0: View; readonly z: View; readonly std: number }
  /**
   * Masked mean squared error per fit: loss_b = mean over C·H·W of (m·(pred − target))², and
   * dpred = 2·m²·(pred − target)/(C·H·W). `mask` is 1 channel broadcast over C (or absent = 1).
   * Writes loss_b to scalars[lossOffset + b].
   */
  | {
    readonly kind: "mse_loss";
    readonly pred: View;
    readonly target: View;
    readonly mask?: View;
    readonly dpred: View;
    readonly lossOffset: number;
  }
  /**
   * PyTorch Adam over the whole `param` arena (size = batch · paramsPerFit): m, v updates,
   * bias-corrected with t = step + 1; weight decay 0. lr per fit is uniform.
   */
  | {
    readonly kind: "adam";
    readonly size: number;
    readonly lr: number;
    readonly beta1: number;
    readonly beta2: number;
    readonly eps: number;
  }
  /** ema = decay · ema + (1 − decay) · x (at step 0, ema = x). */
  | { readonly kind: "ema"; readonly x: View; readonly ema: View; readonly decay: number }
  /** scalars[offset + b] = PSNR (peak 1) between a and b over all C·H·W of fit b. */
  | { readonly kind: "psnr"; readonly a: View; readonly b: View; readonly offset: number }
  /**
   * ES-WMV (Wang et al., TMLR'23): push x into slot (step mod window) of `ring` (fit b's
   * slot s is the c×h×w tensor at `ring.offset + b * ring.batchStride + s * c * h * w`, i.e.
   * ring.batchStride = window · c · h · w); once step ≥ window − 1, var_b = mean over the window of ‖x_j − mean_window‖² / N
   * (N = C·H·W), written to scalars[varOffset + b]; when var_b < scalars[minOffset + b] (which
   * the trainer initialises to +∞), set it, set scalars[argminOffset + b] = step, and copy x
   * into `best`. All on the device: nothing is read back.
   */
  | {
    readonly kind: "wmv";
    readonly x: View;
    readonly ring: View;
    readonly window: number;
    readonly best: View;
    readonly varOffset: number;
    readonly minOffset: number;
    readonly argminOffset: number;
  };

/** The kind of a {@link Step}: what each backend's kernel registry is keyed by. */
export type StepKind = Step["kind"];

/** The {@link Step} of kind `K`. */
export type StepOf<K extends StepKind> = Extract<Step, { readonly kind: K }>;

/**
 * Every step kind of the plan format, in the order of {@link Step}'s union. Each backend
 * (engine/reference.ts, engine/cpu/schedule.ts, engine/webgpu/kernels.ts) has a kernel for
 * each; tests/layer_registry_test.ts checks it.
 */
export const STEP_KINDS = [
  "conv",
  "bn_act",
  "act",
  "pool",
  "upsample",
  "crop_copy",
  "add",
  "resample_down",
  "conv_bwd_data",
  "conv_bwd_weight",
  "bn_act_bwd",
  "act_bwd",
  "pool_bwd",
  "upsample_bwd",
  "crop_copy_bwd",
  "copy_grad",
  "resample_down_bwd",
  "input_noise",
  "mse_loss",
  "adam",
  "ema",
  "psnr",
  "wmv",
] as const satisfies readonly StepKind[];

// STEP_KINDS lists every kind: this fails to compile when a kind of Step is missing from it.
const _everyStepKindListed: Record<StepKind, true> = Object.fromEntries(
  STEP_KINDS.map((k) => [k, true]),
) as Record<(typeof STEP_KINDS)[number], true>;

/** The data term: what the network output goes through before it is compared with x0. */
export type DataTerm =
  | { readonly kind: "identity" }
  | { readonly kind: "mask" }
  | {
    readonly kind: "downsample";
    readonly factor: number;
    readonly taps: readonly number[];
    readonly pad: number;
  }
  | { readonly kind: "compose"; readonly terms: readonly DataTerm[] };

/** Where the plan keeps what the caller uploads and reads. */
export interface PlanIO {
  /** z0: the fixed input code, `batch` × inputChannels × zh × zw. */
  readonly z0: View;
  /** The perturbed input fed to the network this step. */
  readonly z: View;
  /** The network output (after its head), batch × outC × H × W. */
  readonly output: View;
  /** x0, the observation, at the data term's output size. */
  readonly target: View;
  /** The mask (1 channel), when the data term has one. */
  readonly mask?: View;
  /** EMA of the output. */
  readonly ema: View;
  /** ES-WMV: the output at the minimum windowed variance so far (when early stopping is on). */
  readonly best?: View;
}

/** Per-fit scalars in the `scalars` arena (each `batch` long, starting at these offsets). */
export interface PlanScalars {
  /** The per-fit loss. */
  readonly loss: number;
  /** PSNR of the output (data term applied) against the observation. */
  readonly psnrObserved: number;
  /** ES-WMV: current windowed variance, its minimum so far and the step of that minimum. */
  readonly wmv?: { readonly variance: number; readonly min: number; readonly argmin: number };
}

/** A compiled training step. */
export interface Plan {
  /** Independent fits trained side by side. */
  readonly batch: number;
  /** Height of the network output. */
  readonly height: number;
  /** Width of the network output. */
  readonly width: number;
  /** Parameters of one fit (the network's parameter count). */
  readonly paramsPerFit: number;
  /** Float sizes of each arena (param/grad/adamM/adamV are batch · paramsPerFit). */
  readonly arenaSizes: Readonly<Record<Arena, number>>;
  /**
   * Forward schedule, network input to data-term output. `forward[0]` is the `input_noise`
   * step (z0 → z); a noise-free evaluation copies z0 into z and runs `forward.slice(1)`.
   */
  readonly forward: readonly Step[];
  /** Loss and its gradient. */
  readonly loss: readonly Step[];
  /** Backward schedule, data-term output back to the parameters. */
  readonly backward: readonly Step[];
  /** Optimiser, EMA, PSNR: everything after backward. */
  readonly update: readonly Step[];
  /** Parameter tensors with their PyTorch-default initialisation rule. */
  readonly params: readonly ParamInit[];
  /** Where the caller's uploads and reads live. */
  readonly io: PlanIO;
  /** Offsets of the per-fit scalars. */
  readonly scalars: PlanScalars;
  /** Forward multiply-adds of one fit (for GFLOP/s figures: a step ≈ 3 × forward). */
  readonly forwardMacs: number;
}

/** How a parameter tensor is initialised (PyTorch defaults). */
export type ParamInit =
  /** U(−bound, bound) with bound = 1/sqrt(fanIn): conv weight and bias. */
  | {
    readonly ref: ParamRef;
    readonly init: "uniform";
    readonly fanIn: number;
    readonly name: string;
  }
  /** A constant (BN weight 1, BN bias 0). */
  | {
    readonly ref: ParamRef;
    readonly init: "constant";
    readonly value: number;
    readonly name: string;
  }
  /** Explicit values (a Lanczos downsampler's kernel). */
  | {
    readonly ref: ParamRef;
    readonly init: "values";
    readonly values: Float32Array;
    readonly name: string;
  };

// ---- the shared random generator -------------------------------------------------------

/** PCG hash (O'Neill; the "pcg" of Jarzynski & Olano 2020): one u32 to one u32. */
export function pcgHash(x: number): number {
  const state = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** Uniform in (0, 1] from a u32: (u + 1) / 2^32, computed in f32 as the kernels do. */
export function unitFromU32(u: number): number {
  return Math.fround((Math.fround(u >>> 8) + 1) * Math.fround(1 / 16777216));
}

/**
 * The i-th standard normal draw of (seed, step): Box–Muller on two hashed uniforms. The key is
 * pcgHash(seed ^ pcgHash(step ^ pcgHash(i))); u1 from the key, u2 from pcgHash(key).
 * WGSL and wasm kernels implement exactly this (float32 arithmetic), so backends agree.
 */
export function gaussianAt(seed: number, step: number, index: number): number {
  const key = pcgHash((seed ^ pcgHash((step ^ pcgHash(index >>> 0)) >>> 0)) >>> 0);
  const u1 = unitFromU32(key);
  const u2 = unitFromU32(pcgHash(key));
  return Math.fround(Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
}
