/**
 * The benchmark images: where each file lies under the data folder (shared/data/
 * paper-benchmarks), the images anchors.csv and valid_region.csv list, what `--stage` copies,
 * and each image loaded as what the fit sees (the observation, the mask) and what it is scored
 * against (the clean image, the authors' output, the paper's anchor).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { addGaussianNoise, lanczosDownsample } from "../../dip/degrade.ts";
import { binaryMask } from "../../dip/fit.ts";
import { type Image, makeImage } from "../../core/image.ts";
import { loadImage } from "../../image/load.ts";
import { cropData } from "../../dip/pad.ts";
import { REDUCED, type Task } from "./protocol.ts";

/** One benchmark image: what the fit sees and what it is scored against. */
export interface Item {
  /** The task. */
  readonly task: Task;
  /** The image set (color, set5, set14, gray50). */
  readonly set: string;
  /** The image's name (file stem). */
  readonly name: string;
  /** The ground truth the output is scored against. */
  readonly clean: Image;
  /** What the fit sees (the LR image for SR). */
  readonly observation: Image;
  /** Inpainting: 1 where the pixel is known. */
  readonly mask?: Image;
  /** The authors' DIP output on the same region, when published. */
  readonly authors?: Image;
  /** The paper anchor (whole image), dB. */
  readonly anchor?: number;
}

/** One benchmark image as anchors.csv and valid_region.csv list it, before anything is loaded. */
export interface Entry {
  /** The task. */
  readonly task: Task;
  /** The image set. */
  readonly set: string;
  /** The image's name. */
  readonly name: string;
  /** The paper anchor (anchors.csv), dB. */
  readonly anchor?: number;
  /** Denoising: the seed of the noise (the image's place among the denoising anchors). */
  readonly noiseSeed?: number;
  /** SR: the region DIP produced (top, left, height, width). */
  readonly region?: readonly [number, number, number, number];
}

/** Where each benchmark file lies under the data folder (what `--stage` copies). */
export const FILES = {
  anchors: "anchors.csv",
  regions: join("dip-outputs", "sr-x4", "valid_region.csv"),
  clean: (task: Task, set: string, name: string) =>
    task === "denoise"
      ? join("denoise-color", `${name}.png`)
      : task === "sr"
      ? join("sr", set, `${name}.png`)
      : join("inpaint-gray50", `${name}.png`),
  mask: (name: string) => join("inpaint-gray50", `${name}_mask.png`),
  authors: (task: Task, set: string, name: string) =>
    task === "denoise"
      ? join("dip-outputs", "denoise-color-sigma25", `${name}.png`)
      : task === "sr"
      ? join("dip-outputs", "sr-x4", set, `${name}.png`)
      : join("dip-outputs", "inpaint-gray50", `${name}.png`),
};

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

/** The benchmark images of `tasks` (all of them; `--only` filters later), in table order. */
export async function listEntries(data: string, tasks: readonly Task[]): Promise<Entry[]> {
  const anchorRows = await readCsv(join(data, FILES.anchors));
  const anchors = new Map(anchorRows.map((r) => [`${r.task}/${r.image}`, Number(r.dip_psnr)]));
  const entries: Entry[] = [];
  if (tasks.includes("denoise")) {
    // The noise seed is the image's place in anchors.csv, whatever --only selects.
    let noiseSeed = 1;
    for (const r of anchorRows) {
      if (r.task !== "denoise_color_sigma25") continue;
      const name = r.image!;
      entries.push({
        task: "denoise",
        set: "color",
        name,
        anchor: anchors.get(`${r.task}/${name}`),
        noiseSeed: noiseSeed++,
      });
    }
  }
  if (tasks.includes("sr")) {
    for (const r of await readCsv(join(data, FILES.regions))) {
      const box = [r.top, r.left, r.height, r.width].map(Number);
      if (box.length !== 4 || box.some((v) => !Number.isInteger(v) || v < 0)) {
        throw new Error(
          `quality: expected integer top,left,height,width in ${FILES.regions} for ${r.image} ` +
            `but received ${JSON.stringify(r)}`,
        );
      }
      entries.push({
        task: "sr",
        set: r.set!,
        name: r.image!,
        anchor: anchors.get(`sr_x4_${r.set}/${r.image}`),
        region: box as unknown as Entry["region"],
      });
    }
  }
  if (tasks.includes("inpaint")) {
    for (const r of anchorRows) {
      if (r.task !== "inpaint_gray50") continue;
      entries.push({ task: "inpaint", set: "gray50", name: r.image!, anchor: Number(r.dip_psnr) });
    }
  }
  return entries;
}

/** Images per task/set (anchors.csv), the denominators of the paper verdicts. */
export function setSizes(entries: readonly Entry[]): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const e of entries) sizes[`${e.task}/${e.set}`] = (sizes[`${e.task}/${e.set}`] ?? 0) + 1;
  return sizes;
}

/** The files (relative to the data folder) the entries read; the authors' outputs are optional. */
function entryFiles(entries: readonly Entry[]): { needed: string[]; optional: string[] } {
  const needed = new Set<string>([FILES.anchors]);
  const optional: string[] = [];
  for (const e of entries) {
    if (e.task === "sr") needed.add(FILES.regions);
    needed.add(FILES.clean(e.task, e.set, e.name));
    if (e.task === "inpaint") needed.add(FILES.mask(e.name));
    optional.push(FILES.authors(e.task, e.set, e.name));
  }
  return { needed: [...needed], optional };
}

/** `--stage DIR`: copies the files the selected images need (not the authors' outputs). */
export async function stageFiles(
  data: string,
  dir: string,
  entries: readonly Entry[],
): Promise<void> {
  const { needed } = entryFiles(entries);
  let bytes = 0;
  for (const file of needed) {
    const to = join(dir, file);
    await Deno.mkdir(dirname(to), { recursive: true });
    await Deno.copyFile(join(data, file), to);
    bytes += (await Deno.stat(to)).size;
  }
  console.error(
    `quality: staged ${needed.length} files (${(bytes / 2 ** 20).toFixed(1)} MiB) of ` +
      `${entries.length} images into ${dir}`,
  );
}

/** Loads an image that may be absent (the authors' outputs are not staged for the device). */
async function loadOptional(path: string): Promise<Image | undefined> {
  try {
    await Deno.stat(path);
  } catch {
    return undefined;
  }
  return await loadImage(path);
}

/**
 * Loads the entries' images and makes each observation: SR's LR by Lanczos ÷ 4 of the valid
 * region, denoising's seeded σ = 25 noise, inpainting's masked image; `reduced` crops each to
 * the reduced protocol's centre crop.
 */
export async function loadItems(
  data: string,
  entries: readonly Entry[],
  reduced: boolean,
): Promise<Item[]> {
  const shrink = (image: Image) => reduced ? centreCrop(image, REDUCED.crop, REDUCED.crop) : image;
  const items: Item[] = [];
  for (const e of entries) {
    const file = (path: string) => join(data, path);
    const published = await loadOptional(file(FILES.authors(e.task, e.set, e.name)));
    let clean: Image;
    let observation: Image;
    let mask: Image | undefined;
    let authors: Image | undefined;
    if (e.task === "sr") {
      const [top, left, height, width] = e.region!;
      const gt = await loadImage(file(FILES.clean(e.task, e.set, e.name)));
      if (top + height > gt.height || left + width > gt.width || gt.channels !== 3) {
        throw new Error(
          `quality: expected an RGB image of at least ${left + width}×${top + height} (the SR ` +
            `region of ${FILES.regions}) in ${FILES.clean(e.task, e.set, e.name)} but received ` +
            `${gt.channels} channels, ${gt.width}×${gt.height}`,
        );
      }
      clean = shrink(region(gt, top, left, height, width));
      observation = lanczosDownsample(clean, 4); // the notebook's LR: PIL ANTIALIAS ÷ 4
      authors = published && shrink(region(published, top, left, height, width));
    } else {
      clean = shrink(await loadImage(file(FILES.clean(e.task, e.set, e.name))));
      authors = published && shrink(published);
      if (e.task === "denoise") {
        // denoising notebook: σ = 25/255, clipped; seeded per image
        observation = addGaussianNoise(clean, 25, e.noiseSeed!);
      } else {
        const known = binaryMask(shrink(await loadImage(file(FILES.mask(e.name)))));
        if (known.height !== clean.height || known.width !== clean.width) {
          throw new Error(
            `quality: expected a ${clean.width}×${clean.height} mask in ${FILES.mask(e.name)} ` +
              `but received ${known.width}×${known.height}`,
          );
        }
        mask = known;
        observation = makeImage(
          1,
          clean.height,
          clean.width,
          clean.data.map((v, i) => v * known.data[i]!),
          e.name,
        );
      }
    }
    items.push({
      task: e.task,
      set: e.set,
      name: e.name,
      clean,
      observation,
      mask,
      // An output with other channels than the ground truth is not scored.
      authors: authors?.channels === clean.channels ? authors : undefined,
      anchor: e.anchor,
    });
  }
  return items;
}
