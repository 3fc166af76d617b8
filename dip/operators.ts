/**
 * Data-term operators: the physics `A` in DIP's energy ‖A(f_θ(z)) − x0‖². Each operator maps
 * to an engine {@link DataTerm} (what the compiled plan runs on the device) and can also be
 * applied on the CPU (tests, benchmarks, computing what the network output "looks like" through
 * the operator). Adding a degradation means adding one operator here and, unless an existing
 * engine step already computes it, its step kind in the engine: {@link gaussianBlur} is the
 * engine's separable `resample_down` step at stride 1.
 *
 * Compositions apply left to right, the first operator to the network output:
 * `compose(lanczosDown(4), mask())` downsamples, then masks at the low resolution. A mask can
 * only come last: the engine applies it inside the loss.
 *
 * @module
 */
import type { DataTerm } from "../engine/plan.ts";
import { downsampleTerm } from "../engine/compile.ts";

/** A data-term operator. */
export interface Operator {
  /** Short description, e.g. `lanczosDown(4) ∘ mask`. */
  readonly name: string;
  /** What the engine compiles. */
  readonly dataTerm: DataTerm;
  /** Whether a 1-channel mask at the output size must be uploaded. */
  readonly usesMask: boolean;
  /** How much smaller the output is than the input, per side (1 unless downsampling). */
  readonly factor: number;
  /** Output height and width for an input of `height × width`. */
  outputSize(height: number, width: number): { height: number; width: number };
  /**
   * Applies the operator to planar CHW data on the CPU; `mask` (1 channel, at the output
   * size) is required when {@link usesMask}.
   */
  apply(
    x: Float32Array,
    channels: number,
    height: number,
    width: number,
    mask?: Float32Array,
  ): Float32Array;
}

/** The identity: denoising, blind JPEG artifact removal, flash/no-flash. */
export function identity(): Operator {
  return {
    name: "identity",
    dataTerm: { kind: "identity" },
    usesMask: false,
    factor: 1,
    outputSize: (height, width) => ({ height, width }),
    apply: (x) => x.slice(),
  };
}

/** Pixel mask (1 known, 0 missing), broadcast over channels: inpainting, padding. */
export function mask(): Operator {
  return {
    name: "mask",
    dataTerm: { kind: "mask" },
    usesMask: true,
    factor: 1,
    outputSize: (height, width) => ({ height, width }),
    apply(x, channels, height, width, m) {
      const plane = height * width;
      if (!m || m.length !== plane) {
        throw new RangeError(
          `operators: expected a 1×${height}×${width} mask for mask() but received ${
            m ? `${m.length} values` : "none"
          }`,
        );
      }
      const out = new Float32Array(channels * plane);
      for (let c = 0; c < channels; c++) {
        for (let i = 0; i < plane; i++) out[c * plane + i] = x[c * plane + i]! * m[i]!;
      }
      return out;
    },
  };
}

/**
 * Lanczos2 downsampling by `factor` (2, 4 or 8): the reference `Downsampler` (lanczos2, phase
 * 0.5, preserve_size: replicate padding, output exactly H/f × W/f; REFERENCE.md §1b), the SR
 * data term.
 */
export function lanczosDown(factor: number): Operator {
  if (factor !== 2 && factor !== 4 && factor !== 8) {
    throw new RangeError(
      `operators: expected 2, 4 or 8 for lanczosDown factor but received ${factor} of type ${typeof factor}`,
    );
  }
  const term = downsampleTerm(factor);
  if (term.kind !== "downsample") {
    throw new Error(`operators: expected a downsample data term but received ${term.kind}`);
  }
  return {
    name: `lanczosDown(${factor})`,
    dataTerm: term,
    usesMask: false,
    factor,
    outputSize(height, width) {
      if (height % factor !== 0 || width % factor !== 0) {
        throw new RangeError(
          `operators: expected a size divisible by ${factor} for lanczosDown(${factor}) but received ${height}×${width}`,
        );
      }
      return { height: height / factor, width: width / factor };
    },
    apply(x, channels, height, width) {
      this.outputSize(height, width);
      return resampleDown(x, channels, height, width, factor, term.taps, term.pad);
    },
  };
}

/** Options of {@link gaussianBlur}. */
export interface GaussianBlurOptions {
  /** Half-width of the kernel in pixels (2·radius + 1 taps); default ⌈3σ⌉. */
  readonly radius?: number;
}

/**
 * The 1-D Gaussian kernel of standard deviation `sigma` (pixels) on `2·radius + 1` taps,
 * exp(−i²/2σ²) for i = −radius … radius, normalised to sum 1 (default radius ⌈3σ⌉, which keeps
 * all but about 0.3% of the continuous kernel's mass before normalising).
 */
export function gaussianTaps(sigma: number, radius: number = Math.ceil(3 * sigma)): number[] {
  if (typeof sigma !== "number" || !(sigma > 0) || !Number.isFinite(sigma)) {
    throw new RangeError(
      `operators: expected a finite sigma > 0 for gaussianBlur but received ${sigma} of type ${typeof sigma}`,
    );
  }
  if (typeof radius !== "number" || !Number.isInteger(radius) || radius < 1) {
    throw new RangeError(
      `operators: expected an integer radius ≥ 1 for gaussianBlur but received ${radius} of type ${typeof radius}`,
    );
  }
  const raw = Array.from({ length: 2 * radius + 1 }, (_, t) => {
    const i = t - radius;
    return Math.exp(-(i * i) / (2 * sigma * sigma));
  });
  const sum = raw.reduce((a, b) => a + b, 0);
  return raw.map((w) => w / sum);
}

/**
 * Gaussian blur of standard deviation `sigma` pixels: a separable correlation with
 * {@link gaussianTaps} (odd width, sum 1) and replicate padding, output the input's size. The
 * deblurring data term. The engine runs it as its `downsample` term with factor 1 (the
 * `resample_down` step: separable taps, stride 1, replicate padding, pad = radius), so every
 * backend computes exactly {@link apply}. Compose with `mask()` for deblurring with missing
 * pixels: `compose(gaussianBlur(2), mask())`.
 */
export function gaussianBlur(sigma: number, options: GaussianBlurOptions = {}): Operator {
  const taps = gaussianTaps(sigma, options.radius);
  const pad = (taps.length - 1) / 2;
  const dataTerm: DataTerm = { kind: "downsample", factor: 1, taps, pad };
  return {
    name: `gaussianBlur(${sigma})`,
    dataTerm,
    usesMask: false,
    factor: 1,
    outputSize: (height, width) => ({ height, width }),
    apply: (x, channels, height, width) => resampleDown(x, channels, height, width, 1, taps, pad),
  };
}

/**
 * Separable strided correlation with replicate padding: out[i] = Σ_t taps[t] · x[clamp(i·f + t
 * − pad)] along rows, then columns (what the engine's `resample_down` step computes).
 */
export function resampleDown(
  x: Float32Array,
  channels: number,
  height: number,
  width: number,
  factor: number,
  taps: readonly number[],
  pad: number,
): Float32Array {
  const outH = Math.floor(height / factor);
  const outW = Math.floor(width / factor);
  const rows = new Float64Array(outH * width);
  const out = new Float32Array(channels * outH * outW);
  const clamp = (i: number, n: number) => Math.min(n - 1, Math.max(0, i));
  for (let c = 0; c < channels; c++) {
    const base = c * height * width;
    for (let oy = 0; oy < outH; oy++) {
      for (let x0 = 0; x0 < width; x0++) {
        let sum = 0;
        for (let t = 0; t < taps.length; t++) {
          sum += taps[t]! * x[base + clamp(oy * factor + t - pad, height) * width + x0]!;
        }
        rows[oy * width + x0] = sum;
      }
    }
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        let sum = 0;
        for (let t = 0; t < taps.length; t++) {
          sum += taps[t]! * rows[oy * width + clamp(ox * factor + t - pad, width)]!;
        }
        out[c * outH * outW + oy * outW + ox] = sum;
      }
    }
  }
  return out;
}

/**
 * Composes operators, applied left to right (the first one to the network output). Nested
 * compositions are flattened, identities dropped; a mask may only come last.
 */
export function compose(...operators: Operator[]): Operator {
  const flat: Operator[] = [];
  for (const op of operators) {
    if (op.dataTerm.kind === "compose") flat.push(...(op as ComposedOperator).parts);
    else if (op.dataTerm.kind !== "identity") flat.push(op);
  }
  flat.forEach((op, i) => {
    if (op.usesMask && i !== flat.length - 1) {
      throw new RangeError(
        `operators: expected mask() last in compose() but received it at position ${
          i + 1
        } of ${flat.length} (${flat.map((o) => o.name).join(" ∘ ")})`,
      );
    }
  });
  if (flat.length === 0) return identity();
  if (flat.length === 1) return flat[0]!;
  const composed: ComposedOperator = {
    name: flat.map((o) => o.name).join(" ∘ "),
    dataTerm: { kind: "compose", terms: flat.map((o) => o.dataTerm) },
    usesMask: flat.some((o) => o.usesMask),
    factor: flat.reduce((f, o) => f * o.factor, 1),
    parts: flat,
    outputSize(height, width) {
      let size = { height, width };
      for (const op of flat) size = op.outputSize(size.height, size.width);
      return size;
    },
    apply(x, channels, height, width, m) {
      let data = x;
      let size = { height, width };
      for (const op of flat) {
        data = op.apply(data, channels, size.height, size.width, op.usesMask ? m : undefined);
        size = op.outputSize(size.height, size.width);
      }
      return data;
    },
  };
  return composed;
}

interface ComposedOperator extends Operator {
  readonly parts: readonly Operator[];
}
