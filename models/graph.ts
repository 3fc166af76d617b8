/**
 * Networks as plain data: a topologically ordered list of layer nodes. No GPU objects here,
 * so a network can be printed, counted, tested and compiled by more than one engine backend.
 *
 * Tensors are NCHW float32. Every node has a unique `id`; `input`/`inputs` name earlier nodes.
 *
 * @module
 */

/** Pointwise nonlinearities. `leaky_relu` uses slope 0.2 (reference `act('LeakyReLU')`). */
export type Activation = "leaky_relu" | "relu" | "swish" | "elu" | "sigmoid" | "none";

/** How a convolution pads: `reflection` (ReflectionPad2d((k-1)/2)), `zero`, or `replicate`. */
export type PadMode = "reflection" | "zero" | "replicate";

/** One layer of a network. */
export type LayerNode =
  /**
   * The network's input z: `channels` planes at the fit's size divided by `downscale`
   * (1 for DIP's skip nets; 2^layers for the Deep Decoder, whose z is small).
   */
  | { op: "input"; id: string; channels: number; downscale: number }
  /**
   * 2-D convolution, bias optional, "same" padding of (k-1)/2 in `pad` mode, then `stride`.
   * Output size: floor((H + 2p - k) / stride) + 1 with p = (k-1)/2 (k odd) — PyTorch's rule.
   */
  | {
    op: "conv";
    id: string;
    input: string;
    outChannels: number;
    kernel: number;
    stride: 1 | 2;
    pad: PadMode;
    bias: boolean;
  }
  /** BatchNorm2d in training mode with per-image statistics (eps 1e-5), affine, then `act`. */
  | { op: "bn"; id: string; input: string; act: Activation }
  /** A pointwise activation on its own. */
  | { op: "act"; id: string; input: string; act: Activation }
  /** 2×2 pooling with stride 2 (`avg` or `max`); output floor(H/2)×floor(W/2). */
  | { op: "pool"; id: string; input: string; mode: "avg" | "max" }
  /**
   * The reference's Lanczos `Downsampler` inside a network: a trainable full n→n conv with
   * stride `factor` initialised to the Lanczos kernel on the diagonal (bias 0), replicate
   * padding to keep exactly H/factor.
   */
  | {
    op: "lanczos_down";
    id: string;
    input: string;
    factor: number;
    kernel: "lanczos2" | "lanczos3";
  }
  /** ×2 upsampling; bilinear uses align_corners=False (PyTorch ≥ 0.4 semantics). */
  | { op: "upsample"; id: string; input: string; mode: "nearest" | "bilinear" }
  /** Channel concat; every input is centre-cropped to the smallest H and W (reference `Concat`). */
  | { op: "concat"; id: string; inputs: string[] }
  /** Elementwise sum of two tensors of one shape (ResNet blocks). */
  | { op: "add"; id: string; inputs: [string, string] };

/** A network: nodes in topological order; `output` names the node whose value is the image. */
export interface Network {
  /** Human-readable name, e.g. `skip(32→3, nd=[128×5], ns=[4×5])`. */
  readonly name: string;
  /** The layers, in topological order. */
  readonly nodes: readonly LayerNode[];
  /** Id of the node whose value is the image. */
  readonly output: string;
  /** Channels of z. */
  readonly inputChannels: number;
  /** Channels of the output image. */
  readonly outputChannels: number;
  /**
   * The input height and width must be a multiple of this (2^levels for skip/hourglass);
   * dipFit pads the image up to it and crops the result back.
   */
  readonly sizeMultiple: number;
}
