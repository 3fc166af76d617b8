/**
 * Seeded parameter initialisation (PyTorch defaults) and the reference input codes z.
 *
 * The generator is counter based, so a value depends only on (seed, stream, index), never on
 * the order things are drawn in: u = pcgHash(pcgHash(index) ^ key) / 2^32 with
 * key = pcgHash(seed ^ pcgHash(stream)), keeping the top 24 bits so u is exact in float32.
 * Every backend calls {@link initParams}, so all start from the same numbers.
 *
 * @module
 */
import { pcgHash, type Plan } from "./plan.ts";

/** Independent streams of the generator for one seed. */
const STREAM_PARAMS = 1;
const STREAM_NOISE = 2;
const STREAM_NOISE_2 = 3;

/** The index-th uniform in [0, 1) of (seed, stream); 24-bit resolution. */
export function uniformAt(seed: number, stream: number, index: number): number {
  const key = pcgHash((seed ^ pcgHash(stream >>> 0)) >>> 0);
  return (pcgHash((pcgHash(index >>> 0) ^ key) >>> 0) >>> 8) / 16777216;
}

/**
 * The initial parameters of every fit, `batch · paramsPerFit` long (fit b's at
 * b · paramsPerFit), following each tensor's rule in `plan.params`: conv weight and bias
 * U(−1/√fanIn, 1/√fanIn) (PyTorch ≥ 1.0: kaiming_uniform with a = √5 gives this bound for
 * weights, and the bias uses the same fan-in), BN weight 1 and bias 0 (PyTorch ≥ 1.2),
 * explicit values for an in-network Lanczos kernel. Fit b draws from seed `seeds[b]`; a value
 * depends on its offset within the fit, so equal seeds give equal fits.
 *
 * @example
 * ```ts
 * import { compilePlan } from "./compile.ts";
 * import { initParams } from "./init.ts";
 * import { skip } from "../models/mod.ts";
 * const plan = compilePlan(skip({ channelsDown: [8, 8] }), {
 *   batch: 2, height: 16, width: 16, dataTerm: { kind: "identity" },
 *   lr: 0.01, regNoiseStd: 0, emaDecay: 0,
 * });
 * const params = initParams(plan, [1, 2]);
 * ```
 */
export function initParams(plan: Plan, seeds: readonly number[]): Float32Array {
  if (seeds.length !== plan.batch) {
    throw new RangeError(
      `initParams: expected ${plan.batch} seeds (one per fit) but received ${seeds.length}`,
    );
  }
  const out = new Float32Array(plan.batch * plan.paramsPerFit);
  seeds.forEach((seed, b) => {
    const base = b * plan.paramsPerFit;
    for (const p of plan.params) {
      const { offset, size } = p.ref;
      if (p.init === "uniform") {
        const bound = 1 / Math.sqrt(p.fanIn);
        for (let i = 0; i < size; i++) {
          out[base + offset + i] = (2 * uniformAt(seed, STREAM_PARAMS, offset + i) - 1) * bound;
        }
      } else if (p.init === "constant") {
        out.fill(p.value, base + offset, base + offset + size);
      } else {
        if (p.values.length !== size) {
          throw new RangeError(
            `initParams: expected ${size} values for ${p.name} but received ${p.values.length}`,
          );
        }
        out.set(p.values, base + offset);
      }
    }
  });
  return out;
}

/**
 * The reference `get_noise(channels, kind, (h, w), distribution, var=scale)`:
 * - `"noise"`: U[0, 1) · scale (distribution "u", the default) or N(0, 1) · scale ("n");
 * - `"meshgrid"`: 2 channels, X then Y, each a linspace over [0, 1] (not scaled).
 *
 * Returns channels × h × w floats, planar.
 *
 * @example
 * ```ts
 * import { inputNoise } from "./init.ts";
 * const z = inputNoise("noise", 32, 64, 64, 7); // the notebooks' z: U(0, 1) · 0.1
 * ```
 */
export function inputNoise(
  kind: "noise" | "meshgrid",
  channels: number,
  h: number,
  w: number,
  seed: number,
  scale = 0.1, // reference get_noise var=1./10
  distribution: "u" | "n" = "u",
): Float32Array {
  for (const [name, v] of [["channels", channels], ["h", h], ["w", w]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`inputNoise: expected a positive integer ${name} but received ${v}`);
    }
  }
  const out = new Float32Array(channels * h * w);
  if (kind === "meshgrid") {
    if (channels !== 2) {
      throw new RangeError(
        `inputNoise: expected 2 channels for a meshgrid but received ${channels}`,
      );
    }
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        out[y * w + x] = w > 1 ? x / (w - 1) : 0;
        out[h * w + y * w + x] = h > 1 ? y / (h - 1) : 0;
      }
    }
    return out;
  }
  for (let i = 0; i < out.length; i++) {
    if (distribution === "u") {
      out[i] = uniformAt(seed, STREAM_NOISE, i) * scale;
    } else {
      // Box–Muller; 1 − u keeps the log's argument in (0, 1].
      const u1 = 1 - uniformAt(seed, STREAM_NOISE, i);
      const u2 = uniformAt(seed, STREAM_NOISE_2, i);
      out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2) * scale;
    }
  }
  return out;
}
