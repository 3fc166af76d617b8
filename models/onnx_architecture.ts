/**
 * The `onnx` generator family: a network read from an ONNX file (models/onnx_import.ts) and
 * trained like the built-in ones — `dipFit({ arch: "onnx", network: "mynet.onnx" })`. Its
 * options are `file` and `keepWeights` (start from the file's weights instead of the engine's
 * initialisation). The file is read once per path and modification time.
 *
 * @module
 */
import type { Network } from "./graph.ts";
import type { Architecture } from "./architectures.ts";
import { type ImportedNetwork, importOnnx, OnnxImportError } from "./onnx_import.ts";

const cache = new Map<string, { stamp: string; imported: ImportedNetwork }>();

/**
 * Reads and imports an ONNX generator (cached by path, size and modification time).
 *
 * @throws {OnnxImportError} naming the file when it is missing or cannot be imported
 */
export function importOnnxFile(file: string): ImportedNetwork {
  let stamp: string;
  try {
    const info = Deno.statSync(file);
    stamp = `${info.size}@${info.mtime?.getTime() ?? 0}`;
  } catch (error) {
    throw new OnnxImportError(
      error instanceof Deno.errors.NotFound
        ? `${file}: network file not found`
        : `${file}: cannot read the network (${error instanceof Error ? error.message : error})`,
    );
  }
  const hit = cache.get(file);
  if (hit?.stamp === stamp) return hit.imported;
  const imported = importOnnx(Deno.readFileSync(file), { file });
  cache.set(file, { stamp, imported });
  return imported;
}

function fileOf(options: Readonly<Record<string, unknown>>): string {
  const file = options.file;
  if (typeof file !== "string" || file.length === 0) {
    throw new OnnxImportError(
      `arch "onnx": expected the network file (dipFit's network option) but received none`,
    );
  }
  return file;
}

/** The `onnx` entry of models/architectures.ts's registry. */
export const ONNX_ARCHITECTURE: Architecture = {
  build(options, _inputChannels, outputChannels): Network {
    const file = fileOf(options);
    const { network } = importOnnxFile(file);
    // z's channel count is the network's own; the image's channel count must match its output.
    if (network.outputChannels !== outputChannels) {
      throw new OnnxImportError(
        `${file}: the network outputs ${network.outputChannels} channels but the image has ${outputChannels}`,
      );
    }
    return network;
  },
  weights(options) {
    return options.keepWeights === true ? importOnnxFile(fileOf(options)).params : undefined;
  },
  keys: ["file", "keepWeights"],
  perLevel: [],
};
