/**
 * `--estimate MS`: each fit's predicted time from a measured ms/step on 512², and the slices
 * of at most one device command's budget that run them, as `bash bench/device_quality.sh`
 * lines (bench/README.md "Full protocol on the GPU machine"). Nothing is fitted.
 *
 * @module
 */
import { resolveFitOptions } from "../../dip/fit.ts";
import type { Item } from "./items.ts";
import { type FitFlags, fitOptions, type Task } from "./protocol.ts";
import { printColumns } from "./table.ts";

/** What the device command spends outside the fits' budget: 600 s, less unpacking and margin. */
export const DEVICE_BUDGET_S = 510;
/** Assumed seconds per fit outside its steps (compiling the kernels, uploads), for --estimate. */
export const DEFAULT_SETUP_S = 10;

/** Side of the square whose pixel count the --estimate's ms/step is given for. */
const ESTIMATE_SIDE = 512;

/**
 * `--estimate MS`: the predicted seconds of every fit at MS ms per step on a 512² image (scaled
 * by each image's output pixels), per task, and the slices of at most the budget that run them.
 */
export function printEstimate(
  items: readonly Item[],
  reduced: boolean,
  flags: FitFlags,
  seeds: readonly number[],
  o: { msAt512: number; budgetS: number; setupS: number },
): void {
  const lines = [["task", "set", "image", "size", "steps", "×512²", "seconds"]];
  const slices: { task: Task; names: string[]; seconds: number }[] = [];
  const fits: { task: Task; name: string; seconds: number }[] = [];
  const totals = new Map<Task, number>();
  for (const item of items) {
    const fit = resolveFitOptions(fitOptions(item.task, reduced, flags, seeds[0]!));
    const scale = (item.clean.width * item.clean.height) / ESTIMATE_SIDE ** 2;
    const seconds = seeds.length * (o.setupS + (fit.iterations * o.msAt512 * scale) / 1000);
    lines.push([
      item.task,
      item.set,
      item.name,
      `${item.clean.width}×${item.clean.height}`,
      String(fit.iterations),
      scale.toFixed(2),
      seconds.toFixed(0),
    ]);
    totals.set(item.task, (totals.get(item.task) ?? 0) + seconds);
    fits.push({ task: item.task, name: item.name, seconds });
  }
  // First fit, longest first, within each task (a slice runs one task).
  for (const task of totals.keys()) {
    const ofTask = fits.filter((f) => f.task === task).sort((a, b) => b.seconds - a.seconds);
    const taskSlices: typeof slices = [];
    for (const f of ofTask) {
      const slice = taskSlices.find((s) => s.seconds + f.seconds <= o.budgetS);
      if (slice) {
        slice.names.push(f.name);
        slice.seconds += f.seconds;
      } else taskSlices.push({ task, names: [f.name], seconds: f.seconds });
    }
    // Shortest first: the first fit of a slice runs unpredicted (FitBudget has no rate yet).
    for (const slice of taskSlices) slice.names.reverse();
    slices.push(...taskSlices);
  }
  printColumns(lines);
  const all = [...totals.values()].reduce((a, b) => a + b, 0);
  console.log(
    `\nat ${o.msAt512} ms/step on 512² (scaled by pixels), ${o.setupS} s setup per fit, ` +
      `${seeds.length} seed${seeds.length === 1 ? "" : "s"}: ` +
      [...totals].map(([task, t]) => `${task} ${(t / 60).toFixed(1)} min`).join(", ") +
      `; all ${(all / 60).toFixed(1)} min of fitting`,
  );
  console.log(`\nslices of at most ${o.budgetS} s (one device command each):`);
  for (const slice of slices) {
    const over = slice.seconds > o.budgetS
      ? "  (one fit is longer than the budget: cannot run)"
      : "";
    console.log(
      `${slice.seconds.toFixed(0).padStart(5)} s  bash bench/device_quality.sh ${slice.task} ` +
        `--only ${slice.names.join(",")}${over}`,
    );
  }
}
