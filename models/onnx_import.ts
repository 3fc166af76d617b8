/**
 * An ONNX graph as a {@link Network} the engine can train: the inverse of
 * models/onnx_export.ts, and a door for generator architectures designed elsewhere.
 *
 * What it reads (default domain, opset 11 or later): Conv (group 1, no dilation, stride 1 or
 * 2, "same" padding (k−1)/2 given by its pads or by a Pad before it: reflect → reflection,
 * edge → replicate, constant 0 → zero; a Pad(edge) + Conv k = 4s or 6s stride s over n→n
 * channels is the reference's Lanczos downsampler), BatchNormalization and
 * InstanceNormalization (both as dipline's BN: each image normalised with its own statistics,
 * as DIP trains it; running means and variances are not used; an activation right after is
 * fused into it), LeakyRelu (α 0.2, the engine's slope), Relu, Sigmoid, Elu (α 1),
 * x·Sigmoid(x) (swish), AveragePool/MaxPool 2×2 stride 2, Resize ×2 by scales (nearest, or
 * linear with half_pixel / pytorch_half_pixel), Concat over channels (Slice crops in front of
 * it are the engine's centre crop), Add, Identity, and Constant.
 *
 * Anything else is refused with the operator and the node that uses it.
 *
 * @example
 * ```ts ignore
 * import { importOnnx } from "./onnx_import.ts";
 * const { network, params, z } = importOnnx(await Deno.readFile("net.onnx"), { file: "net.onnx" });
 * ```
 *
 * @module
 */
import type { onnx as O } from "onnx-proto";
import { layerKind } from "../engine/layers/registry.ts";
import type { Activation, LayerNode, Network, PadMode } from "./graph.ts";
import { inferChannels, paramTensors } from "./count.ts";
import type { CropBox } from "./onnx_export.ts";
import {
  attribute,
  decodeModel,
  floatAttribute,
  type Int64,
  int64,
  intAttribute,
  intsAttribute,
  ONNX_METADATA,
  readFloatTensor,
  readIntTensor,
  stringAttribute,
} from "./onnx.ts";

/** A graph dipline cannot import; the message names the file, and the node where it applies. */
export class OnnxImportError extends Error {
  /** The error's name in messages and stacks. */
  override name = "OnnxImportError";
}

/** What {@link importOnnx} found in the file. */
export interface ImportedNetwork {
  /** The generator as plain data. */
  readonly network: Network;
  /** Its weights, `countParams(network)` floats in `paramTensors(network)` order. */
  readonly params: Float32Array;
  /** z as stored in the file (an initializer), when it is. */
  readonly z?: {
    readonly data: Float32Array;
    readonly channels: number;
    readonly height: number;
    readonly width: number;
  };
  /** The crop box of the metadata (`dipline.crop`), when present. */
  readonly crop?: CropBox;
  /** The default-domain opset the file declares. */
  readonly opset: number;
}

/** Options of {@link importOnnx}. */
export interface OnnxImportOptions {
  /** The file name used in messages. Default "model". */
  readonly file?: string;
}

/** The operators {@link importOnnx} reads, for messages and docs. */
export const ONNX_IMPORT_OPERATORS = [
  "Conv",
  "BatchNormalization",
  "InstanceNormalization",
  "LeakyRelu",
  "Relu",
  "Sigmoid",
  "Elu",
  "Mul (x·Sigmoid(x))",
  "AveragePool",
  "MaxPool",
  "Resize",
  "Concat",
  "Slice (before Concat)",
  "Pad",
  "Add",
  "Identity",
  "Constant",
] as const;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Node = Mutable<LayerNode>;

interface PendingPad {
  readonly input: string;
  readonly mode: "reflect" | "edge" | "constant";
  readonly pads: number[];
  readonly node: string;
}

/**
 * Reads an ONNX model into a network, its weights and its stored z.
 *
 * @throws {OnnxImportError} naming the file (and the node) when the bytes are not an ONNX
 * model, an operator or attribute is not supported, or the graph does not have one input and
 * one output
 */
export function importOnnx(bytes: Uint8Array, options: OnnxImportOptions = {}): ImportedNetwork {
  const file = options.file ?? "model";
  let model: O.ModelProto;
  try {
    model = decodeModel(bytes, file);
  } catch (error) {
    throw new OnnxImportError(error instanceof Error ? error.message : String(error));
  }
  const graph = model.graph!;
  const fail = (message: string): never => {
    throw new OnnxImportError(`${file}: ${message}`);
  };
  const opset = int64(
    model.opsetImport?.find((o) => !o.domain || o.domain === "ai.onnx")?.version as Int64,
  );
  if (opset < 11) {
    fail(
      `expected opset 11 or later (Pad and Resize take their sizes as inputs) but it is ${opset}`,
    );
  }
  const meta = new Map((model.metadataProps ?? []).map((p) => [p.key ?? "", p.value ?? ""]));

  // Constants: initializers and Constant nodes.
  const constants = new Map<string, O.ITensorProto>();
  for (const t of graph.initializer ?? []) constants.set(t.name ?? "", t);
  const consumers = new Map<string, O.INodeProto[]>();
  for (const n of graph.node ?? []) {
    for (const x of n.input ?? []) {
      if (x) consumers.set(x, [...(consumers.get(x) ?? []), n]);
    }
  }
  const outputs = (graph.output ?? []).map((o) => o.name ?? "");
  if (outputs.length !== 1) {
    fail(`expected one output (the image) but the graph has ${outputs.length}`);
  }

  // z: the one input without an initializer, else the one input that has one.
  const inputs = graph.input ?? [];
  const free = inputs.filter((i) => !constants.has(i.name ?? ""));
  const zInfo = free.length > 0 ? free : inputs.filter((i) => constants.has(i.name ?? ""));
  if (zInfo.length !== 1) {
    fail(
      `expected one input (z) but the graph has ${zInfo.length}${
        zInfo.length ? `: ${zInfo.map((i) => i.name).join(", ")}` : ""
      }`,
    );
  }
  const zName = zInfo[0]!.name ?? "";
  const zDims = (zInfo[0]!.type?.tensorType?.shape?.dim ?? []).map((d) =>
    d.dimValue !== null && d.dimValue !== undefined ? int64(d.dimValue as Int64) : undefined
  );
  const zStored = constants.get(zName);
  const zShape = zStored ? (zStored.dims ?? []).map((d) => int64(d as Int64)) : zDims;
  if (zShape.length !== 4) {
    fail(`expected z (${zName}) to be NCHW (rank 4) but it has rank ${zShape.length}`);
  }
  const zChannels = zShape[1];
  if (zChannels === undefined || !(zChannels > 0)) {
    fail(`expected z (${zName}) to declare its channel count but it does not`);
  }
  constants.delete(zName);

  const nodes: Node[] = [{ op: "input", id: zName, channels: zChannels!, downscale: 1 }];
  const byId = new Map<string, Node>([[zName, nodes[0]!]]);
  /** ONNX tensor name → the id of the layer node whose value it is. */
  const alias = new Map<string, string>([[zName, zName]]);
  const pendingPads = new Map<string, PendingPad>();
  const weights = new Map<string, Float32Array>();
  const usedIds = new Set<string>([zName]);

  for (const [index, n] of (graph.node ?? []).entries()) {
    const op = n.opType ?? "";
    const label = n.name || n.output?.[0] || `#${index}`;
    const at = `node "${label}" (${op})`;
    const nodeFail = (why: string): never => fail(`${at}: ${why}`);
    const out = n.output?.[0] ?? "";
    const newId = () => {
      let id = n.name || out || `node${index}`;
      for (let k = 2; usedIds.has(id); k++) id = `${n.name || out}_${k}`;
      usedIds.add(id);
      return id;
    };
    const layer = (name: string | undefined): string => {
      const id = alias.get(name ?? "");
      if (id !== undefined) return id;
      if (pendingPads.has(name ?? "")) {
        return nodeFail(
          `reads the output of Pad "${
            pendingPads.get(name!)!.node
          }"; dipline pads only in front of a Conv`,
        );
      }
      if (constants.has(name ?? "")) {
        return nodeFail(
          `reads the constant ${name} as an activation; dipline's layers read tensors computed from z`,
        );
      }
      return nodeFail(`reads ${name}, which no earlier node computes`);
    };
    const constant = (name: string | undefined, what: string): O.ITensorProto => {
      const t = constants.get(name ?? "");
      if (!t) return nodeFail(`expected ${what} (${name}) to be an initializer or a Constant`);
      return t;
    };
    const add = (node: Node) => {
      nodes.push(node);
      byId.set(node.id, node);
      alias.set(out, node.id);
    };
    const activationOf = (): Activation | undefined => {
      switch (op) {
        case "Relu":
          return "relu";
        case "Sigmoid":
          return "sigmoid";
        case "LeakyRelu": {
          const alpha = floatAttribute(n, "alpha", 0.01);
          if (Math.abs(alpha - 0.2) > 1e-6) {
            nodeFail(`LeakyRelu alpha ${alpha}; the engine's leaky ReLU has slope 0.2`);
          }
          return "leaky_relu";
        }
        case "Elu": {
          const alpha = floatAttribute(n, "alpha", 1);
          if (Math.abs(alpha - 1) > 1e-6) nodeFail(`Elu alpha ${alpha}; the engine's ELU has α 1`);
          return "elu";
        }
        default:
          return undefined;
      }
    };

    const act = activationOf();
    if (act !== undefined) {
      const x = n.input?.[0] ?? "";
      const xId = layer(x);
      const prev = byId.get(xId);
      // Fuse into a BN without activation whose value nobody else reads.
      if (
        prev?.op === "bn" && prev.act === "none" && consumers.get(x)?.length === 1 &&
        !outputs.includes(x)
      ) {
        prev.act = act;
        alias.set(out, prev.id);
      } else add({ op: "act", id: newId(), input: xId, act });
      continue;
    }
    switch (op) {
      case "Constant": {
        const value = attribute(n, "value")?.t;
        if (!value) nodeFail("expected a tensor `value` attribute");
        constants.set(out, { ...value, name: out });
        break;
      }
      case "Identity": {
        const x = n.input?.[0] ?? "";
        if (constants.has(x)) constants.set(out, constants.get(x)!);
        else alias.set(out, layer(x));
        break;
      }
      case "Pad": {
        const mode = stringAttribute(n, "mode", "constant");
        if (mode !== "reflect" && mode !== "edge" && mode !== "constant") {
          nodeFail(`Pad mode "${mode}" (dipline reads reflect, edge and constant 0)`);
        }
        const pads = readIntTensor(constant(n.input?.[1], "pads"), at);
        const value = n.input?.[2]
          ? readFloatTensor(constant(n.input[2], "constant_value"), at)
          : [0];
        if (mode === "constant" && value[0] !== 0) {
          nodeFail(`Pad with the constant ${value[0]}, not 0`);
        }
        if (pads.length !== 8 || pads[0] !== 0 || pads[1] !== 0 || pads[4] !== 0 || pads[5] !== 0) {
          nodeFail(`expected pads over H and W only but received [${pads.join(", ")}]`);
        }
        layer(n.input?.[0]);
        pendingPads.set(out, {
          input: n.input![0]!,
          mode: mode as PendingPad["mode"],
          pads: [pads[2]!, pads[3]!, pads[6]!, pads[7]!],
          node: label,
        });
        break;
      }
      case "Conv": {
        const group = intAttribute(n, "group", 1);
        if (group !== 1) nodeFail(`group ${group} (dipline's convs are full, group 1)`);
        if (intsAttribute(n, "dilations", [1, 1]).some((d) => d !== 1)) {
          nodeFail("dilated convolution (dipline's convs have dilation 1)");
        }
        const w = constant(n.input?.[1], "the weight");
        const wDims = (w.dims ?? []).map((d) => int64(d as Int64));
        if (wDims.length !== 4 || wDims[2] !== wDims[3]) {
          nodeFail(`expected a square 2-D kernel but the weight is [${wDims.join(", ")}]`);
        }
        const [cout, , k] = wDims as [number, number, number, number];
        const strides = intsAttribute(n, "strides", [1, 1]);
        if (strides[0] !== strides[1]) nodeFail(`unequal strides [${strides.join(", ")}]`);
        const stride = strides[0]!;
        const autoPad = stringAttribute(n, "auto_pad", "NOTSET");
        let convPads = intsAttribute(n, "pads", [0, 0, 0, 0]);
        if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
          if (k % 2 === 0 || stride !== 1) {
            nodeFail(`auto_pad ${autoPad} with kernel ${k} stride ${stride}`);
          }
          convPads = [(k - 1) / 2, (k - 1) / 2, (k - 1) / 2, (k - 1) / 2];
        } else if (autoPad !== "NOTSET" && autoPad !== "VALID") nodeFail(`auto_pad ${autoPad}`);
        let x = n.input?.[0] ?? "";
        let mode: "reflect" | "edge" | "constant" = "constant";
        let pads = convPads;
        const pad = pendingPads.get(x);
        if (pad) {
          if (convPads.some((p) => p !== 0) && pad.mode !== "constant") {
            nodeFail(`padding both in Pad "${pad.node}" and in the Conv`);
          }
          pads = pad.pads.map((p, i) => p + convPads[i]!);
          mode = pad.mode;
          x = pad.input;
        }
        const xId = layer(x);
        const bias = n.input?.[2]
          ? readFloatTensor(constant(n.input[2], "the bias"), at)
          : undefined;
        const id = newId();
        const samePads = pads.every((p) => p === pads[0]);
        const cin = inferChannels({ ...partial(nodes, xId), name: file }).get(xId)!;
        if (wDims[1] !== cin) {
          nodeFail(`expected a weight for ${cin} input channels but it is [${wDims.join(", ")}]`);
        }
        // The reference's Lanczos Downsampler: replicate padding (k − s)/2, k = 4s or 6s, n → n.
        if (
          mode === "edge" && samePads && k % 2 === 0 && pads[0] === (k - stride) / 2 &&
          (k === 4 * stride || k === 6 * stride) && cout === cin && bias
        ) {
          add({
            op: "lanczos_down",
            id,
            input: xId,
            factor: stride,
            kernel: k === 4 * stride ? "lanczos2" : "lanczos3",
          });
        } else {
          if (stride !== 1 && stride !== 2) {
            nodeFail(`stride ${stride} (dipline's convs stride 1 or 2)`);
          }
          if (k % 2 === 0 || !samePads || pads[0] !== (k - 1) / 2) {
            nodeFail(
              `kernel ${k} with padding [${
                pads.join(", ")
              }]; dipline's convs pad (k − 1)/2 on every side`,
            );
          }
          const padMode: PadMode = k === 1
            ? "zero"
            : mode === "reflect"
            ? "reflection"
            : mode === "edge"
            ? "replicate"
            : "zero";
          add({
            op: "conv",
            id,
            input: xId,
            outChannels: cout,
            kernel: k,
            stride: stride as 1 | 2,
            pad: padMode,
            bias: bias !== undefined,
          });
        }
        weights.set(`${id}.weight`, readFloatTensor(w, at));
        if (bias) weights.set(`${id}.bias`, bias);
        break;
      }
      case "BatchNormalization":
      case "InstanceNormalization": {
        const xId = layer(n.input?.[0]);
        const id = newId();
        add({ op: "bn", id, input: xId, act: "none" });
        weights.set(`${id}.weight`, readFloatTensor(constant(n.input?.[1], "the scale"), at));
        weights.set(`${id}.bias`, readFloatTensor(constant(n.input?.[2], "the bias"), at));
        break;
      }
      case "Mul": {
        // swish: x · Sigmoid(x), the Sigmoid read by this Mul alone
        const ins = n.input ?? [];
        const swishOf = (t: string, x: string) => {
          const node = byId.get(alias.get(t) ?? "");
          return node?.op === "act" && node.act === "sigmoid" && node.input === alias.get(x) &&
              consumers.get(t)?.length === 1
            ? node
            : undefined;
        };
        const [a, b] = [ins[0] ?? "", ins[1] ?? ""];
        const sig = ins.length === 2 ? swishOf(b, a) ?? swishOf(a, b) : undefined;
        if (!sig) {
          return nodeFail(
            `Mul other than x · Sigmoid(x) (swish); dipline imports ${
              ONNX_IMPORT_OPERATORS.join(", ")
            }`,
          );
        }
        const x = swishOf(b, a) ? a : b;
        const prev = byId.get(sig.input);
        if (
          prev?.op === "bn" && prev.act === "none" && consumers.get(x)?.length === 2 &&
          !outputs.includes(x)
        ) {
          // BN → swish, the BN's value read by this swish alone: one fused layer.
          nodes.splice(nodes.indexOf(sig), 1);
          byId.delete(sig.id);
          prev.act = "swish";
          alias.set(out, prev.id);
        } else {
          sig.act = "swish";
          alias.set(out, sig.id);
        }
        break;
      }
      case "AveragePool":
      case "MaxPool": {
        const kernel = intsAttribute(n, "kernel_shape", []);
        const strides = intsAttribute(n, "strides", [1, 1]);
        const pads = intsAttribute(n, "pads", [0, 0, 0, 0]);
        if (
          kernel.join() !== "2,2" || strides.join() !== "2,2" || pads.some((p) => p !== 0) ||
          intAttribute(n, "ceil_mode", 0) !== 0
        ) {
          nodeFail(
            `pooling ${kernel.join("×")} stride ${
              strides.join("×")
            }; dipline pools 2×2 with stride 2, no padding`,
          );
        }
        add({
          op: "pool",
          id: newId(),
          input: layer(n.input?.[0]),
          mode: op === "AveragePool" ? "avg" : "max",
        });
        break;
      }
      case "Resize": {
        const scalesName = n.input?.[2];
        if (!scalesName) nodeFail("Resize by sizes; dipline reads Resize ×2 given by scales");
        const scales = Array.from(readFloatTensor(constant(scalesName, "the scales"), at));
        if (scales.join() !== "1,1,2,2") {
          nodeFail(
            `Resize scales [${scales.join(", ")}]; dipline upsamples ×2 (scales [1, 1, 2, 2])`,
          );
        }
        const mode = stringAttribute(n, "mode", "nearest");
        const coords = stringAttribute(n, "coordinate_transformation_mode", "half_pixel");
        if (coords === "align_corners" || coords === "tf_crop_and_resize") {
          nodeFail(`Resize coordinate_transformation_mode ${coords}`);
        }
        if (mode === "linear" && coords !== "half_pixel" && coords !== "pytorch_half_pixel") {
          nodeFail(
            `linear Resize with ${coords}; dipline's bilinear is half_pixel (align_corners=False)`,
          );
        }
        if (mode !== "nearest" && mode !== "linear") nodeFail(`Resize mode ${mode}`);
        add({
          op: "upsample",
          id: newId(),
          input: layer(n.input?.[0]),
          mode: mode === "nearest" ? "nearest" : "bilinear",
        });
        break;
      }
      case "Slice": {
        const axes = n.input?.[3] ? readIntTensor(constant(n.input[3], "the axes"), at) : [];
        if (axes.length === 0 || axes.some((a) => a !== 2 && a !== 3 && a !== -1 && a !== -2)) {
          nodeFail("Slice other than a crop of H and W");
        }
        if ((consumers.get(out) ?? []).some((c) => c.opType !== "Concat")) {
          nodeFail(
            "Slice that feeds something other than Concat (dipline's concat crops the centre)",
          );
        }
        alias.set(out, layer(n.input?.[0]));
        break;
      }
      case "Concat": {
        const axis = intAttribute(n, "axis", 1);
        if (axis !== 1 && axis !== -3) {
          nodeFail(`Concat over axis ${axis}; dipline concatenates channels`);
        }
        add({ op: "concat", id: newId(), inputs: (n.input ?? []).map((x) => layer(x)) });
        break;
      }
      case "Add": {
        const ins = n.input ?? [];
        if (ins.length !== 2 || ins.some((x) => constants.has(x))) {
          nodeFail(
            "Add of other than two computed tensors (a constant bias is not a dipline layer)",
          );
        }
        add({ op: "add", id: newId(), inputs: [layer(ins[0]), layer(ins[1])] });
        break;
      }
      default:
        nodeFail(`unsupported operator ${op}; dipline imports ${ONNX_IMPORT_OPERATORS.join(", ")}`);
    }
  }

  const output = alias.get(outputs[0]!);
  if (output === undefined) fail(`the output ${outputs[0]} is not computed by a supported layer`);
  // Drop nodes that do not reach the output (a swish's Sigmoid already merged, dead ends).
  const reach = new Set<string>([output!]);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!;
    if (!reach.has(node.id)) continue;
    if ("input" in node) reach.add(node.input);
    if ("inputs" in node) node.inputs.forEach((x) => reach.add(x));
  }
  const kept = nodes.filter((node) => reach.has(node.id));

  const levels = scaleDepth(kept);
  const downscale = Number(meta.get(ONNX_METADATA.downscale) ?? levels.downscale);
  (kept[0] as Mutable<Extract<LayerNode, { op: "input" }>>).downscale = downscale;
  const outputChannels = inferChannels({ ...partial(kept, output!), name: file }).get(output!)!;
  const network: Network = {
    name: meta.get(ONNX_METADATA.name) || graph.name || file,
    nodes: kept,
    output: output!,
    inputChannels: zChannels!,
    outputChannels,
    sizeMultiple: Number(meta.get(ONNX_METADATA.sizeMultiple) ?? levels.multiple * downscale),
  };

  const tensors = paramTensors(network);
  const params = new Float32Array(tensors.reduce((a, t) => a + t.size, 0));
  let offset = 0;
  for (const t of tensors) {
    const data = weights.get(t.name);
    if (!data || data.length !== t.size) {
      fail(
        `expected ${t.size} values for ${t.name} [${t.shape.join(", ")}] but the file has ${
          data?.length ?? 0
        }`,
      );
    }
    params.set(data!, offset);
    offset += t.size;
  }

  const crop = meta.get(ONNX_METADATA.crop);
  return {
    network,
    params,
    ...(zStored
      ? {
        z: {
          data: readFloatTensor(zStored, file),
          channels: zShape[1]!,
          height: zShape[2]!,
          width: zShape[3]!,
        },
      }
      : {}),
    ...(crop ? { crop: JSON.parse(crop) as CropBox } : {}),
    opset,
  };
}

/** A network made of `nodes` whose output is `output` (for channel inference mid-import). */
function partial(nodes: readonly LayerNode[], output: string): Omit<Network, "name"> {
  return { nodes, output, inputChannels: 0, outputChannels: 0, sizeMultiple: 1 };
}

/**
 * How deep the graph goes: the largest downsampling of any tensor relative to z (the size
 * multiple, when z is at the output's size), and z's own downscale (how much the upsamplings
 * outnumber the downsamplings at the output).
 */
function scaleDepth(nodes: readonly LayerNode[]): { multiple: number; downscale: number } {
  const scale = new Map<string, number>();
  let deepest = 1;
  for (const n of nodes) {
    const kind = layerKind(n.op);
    const inputs = kind.inputs(n);
    const s = inputs.length === 0
      ? 1
      : Math.max(...inputs.map((x) => scale.get(x)!)) * (kind.downscale?.(n) ?? 1);
    scale.set(n.id, s);
    deepest = Math.max(deepest, s);
  }
  const last = scale.get(nodes[nodes.length - 1]!.id) ?? 1;
  // The output at 1/last of z's size: z is `last` times smaller than the output when last < 1.
  const downscale = last < 1 ? Math.round(1 / last) : 1;
  return { multiple: Math.round(deepest), downscale };
}
