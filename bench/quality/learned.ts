/**
 * The baselines beside DIP in the SR rows: bicubic upsampling (MATLAB's imresize, the SR
 * papers' baseline) and the learned ESRGAN models that ship on npm (ops/model_named.ts), run on
 * the same ×4 LR image through the `model` op's code (onnxruntime-web, wasm) and scored with the
 * same protocol (Y-PSNR, 4-pixel border). Neither depends on a fit or a seed.
 *
 * @module
 */
import { bicubicUpsample } from "../../image/resize.ts";
import { applyModel, loadModel } from "../../ops/model.ts";
import type { ImageModel } from "../../ops/model_runtime.ts";
import { MODEL_NAMES, type ModelName } from "../../ops/model_named.ts";
import type { Item } from "./items.ts";
import { score } from "./protocol.ts";

/** The learned models with a column, in column order. */
export const LEARNED_MODELS: readonly ModelName[] = MODEL_NAMES;

/** The scores of one SR image by the baselines (dB), and the learned models' milliseconds. */
export interface BaselineScores {
  /** Bicubic ×4. */
  readonly bicubic?: number;
  /** Each learned model's score, by name. */
  readonly learned?: Readonly<Record<string, number>>;
  /** Each learned model's wall time on this image (ms, the model loaded already). */
  readonly learnedMs?: Readonly<Record<string, number>>;
}

const loaded = new Map<ModelName, Promise<ImageModel>>();

/**
 * Scores an SR item's observation upsampled ×4 by bicubic and by each of `models`; any other
 * task has no baselines (an empty object).
 */
export async function baselineScores(
  item: Item,
  models: readonly ModelName[],
): Promise<BaselineScores> {
  if (item.task !== "sr") return {};
  const factor = Math.round(item.clean.width / item.observation.width);
  const bicubic = score(item.task, bicubicUpsample(item.observation, factor), item.clean);
  const learned: Record<string, number> = {};
  const learnedMs: Record<string, number> = {};
  for (const name of models) {
    const options = { name, factor } as const;
    if (!loaded.has(name)) loaded.set(name, loadModel(options));
    const model = await loaded.get(name)!;
    const started = performance.now();
    const out = await applyModel(item.observation, model, options);
    learnedMs[name] = performance.now() - started;
    learned[name] = score(item.task, out, item.clean);
  }
  return { bicubic, learned, learnedMs };
}

/**
 * Reads `--esrgan`: `all` (the default), `none`, or a comma list of model names with or without
 * the `esrgan-` prefix (`slim,thick`).
 *
 * @throws {RangeError} naming an unknown model
 */
export function parseLearnedFlag(value: string | undefined): ModelName[] {
  if (value === undefined || value === "all") return [...LEARNED_MODELS];
  if (value === "none") return [];
  return value.split(",").map((part) => {
    const name = (part.startsWith("esrgan-") ? part : `esrgan-${part}`) as ModelName;
    if (!LEARNED_MODELS.includes(name)) {
      throw new RangeError(
        `quality: expected --esrgan all, none or a list of ${
          LEARNED_MODELS.join(", ")
        } but received "${part}"`,
      );
    }
    return name;
  });
}
