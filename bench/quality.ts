/**
 * `deno task bench:quality`: restoration quality on the paper's benchmark images
 * (shared/data/paper-benchmarks), per image beside the paper's DIP numbers.
 *
 * Full protocol (for GPU machines; the reference presets, whole images):
 * - denoising σ = 25 on the 9 colour images (fresh seeded noise), PSNR on RGB;
 * - SR ×4 on Set5 and Set14: the HR image cropped to the region DIP produced
 *   (valid_region.csv), the LR made by Lanczos downsampling (as PIL's ANTIALIAS), scored as
 *   Y-PSNR with a 4-pixel border;
 * - inpainting with 50% of the pixels missing on the 11 gray images with the masks there
 *   (`inpaint-bernoulli`, the restoration notebook), PSNR over the whole image.
 *
 * `--reduced` protocol (for machines without a GPU; numbers are NOT comparable with the paper's):
 * a centred 64×64 crop of each image (SR: of the valid region, so LR 16×16), a 32-channel net
 * (nd = nu = [32]×5, skip widths capped at 32), and fewer steps: denoising 600, SR 400,
 * inpainting 600 at lr 0.01 (instead of 11000 at 0.001); everything else is the preset. The same
 * crop of the authors' own DIP output is scored beside ours (the "authors" column; for
 * denoising their noise realisation differs from ours). With PyTorch installed it also runs
 * bench/torch_dip.py --fit on the identical observation with identical settings ("torch").
 *
 * ```sh
 * deno task bench:quality --reduced --task denoise --only F16,hill
 * deno task bench:quality --engine webgpu --json > bench/results/quality.json
 * ```
 *
 * Flags: `--task denoise|sr|inpaint|all` (default all), `--reduced`, `--engine E` (default
 * auto), `--threads N`, `--only a,b` (image names), `--iterations N` and `--channels C`
 * (override either protocol), `--seed N`, `--data DIR` (default ../shared/data/paper-benchmarks),
 * `--out DIR` (save our outputs), `--torch` (also run the torch twin in the full protocol; the
 * reduced one runs it unless `--no-torch`), `--python PATH`, `--json` (rows as one object).
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { channelsOverride } from "../cli/fit_common.ts";
import { addGaussianNoise, lanczosDownsample } from "../ops/degrade.ts";
import { binaryMask, type DipFitOptions, fitImage, resolveFitOptions } from "../ops/dip_fit.ts";
import { type Image, makeImage } from "../ops/image.ts";
import { loadImage } from "../ops/load.ts";
import { psnr, psnrY } from "../ops/metrics.ts";
import { cropData } from "../ops/pad.ts";
import { saveImage } from "../ops/save.ts";
import { findTorchPython } from "./side_by_side.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DEFAULT_DATA = join(ROOT, "..", "shared", "data", "paper-benchmarks");

type Task = "denoise" | "sr" | "inpaint";

/** The reduced protocol's settings, per task (see the module doc). */
const REDUCED = {
  crop: 64,
  channels: 32,
  iterations: { denoise: 600, sr: 400, inpaint: 600 } as Record<Task, number>,
  inpaintLr: 0.01,
};

/** One benchmark image: what the fit sees and what it is scored against. */
interface Item {
  readonly task: Task;
  readonly set: string;
  readonly name: string;
  readonly clean: Image;
  readonly observation: Image;
  readonly mask?: Image;
  /** The authors' DIP output on the same region, when published. */
  readonly authors?: Image;
  /** The paper anchor (whole image), dB. */
  readonly anchor?: number;
}

interface Row {
  task: Task;
  set: string;
  image: string;
  size: string;
  ours: number;
  torch?: number;
  authors?: number;
  paper?: number;
  input: number;
  msPerStep: number;
  torchMsPerStep?: number;
  iterations: number;
}

function centreCrop(image: Image, height: number, width: number): Image {
  const h = Math.min(height, image.height);
  const w = Math.min(width, image.width);
  const top = Math.floor((image.height - h) / 2);
  const left = Math.floor((image.width - w) / 2);
  return region(image, top, left, h, w);
}

function region(image: Image, top: number, left: number, height: number, width: number): Image {
  const data = cropData(image.data, image.channels, image.height, image.width, {
    top,
    left,
    bottom: image.height - top - height,
    right: image.width - left - width,
  });
  return makeImage(image.channels, height, width, data, image.name);
}

async function readCsv(path: string): Promise<Record<string, string>[]> {
  const [header, ...lines] = (await Deno.readTextFile(path)).trim().split(/\r?\n/);
  const keys = header!.split(",");
  return lines.map((line) => Object.fromEntries(line.split(",").map((v, i) => [keys[i]!, v])));
}

/** Scores `out` against `clean` with the task's protocol. */
function score(task: Task, out: Image, clean: Image): number {
  return task === "sr" ? psnrY(out, clean, 4) : psnr(out, clean);
}

async function loadItems(
  data: string,
  tasks: Task[],
  reduced: boolean,
  only?: Set<string>,
): Promise<Item[]> {
  const anchors = new Map(
    (await readCsv(join(data, "anchors.csv"))).map((
      r,
    ) => [`${r.task}/${r.image}`, Number(r.dip_psnr)]),
  );
  const shrink = (
    image: Image,
  ) => (reduced ? centreCrop(image, REDUCED.crop, REDUCED.crop) : image);
  const items: Item[] = [];
  const wanted = (name: string) => !only || only.has(name);
  let seed = 1;
  if (tasks.includes("denoise")) {
    for (const [key, anchor] of anchors) {
      const [task, name] = key.split("/") as [string, string];
      if (task !== "denoise_color_sigma25" || !wanted(name)) continue;
      const clean = shrink(await loadImage(join(data, "denoise-color", `${name}.png`)));
      const authors = shrink(
        await loadImage(join(data, "dip-outputs", "denoise-color-sigma25", `${name}.png`)),
      );
      // denoising notebook: σ = 25/255, clipped; seeded per image
      items.push({
        task: "denoise",
        set: "color",
        name,
        clean,
        observation: addGaussianNoise(clean, 25, seed++),
        authors,
        anchor,
      });
    }
  }
  if (tasks.includes("sr")) {
    const regions = await readCsv(join(data, "dip-outputs", "sr-x4", "valid_region.csv"));
    for (const r of regions) {
      if (!wanted(r.image!)) continue;
      const [top, left, height, width] = [r.top, r.left, r.height, r.width].map(Number) as [
        number,
        number,
        number,
        number,
      ];
      const gt = await loadImage(join(data, "sr", r.set!, `${r.image}.png`));
      const out = await loadImage(join(data, "dip-outputs", "sr-x4", r.set!, `${r.image}.png`));
      const clean = shrink(region(gt, top, left, height, width));
      const authors = shrink(region(out, top, left, height, width));
      items.push({
        task: "sr",
        set: r.set!,
        name: r.image!,
        clean,
        observation: lanczosDownsample(clean, 4), // the notebook's LR: PIL ANTIALIAS ÷ 4
        authors: authors.channels === clean.channels ? authors : undefined,
        anchor: anchors.get(`sr_x4_${r.set}/${r.image}`),
      });
    }
  }
  if (tasks.includes("inpaint")) {
    for (const [key, anchor] of anchors) {
      const [task, name] = key.split("/") as [string, string];
      if (task !== "inpaint_gray50" || !wanted(name)) continue;
      const clean = shrink(await loadImage(join(data, "inpaint-gray50", `${name}.png`)));
      const mask = binaryMask(
        shrink(await loadImage(join(data, "inpaint-gray50", `${name}_mask.png`))),
      );
      const observation = makeImage(
        1,
        clean.height,
        clean.width,
        clean.data.map((v, i) => v * mask.data[i]!),
        name,
      );
      const authors = shrink(
        await loadImage(join(data, "dip-outputs", "inpaint-gray50", `${name}.png`)),
      );
      items.push({
        task: "inpaint",
        set: "gray50",
        name,
        clean,
        observation,
        mask,
        authors,
        anchor,
      });
    }
  }
  return items;
}

function fitOptions(
  task: Task,
  reduced: boolean,
  flags: { engine: string; threads?: number; iterations?: number; channels?: number; seed: number },
): DipFitOptions {
  const options: Record<string, unknown> = task === "inpaint"
    ? { task, preset: "inpaint-bernoulli" }
    : task === "sr"
    ? { task, factor: 4 }
    : { task };
  options.engine = flags.engine;
  options.seed = flags.seed;
  if (flags.threads !== undefined) options.threads = flags.threads;
  if (reduced) {
    options.iterations = REDUCED.iterations[task];
    if (task === "inpaint") options.lr = REDUCED.inpaintLr;
  }
  if (flags.iterations !== undefined) options.iterations = flags.iterations;
  const channels = flags.channels ?? (reduced ? REDUCED.channels : undefined);
  if (channels !== undefined) {
    const fit = resolveFitOptions(options as unknown as DipFitOptions);
    options.net = channelsOverride(fit.arch, fit.net as Record<string, unknown>, channels);
  }
  return options as unknown as DipFitOptions;
}

/** Runs bench/torch_dip.py --fit on the same observation and settings. */
async function torchFit(
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

const fmt = (
  v: number | undefined,
  digits = 2,
) => (v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits));

function printTable(rows: Row[], reduced: boolean): void {
  const head = [
    "task",
    "set",
    "image",
    "size",
    "input",
    "ours",
    "torch",
    "authors",
    "paper",
    "ms/step",
  ];
  const lines = [head];
  for (const r of rows) {
    lines.push([
      r.task,
      r.set,
      r.image,
      r.size,
      fmt(r.input),
      fmt(r.ours),
      fmt(r.torch),
      fmt(r.authors),
      fmt(r.paper),
      fmt(r.msPerStep, 1),
    ]);
  }
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    groups.set(`${r.task} ${r.set}`, [...(groups.get(`${r.task} ${r.set}`) ?? []), r]);
  }
  for (const [key, group] of groups) {
    const mean = (pick: (r: Row) => number | undefined) => {
      const values = group.map(pick).filter((v): v is number =>
        v !== undefined && Number.isFinite(v)
      );
      return values.length === group.length
        ? values.reduce((a, b) => a + b, 0) / values.length
        : undefined;
    };
    const [task, set] = key.split(" ");
    lines.push([
      task!,
      set!,
      `mean (${group.length})`,
      "",
      fmt(mean((r) => r.input)),
      fmt(mean((r) => r.ours)),
      fmt(mean((r) => r.torch)),
      fmt(mean((r) => r.authors)),
      fmt(mean((r) => r.paper)),
      "",
    ]);
  }
  const widths = head.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  for (const line of lines) console.log(line.map((cell, i) => cell.padEnd(widths[i]!)).join("  "));
  console.log(
    reduced
      ? "\nreduced protocol: 64² centre crops, 32 channels, fewer steps — compare ours/torch/authors on the same crop; " +
        "the paper column is the whole image at full settings"
      : "\nfull protocol: reference presets on whole images; paper = the authors' published outputs (anchors.csv)",
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    strict: true,
    options: {
      task: { type: "string", default: "all" },
      reduced: { type: "boolean", default: false },
      engine: { type: "string", default: "auto" },
      threads: { type: "string" },
      data: { type: "string", default: DEFAULT_DATA },
      only: { type: "string" },
      iterations: { type: "string" },
      channels: { type: "string" },
      seed: { type: "string", default: "0" },
      torch: { type: "boolean" },
      "no-torch": { type: "boolean" },
      python: { type: "string" },
      out: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const tasks: Task[] = values.task === "all"
    ? ["denoise", "sr", "inpaint"]
    : [values.task as Task];
  for (const t of tasks) {
    if (!["denoise", "sr", "inpaint"].includes(t)) {
      console.error(`quality: expected --task denoise, sr, inpaint or all but received "${t}"`);
      Deno.exit(2);
    }
  }
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const flags = {
    engine: values.engine,
    threads: num(values.threads),
    iterations: num(values.iterations),
    channels: num(values.channels),
    seed: Number(values.seed),
  };
  const useTorch = values.reduced ? !values["no-torch"] : values.torch === true;
  const python = useTorch ? await findTorchPython(values.python) : undefined;
  if (useTorch && !python) {
    console.error(
      "quality: no Python with PyTorch found (tried $DIPLINE_PYTHON, python3, /usr/bin/python3); " +
        "the torch column stays empty",
    );
  }
  const only = values.only ? new Set(values.only.split(",")) : undefined;
  try {
    await Deno.stat(join(values.data, "anchors.csv"));
  } catch {
    console.error(
      `quality: expected the paper benchmarks (anchors.csv) under ${values.data}; pass --data DIR`,
    );
    Deno.exit(1);
  }
  const items = await loadItems(values.data, tasks, values.reduced, only);
  const scratch = await Deno.makeTempDir({ prefix: "dipline-quality-" });
  const rows: Row[] = [];
  try {
    for (const item of items) {
      const options = fitOptions(item.task, values.reduced, flags);
      const result = await fitImage(
        { observation: item.observation, mask: item.mask, clean: item.clean },
        resolveFitOptions(options),
        { name: item.name },
      );
      if (values.out) {
        await saveImage(result.image, join(values.out, `${item.task}_${item.name}.png`));
      }
      const comparable = item.task === "sr" ? undefined : item.observation; // the LR input has another size
      const row: Row = {
        task: item.task,
        set: item.set,
        image: item.name,
        size: `${item.clean.width}×${item.clean.height}`,
        ours: score(item.task, result.image, item.clean),
        authors: item.authors ? score(item.task, item.authors, item.clean) : undefined,
        paper: item.anchor,
        input: comparable ? score(item.task, comparable, item.clean) : Number.NaN,
        msPerStep: result.msPerStep,
        iterations: result.iterations,
      };
      if (python) {
        const torch = await torchFit(python, item, options, flags.threads, scratch);
        row.torch = score(item.task, torch.image, item.clean);
        row.torchMsPerStep = torch.msPerStep;
      }
      rows.push(row);
      if (!values.json) {
        console.error(
          `${item.task} ${item.set}/${item.name}: ours ${fmt(row.ours)} dB` +
            (row.torch !== undefined ? `, torch ${fmt(row.torch)} dB` : "") +
            `, ${result.iterations} steps at ${fmt(result.msPerStep, 1)} ms (${result.engine})`,
        );
      }
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
  if (values.json) console.log(JSON.stringify({ reduced: values.reduced, rows }));
  else printTable(rows, values.reduced);
}
