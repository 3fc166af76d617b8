/**
 * The independent oracle that kernel tests compare against: @tensorflow/tfjs-core on its cpu
 * backend, wrapped to take and return planar NCHW `Float32Array`s. Gradients come from
 * `tf.grads` (automatic differentiation), never from hand-written backward formulas, so a
 * backend's backward kernels are checked against something derived independently. Adam is
 * plain TypeScript in PyTorch's form (tfjs' AdamOptimizer folds eps differently).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
// The union package registers the gradient functions tf.grads needs (tfjs-core alone has none).
import "@tensorflow/tfjs";

await tf.setBackend("cpu");

/** An NCHW shape: n images of c channels, h × w. */
export interface Shape4 {
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
}

/** Padding modes of the engine's conv (reflection = ReflectionPad2d, replicate = edge). */
export type OraclePad = "zero" | "reflection" | "replicate";

/** Activations the engine implements (leaky_relu slope 0.2, elu alpha 1). */
export type OracleAct = "leaky_relu" | "relu" | "swish" | "elu" | "sigmoid" | "none";

/** Seeded uniform values in [-scale, scale) (mulberry32), `size` long. */
export function randomArray(size: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(size);
  let s = seed >>> 0;
  for (let i = 0; i < size; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = (2 * u - 1) * scale;
  }
  return out;
}

/** Largest |a - b| over two equally long arrays (throws on a length mismatch). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new Error(`maxAbsDiff: expected equal lengths but received ${a.length} and ${b.length}`);
  }
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

function data(t: tf.Tensor): Float32Array {
  return new Float32Array(t.dataSync());
}

function nchw(x: Float32Array, s: Shape4): tf.Tensor4D {
  if (x.length !== s.n * s.c * s.h * s.w) {
    throw new Error(
      `Oracle: expected ${
        s.n * s.c * s.h * s.w
      } floats for shape ${s.n}×${s.c}×${s.h}×${s.w} but received ${x.length}`,
    );
  }
  return tf.tensor4d(x, [s.n, s.c, s.h, s.w]);
}

/** Source index of padded coordinate i (0 ≤ i < n + 2p) for reflection or replicate padding. */
function padSource(i: number, n: number, p: number, mode: "reflection" | "replicate"): number {
  const r = i - p;
  if (mode === "replicate") return Math.min(n - 1, Math.max(0, r));
  const a = Math.abs(r);
  return a >= n ? 2 * n - 2 - a : a;
}

/**
 * Pads an NCHW tensor by p on each spatial side. Reflection and replicate are gathers, which
 * tf.grads differentiates correctly (tfjs' MirrorPad gradient only slices, dropping the
 * reflected border's contribution); reflection is cross-checked against tf.mirrorPad.
 */
function padNchw(x: tf.Tensor4D, p: number, mode: OraclePad): tf.Tensor4D {
  if (p === 0) return x;
  const [, , h, w] = x.shape;
  if (mode === "zero") return tf.pad(x, [[0, 0], [0, 0], [p, p], [p, p]]);
  const idx = (n: number) =>
    tf.tensor1d(Array.from({ length: n + 2 * p }, (_, i) => padSource(i, n, p, mode)), "int32");
  const y = tf.gather(tf.gather(x, idx(h), 2), idx(w), 3) as tf.Tensor4D;
  if (mode === "reflection") {
    const m = tf.mirrorPad(x, [[0, 0], [0, 0], [p, p], [p, p]], "reflect");
    const diff = tf.max(tf.abs(tf.sub(m, y))).dataSync()[0]!;
    if (diff > 0) {
      throw new Error(`Oracle padNchw: gather reflection differs from tf.mirrorPad by ${diff}`);
    }
  }
  return y;
}

function convNchw(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  b: tf.Tensor1D | undefined,
  stride: number,
  pad: OraclePad,
  padding?: number,
): tf.Tensor4D {
  const k = w.shape[2];
  const p = padding ?? (k - 1) >> 1;
  const xp = tf.transpose(padNchw(x, p, pad), [0, 2, 3, 1]) as tf.Tensor4D;
  const hwio = tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D;
  let y: tf.Tensor4D = tf.conv2d(xp, hwio, stride, "valid");
  if (b) y = tf.add(y, b);
  return tf.transpose(y, [0, 3, 1, 2]) as tf.Tensor4D;
}

/** Output size of the engine's conv: floor((h + 2p - k) / stride) + 1, p = padding ?? (k-1)/2. */
export function convOutSize(h: number, k: number, stride: number, padding?: number): number {
  return Math.floor((h + 2 * (padding ?? (k - 1) >> 1) - k) / stride) + 1;
}

/**
 * conv(pad(x), w) + bias; w is OIHW [cout][cin][k][k]; returns y (NCHW) and its shape.
 * `padding` overrides (k-1)/2 (the in-network Lanczos downsampler's even k).
 */
export function conv2d(
  x: Float32Array,
  xs: Shape4,
  w: Float32Array,
  cout: number,
  k: number,
  bias: Float32Array | undefined,
  stride: number,
  pad: OraclePad,
  padding?: number,
): { y: Float32Array; shape: Shape4 } {
  const y = tf.tidy(() =>
    data(
      convNchw(
        nchw(x, xs),
        tf.tensor4d(w, [cout, xs.c, k, k]),
        bias ? tf.tensor1d(bias) : undefined,
        stride,
        pad,
        padding,
      ),
    )
  );
  const shape = {
    n: xs.n,
    c: cout,
    h: convOutSize(xs.h, k, stride, padding),
    w: convOutSize(xs.w, k, stride, padding),
  };
  return { y, shape };
}

/** Gradients of conv2d for upstream dy: dx (NCHW), dw (OIHW), dbias (Σ dy per channel). */
export function conv2dGrads(
  x: Float32Array,
  xs: Shape4,
  w: Float32Array,
  cout: number,
  k: number,
  stride: number,
  pad: OraclePad,
  dy: Float32Array,
  padding?: number,
): { dx: Float32Array; dw: Float32Array; dbias: Float32Array } {
  return tf.tidy(() => {
    const ys = {
      n: xs.n,
      c: cout,
      h: convOutSize(xs.h, k, stride, padding),
      w: convOutSize(xs.w, k, stride, padding),
    };
    const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      convNchw(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor1D, stride, pad, padding);
    const [dx, dw, db] = tf.grads(f)(
      [nchw(x, xs), tf.tensor4d(w, [cout, xs.c, k, k]), tf.zeros([cout])],
      nchw(dy, ys),
    );
    return { dx: data(dx!), dw: data(dw!), dbias: data(db!) };
  });
}

function actTensor(x: tf.Tensor, act: OracleAct): tf.Tensor {
  switch (act) {
    case "leaky_relu":
      return tf.leakyRelu(x, 0.2); // reference act('LeakyReLU'): nn.LeakyReLU(0.2)
    case "relu":
      return tf.relu(x);
    case "swish":
      return tf.mul(x, tf.sigmoid(x));
    case "elu":
      return tf.elu(x);
    case "sigmoid":
      return tf.sigmoid(x);
    case "none":
      return tf.mul(x, 1); // an op, so tf.grad has a path from x to y
  }
}

/** act(x) pointwise. */
export function activation(x: Float32Array, act: OracleAct): Float32Array {
  return tf.tidy(() => data(actTensor(tf.tensor1d(x), act)));
}

/** d act(x) / dx · dy pointwise. */
export function activationGrad(x: Float32Array, act: OracleAct, dy: Float32Array): Float32Array {
  return tf.tidy(() =>
    data(tf.grad((a: tf.Tensor) => actTensor(a, act))(tf.tensor1d(x), tf.tensor1d(dy)))
  );
}

const BN_EPS = 1e-5; // PyTorch BatchNorm2d default eps

function bnActNchw(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, act: OracleAct): tf.Tensor {
  const c = x.shape[1];
  const mean = tf.mean(x, [2, 3], true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), [2, 3], true);
  const norm = tf.div(centred, tf.sqrt(tf.add(variance, BN_EPS)));
  const y = tf.add(tf.mul(norm, tf.reshape(gamma, [1, c, 1, 1])), tf.reshape(beta, [1, c, 1, 1]));
  return actTensor(y, act);
}

/**
 * BatchNorm (training mode, statistics per image and channel over H×W, biased variance,
 * eps 1e-5, gamma/beta shared by the n images) then act; also returns mean and 1/sqrt(var+eps)
 * laid out [n][c].
 */
export function bnAct(
  x: Float32Array,
  xs: Shape4,
  gamma: Float32Array,
  beta: Float32Array,
  act: OracleAct,
): { y: Float32Array; mean: Float32Array; invStd: Float32Array } {
  return tf.tidy(() => {
    const t = nchw(x, xs);
    const mean = tf.mean(t, [2, 3], true);
    const variance = tf.mean(tf.square(tf.sub(t, mean)), [2, 3]);
    return {
      y: data(bnActNchw(t, tf.tensor1d(gamma), tf.tensor1d(beta), act)),
      mean: data(mean),
      invStd: data(tf.rsqrt(tf.add(variance, BN_EPS))),
    };
  });
}

/** Gradients of bnAct for upstream dy: dx, dgamma, dbeta (the latter summed over the n images). */
export function bnActGrads(
  x: Float32Array,
  xs: Shape4,
  gamma: Float32Array,
  beta: Float32Array,
  act: OracleAct,
  dy: Float32Array,
): { dx: Float32Array; dgamma: Float32Array; dbeta: Float32Array } {
  return tf.tidy(() => {
    const [dx, dg, db] = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      bnActNchw(a as tf.Tensor4D, g, b, act)
    )([nchw(x, xs), tf.tensor1d(gamma), tf.tensor1d(beta)], nchw(dy, xs));
    return { dx: data(dx!), dgamma: data(dg!), dbeta: data(db!) };
  });
}

function poolNchw(x: tf.Tensor4D, mode: "avg" | "max"): tf.Tensor4D {
  const nhwc = tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D;
  const y = mode === "avg" ? tf.avgPool(nhwc, 2, 2, "valid") : tf.maxPool(nhwc, 2, 2, "valid");
  return tf.transpose(y, [0, 3, 1, 2]) as tf.Tensor4D;
}

/** 2×2 stride-2 average or max pooling; output floor(h/2) × floor(w/2). */
export function pool2(x: Float32Array, xs: Shape4, mode: "avg" | "max"): Float32Array {
  return tf.tidy(() => data(poolNchw(nchw(x, xs), mode)));
}

/** Gradient of pool2 for upstream dy (shape n × c × floor(h/2) × floor(w/2)). */
export function pool2Grad(
  x: Float32Array,
  xs: Shape4,
  mode: "avg" | "max",
  dy: Float32Array,
): Float32Array {
  return tf.tidy(() => {
    const ys = { n: xs.n, c: xs.c, h: xs.h >> 1, w: xs.w >> 1 };
    return data(
      tf.grad((a: tf.Tensor) => poolNchw(a as tf.Tensor4D, mode))(nchw(x, xs), nchw(dy, ys)),
    );
  });
}

/**
 * ×2 upsampling written as gathers and weighted sums, so tf.grads differentiates it correctly
 * (tfjs' ResizeBilinearGrad ignores halfPixelCenters). Nearest: source floor(o/2). Bilinear,
 * align_corners=False: source (o + 0.5)/2 − 0.5 clamped at 0, PyTorch's rule.
 */
function upsampleNchw(x: tf.Tensor4D, mode: "nearest" | "bilinear"): tf.Tensor4D {
  const [, , h, w] = x.shape;
  const axis = (t: tf.Tensor4D, n: number, dim: 2 | 3): tf.Tensor4D => {
    if (mode === "nearest") {
      return tf.gather(
        t,
        tf.tensor1d(Array.from({ length: 2 * n }, (_, o) => o >> 1), "int32"),
        dim,
      ) as tf.Tensor4D;
    }
    const i0: number[] = [];
    const i1: number[] = [];
    const l1: number[] = [];
    for (let o = 0; o < 2 * n; o++) {
      const src = Math.max(0, (o + 0.5) / 2 - 0.5);
      const a = Math.floor(src);
      i0.push(a);
      i1.push(Math.min(a + 1, n - 1));
      l1.push(src - a);
    }
    const shape = dim === 2 ? [1, 1, 2 * n, 1] : [1, 1, 1, 2 * n];
    const lam = tf.tensor(l1, shape);
    const g0 = tf.gather(t, tf.tensor1d(i0, "int32"), dim);
    const g1 = tf.gather(t, tf.tensor1d(i1, "int32"), dim);
    return tf.add(tf.mul(g0, tf.sub(1, lam)), tf.mul(g1, lam)) as tf.Tensor4D;
  };
  return axis(axis(x, h, 2), w, 3);
}

/** ×2 nearest or bilinear (align_corners=False) upsampling, checked against tf.image resize. */
export function upsample2(x: Float32Array, xs: Shape4, mode: "nearest" | "bilinear"): Float32Array {
  return tf.tidy(() => {
    const t = nchw(x, xs);
    const y = upsampleNchw(t, mode);
    // Cross-check the gather form against tfjs' own resize (half-pixel centres for bilinear).
    const nhwc = tf.transpose(t, [0, 2, 3, 1]) as tf.Tensor4D;
    const size: [number, number] = [2 * xs.h, 2 * xs.w];
    const r = mode === "bilinear"
      ? tf.image.resizeBilinear(nhwc, size, false, true)
      : tf.image.resizeNearestNeighbor(nhwc, size, false, false);
    const diff = tf.max(tf.abs(tf.sub(tf.transpose(r, [0, 3, 1, 2]), y))).dataSync()[0]!;
    if (diff > 1e-5) {
      throw new Error(`Oracle upsample2: gather form differs from tf.image by ${diff}`);
    }
    return data(y);
  });
}

/** Gradient of upsample2 for upstream dy (n × c × 2h × 2w). */
export function upsample2Grad(
  xs: Shape4,
  mode: "nearest" | "bilinear",
  dy: Float32Array,
): Float32Array {
  return tf.tidy(() => {
    const ys = { n: xs.n, c: xs.c, h: 2 * xs.h, w: 2 * xs.w };
    return data(
      tf.grad((a: tf.Tensor) => upsampleNchw(a as tf.Tensor4D, mode))(
        tf.zeros([xs.n, xs.c, xs.h, xs.w]),
        nchw(dy, ys),
      ),
    );
  });
}

function resampleDownNchw(
  x: tf.Tensor4D,
  factor: number,
  taps: readonly number[],
  pad: number,
): tf.Tensor4D {
  const c = x.shape[1];
  const t = taps.length;
  const k2: number[] = [];
  for (let i = 0; i < t; i++) {
    for (let j = 0; j < t; j++) for (let ch = 0; ch < c; ch++) k2.push(taps[i]! * taps[j]!);
  }
  const filter = tf.tensor4d(k2, [t, t, c, 1]);
  const xp = tf.transpose(padNchw(x, pad, "replicate"), [0, 2, 3, 1]) as tf.Tensor4D;
  const y = tf.depthwiseConv2d(xp, filter, factor, "valid");
  return tf.transpose(y, [0, 3, 1, 2]) as tf.Tensor4D;
}

/**
 * Fixed depthwise separable downsampling (the reference Downsampler): replicate pad by `pad`,
 * then the separable kernel taps ⊗ taps at stride `factor` on every channel.
 */
export function resampleDown(
  x: Float32Array,
  xs: Shape4,
  factor: number,
  taps: readonly number[],
  pad: number,
): { y: Float32Array; shape: Shape4 } {
  const y = tf.tidy(() => resampleDownNchw(nchw(x, xs), factor, taps, pad));
  const [n, c, h, w] = y.shape;
  const out = { y: data(y), shape: { n, c, h, w } };
  y.dispose();
  return out;
}

/** Gradient of resampleDown for upstream dy. */
export function resampleDownGrad(
  xs: Shape4,
  factor: number,
  taps: readonly number[],
  pad: number,
  dy: Float32Array,
): Float32Array {
  return tf.tidy(() => {
    const f = (a: tf.Tensor) => resampleDownNchw(a as tf.Tensor4D, factor, taps, pad);
    const x = tf.zeros([xs.n, xs.c, xs.h, xs.w]) as tf.Tensor4D;
    const [n, c, h, w] = f(x).shape;
    return data(tf.grad(f)(x, nchw(dy, { n, c, h, w })));
  });
}

function maskedMseNchw(p: tf.Tensor4D, t: tf.Tensor4D, m: tf.Tensor4D | undefined): tf.Tensor {
  const d = m ? tf.mul(tf.sub(p, t), m) : tf.sub(p, t);
  return tf.mean(tf.square(d), [1, 2, 3]);
}

/**
 * Masked MSE per image: loss_b = mean over C·H·W of (m·(pred − target))², m one channel
 * broadcast over C (absent = 1); also d(Σ_b loss_b)/d pred.
 */
export function maskedMse(
  pred: Float32Array,
  target: Float32Array,
  mask: Float32Array | undefined,
  s: Shape4,
): { loss: Float32Array; dpred: Float32Array } {
  return tf.tidy(() => {
    const p = nchw(pred, s);
    const t = nchw(target, s);
    const m = mask ? nchw(mask, { ...s, c: 1 }) : undefined;
    const loss = data(maskedMseNchw(p, t, m));
    const dpred = data(tf.grad((a: tf.Tensor) => tf.sum(maskedMseNchw(a as tf.Tensor4D, t, m)))(p));
    return { loss, dpred };
  });
}

/**
 * One PyTorch Adam step in place (torch.optim.Adam, weight decay 0, t = step + 1):
 * m = β1 m + (1−β1) g; v = β2 v + (1−β2) g²; p −= (lr / (1−β1^t)) · m / (sqrt(v)/sqrt(1−β2^t) + eps).
 * Computed in float64 then stored to float32.
 */
export function adamStep(
  param: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  step: number,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
): void {
  const t = step + 1;
  const bc1 = 1 - Math.pow(beta1, t);
  const bc2 = 1 - Math.pow(beta2, t);
  for (let i = 0; i < param.length; i++) {
    const g = grad[i]!;
    const mi = beta1 * m[i]! + (1 - beta1) * g;
    const vi = beta2 * v[i]! + (1 - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i]! - (lr / bc1) * mi / (Math.sqrt(vi) / Math.sqrt(bc2) + eps);
  }
}
