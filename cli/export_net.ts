/**
 * `dipline export-net`: writes a preset's generator, untrained, as ONNX — the network at the
 * weights and z a fit with that seed starts from (engine/init.ts's initialisation), for a
 * given output size. Import it again with `dipFit({ arch: "onnx", network })`, or change it in
 * another tool first.
 *
 * @module
 */
import { compilePlan } from "../engine/compile.ts";
import { initParams, inputNoise } from "../engine/init.ts";
import { buildNetwork, runSeeds } from "../dip/fit.ts";
import { resolveFitOptions } from "../dip/options.ts";
import { PRESETS, TASK_NAMES, TASKS } from "../dip/tasks.ts";
import { writeFileAtomic } from "../image/save.ts";
import { countParams } from "../models/count.ts";
import { exportOnnx } from "../models/onnx_export.ts";
import {
  asUsageError,
  type Command,
  expectPositionals,
  numberFlag,
  parseFlags,
  printLine,
  UsageError,
} from "./common.ts";

/** The `export-net` subcommand. */
export const command: Command = {
  name: "export-net",
  summary: "Write a preset's untrained generator (graph, initial weights, z) as ONNX",
  usage: `Usage: dipline export-net --preset NAME -o FILE [--size N] [--channels 1|3] [--seed N]

Writes the generator of a dipFit preset as an ONNX model (opset 17) with the weights and the
input z a fit with that seed starts from. The graph takes no input (z is stored inside; a graph
input named z may override it) and outputs the image as NCHW float in [0, 1]. Train it with
dipFit({ arch: "onnx", network: FILE }) or edit it elsewhere first.

Options:
  --preset NAME   the preset (${Object.keys(PRESETS).join(", ")})
  -o, --out FILE  the .onnx file to write
  --size N        output height and width in pixels (default 256; a multiple of the network's
                  size multiple, 32 for the 5-level presets)
  --channels C    image channels, 1 (gray) or 3 (default 3)
  --seed N        seed of the initial weights and z (default 0)

Example:
  deno task dipline export-net --preset denoise -o net.onnx`,
  async run(args) {
    const { values, positionals } = parseFlags(command, args, {
      preset: { type: "string" },
      out: { type: "string", short: "o" },
      size: { type: "string" },
      channels: { type: "string" },
      seed: { type: "string" },
    });
    expectPositionals(command, positionals, []);
    const preset = values.preset;
    if (preset === undefined || !(preset in PRESETS)) {
      throw new UsageError(
        `export-net: Expected --preset ${Object.keys(PRESETS).join(", ")} but received ${
          preset === undefined ? "none" : JSON.stringify(preset)
        }`,
      );
    }
    if (values.out === undefined) throw new UsageError("export-net: Expected -o FILE");
    const size = numberFlag(command, "size", values.size) ?? 256;
    const channels = numberFlag(command, "channels", values.channels) ?? 3;
    const seed = numberFlag(command, "seed", values.seed) ?? 0;
    if (!Number.isInteger(size) || size < 1) {
      throw new UsageError(`export-net: Expected positive integer for --size but received ${size}`);
    }
    if (channels !== 1 && channels !== 3) {
      throw new UsageError(`export-net: Expected 1 or 3 for --channels but received ${channels}`);
    }
    if (!Number.isInteger(seed) || seed < 0) {
      throw new UsageError(`export-net: Expected integer ≥ 0 for --seed but received ${seed}`);
    }
    const task = TASK_NAMES.find((name) =>
      (TASKS[name].presets as readonly string[]).includes(preset)
    )!;
    let fit;
    try {
      fit = resolveFitOptions({ task, preset } as Parameters<typeof resolveFitOptions>[0]);
    } catch (error) {
      throw asUsageError(command, error);
    }
    // An image z (flash) is the guide photo at fit time; a mid-gray placeholder stands in here.
    const inputChannels = fit.input === "image" ? channels : fit.inputDepth;
    const network = buildNetwork(fit, inputChannels, channels);
    let plan;
    try {
      plan = compilePlan(network, {
        batch: 1,
        height: size,
        width: size,
        dataTerm: { kind: "identity" },
        lr: fit.lr,
        regNoiseStd: 0,
        emaDecay: 0,
      });
    } catch (error) {
      throw new UsageError(
        `export-net: --size ${size} does not fit ${preset}'s network (${
          error instanceof Error ? error.message.replace(/^[^:]*\): /, "") : error
        })`,
      );
    }
    const seeds = runSeeds(seed);
    const { c, h, w } = plan.io.z0;
    const z = fit.input === "image"
      ? new Float32Array(c * h * w).fill(0.5)
      : inputNoise(fit.input, c, h, w, seeds.z);
    const bytes = exportOnnx(network, {
      params: initParams(plan, [seeds.params]),
      z,
      height: size,
      width: size,
      metadata: { "dipline.preset": preset, "dipline.seed": String(seed) },
    });
    await writeFileAtomic(values.out, bytes);
    printLine(
      `${values.out}: ${network.name}, ${countParams(network).toLocaleString("en-US")} ` +
        `parameters, z ${c}×${h}×${w}, ${(bytes.length / 2 ** 20).toFixed(1)} MiB`,
    );
    return 0;
  },
};
