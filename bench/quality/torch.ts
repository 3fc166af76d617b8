/**
 * The PyTorch twin's column: bench/torch_dip.py --fit on the observation and the settings
 * dipline fits, returning its output and its time per step.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type DipFitOptions, resolveFitOptions } from "../../dip/fit.ts";
import { type Image, makeImage } from "../../core/image.ts";
import type { Item } from "./items.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Runs bench/torch_dip.py --fit on the same observation and settings. */
export async function torchFit(
  python: string,
  item: Item,
  options: DipFitOptions,
  threads: number | undefined,
  dir: string,
): Promise<{ image: Image; msPerStep: number }> {
  const fit = resolveFitOptions(options);
  const f = fit.factor;
  const base = join(dir, `${item.task}-${item.set}-${item.name}`);
  await Deno.writeFile(`${base}.obs.f32`, new Uint8Array(item.observation.data.slice().buffer));
  if (item.mask) {
    await Deno.writeFile(`${base}.mask.f32`, new Uint8Array(item.mask.data.slice().buffer));
  }
  const spec = {
    task: item.task,
    observation: `${base}.obs.f32`,
    shape: [item.observation.channels, item.observation.height, item.observation.width],
    mask: item.mask ? `${base}.mask.f32` : undefined,
    factor: f,
    nd: fit.net.channelsDown,
    nu: fit.net.channelsUp,
    ns: fit.net.channelsSkip,
    upsample: fit.net.upsampleMode,
    inputDepth: fit.inputDepth,
    regNoise: fit.regNoise,
    lr: fit.lr,
    iterations: fit.iterations,
    ema: fit.ema,
    backtracking: fit.backtracking,
    checkEvery: fit.checkEvery,
    seed: fit.seed,
    output: `${base}.out.f32`,
  };
  await Deno.writeTextFile(`${base}.json`, JSON.stringify(spec));
  const args = [join(ROOT, "bench", "torch_dip.py"), "--fit", `${base}.json`];
  if (threads !== undefined) args.push("--threads", String(threads));
  const output = await new Deno.Command(python, { args, stdout: "piped", stderr: "piped" })
    .output();
  if (output.code !== 0) {
    throw new Error(
      `quality: torch_dip.py --fit failed: ${new TextDecoder().decode(output.stderr).trim()}`,
    );
  }
  const summary = JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!);
  const bytes = await Deno.readFile(spec.output);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4).slice();
  const { channels, height, width } = item.observation;
  return {
    image: makeImage(channels, height * f, width * f, data, item.name),
    msPerStep: summary.msPerStep,
  };
}
