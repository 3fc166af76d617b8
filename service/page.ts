/**
 * The web page `dipline serve` answers at `/`: a static page (service/page/) that talks to the
 * `/v1` API like any client — submit an image with a recipe built from a task and its main
 * options, watch the fit live (previews, curves, step and ETA over the event stream), compare
 * observation and result, download it, and list or cancel jobs.
 *
 * Every asset is served from here, none from a CDN: the page's own files, uPlot (the charts)
 * from its pinned npm package in Deno's npm cache, and `tasks.json`, the tasks and presets
 * the form offers, from dip/tasks.ts. The assets carry no secret and need no token; the page
 * asks for the token once (when the API answers 401) and keeps it in sessionStorage.
 *
 * @module
 */
// Imported so that Deno caches the package with the service; the page reads its files.
import "uplot";
import type { Hono } from "hono";
import { defaultStopRule, stopsByDefault } from "../dip/stopping.ts";
import { channelsOverride, PRESETS, type TaskName, TASKS, type TaskSpec } from "../dip/tasks.ts";
import { packageFolders } from "../ops/model_named.ts";
import { ApiError } from "./errors.ts";

/** The uPlot version deno.json pins (a test checks they agree). */
export const UPLOT_VERSION = "1.6.32";

/** The tasks the page offers, with what its form asks for each. */
const PAGE_TASKS: readonly { task: TaskName; label: string; degrade: string }[] = [
  { task: "denoise", label: "Denoise", degrade: "Gaussian noise σ 25" },
  { task: "jpeg", label: "Remove JPEG artifacts", degrade: "JPEG quality 10" },
  { task: "sr", label: "Super-resolution", degrade: "downsample by the factor" },
  { task: "deblur", label: "Deblur", degrade: "blur σ, then noise σ 5" },
  { task: "inpaint", label: "Inpaint (half the pixels missing)", degrade: "drop 50% of pixels" },
  { task: "poisson", label: "Low light (shot noise)", degrade: "Poisson noise at the peak" },
];

/** Network widths the form offers besides the preset's own. */
const PAGE_WIDTHS = [32, 8];

/**
 * `tasks.json`: what the form offers (tasks, presets with their steps, the stopping rule), from
 * dip/tasks.ts and dip/stopping.ts.
 */
export function pageTasks(): unknown {
  return PAGE_TASKS.map(({ task, label, degrade }) => {
    const spec: TaskSpec = TASKS[task];
    return {
      task,
      label,
      summary: spec.summary,
      degrade,
      // Inpainting needs a mask: the page makes one by degrading a clean image.
      needsDegrade: (spec.images ?? []).some((image) => image.role === "mask"),
      options: Object.keys(spec.options),
      // The form's "stop early" box starts as a fit without the option would run (dipFit's
      // per-task default, dip/stopping.ts), and names the rule it runs.
      stopRule: defaultStopRule(task),
      stopsByDefault: stopsByDefault(task),
      presets: spec.presets.map((name) => {
        const preset = PRESETS[name]!;
        return {
          name,
          iterations: preset.iterations,
          // Narrower networks than the paper's: faster, for a first look on a CPU.
          widths: PAGE_WIDTHS.map((channels) => ({
            channels,
            net: channelsOverride(preset.arch, preset.net, channels),
          })),
        };
      }),
    };
  });
}

const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/page/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/page/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
};

const UPLOT_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  "/page/uplot.js": { file: "dist/uPlot.iife.min.js", type: "text/javascript; charset=utf-8" },
  "/page/uplot.css": { file: "dist/uPlot.min.css", type: "text/css; charset=utf-8" },
};

/** uPlot's file in the npm cache. @throws {ApiError} when the package is not cached */
async function uplotFile(file: string): Promise<Uint8Array<ArrayBuffer>> {
  for (const folder of packageFolders("uplot", UPLOT_VERSION)) {
    try {
      return await Deno.readFile(`${folder}/${file}`);
    } catch {
      // not here
    }
  }
  throw new ApiError("not_found", `uplot@${UPLOT_VERSION} is not in the npm cache`);
}

/** Adds the page's routes (`/`, `/page/*`) to the app. */
export function mountPage(app: Hono): void {
  const headers = (type: string) => ({
    "Content-Type": type,
    "Cache-Control": "no-cache",
    // The page loads nothing from elsewhere; this says so to the browser as well.
    "Content-Security-Policy":
      "default-src 'self'; img-src 'self' data: blob:; connect-src 'self' blob:; " +
      "style-src 'self' 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
  });
  for (const [path, { file, type }] of Object.entries(ASSETS)) {
    app.get(path, async (c) => {
      const body = await Deno.readFile(new URL(`./page/${file}`, import.meta.url));
      return c.body(body, 200, headers(type));
    });
  }
  for (const [path, { file, type }] of Object.entries(UPLOT_FILES)) {
    app.get(path, async (c) => c.body(await uplotFile(file), 200, headers(type)));
  }
  app.get("/page/tasks.json", (c) => c.json(pageTasks()));
}

/**
 * Previews on by default in the service: every dipFit step of a submitted recipe that does
 * not say otherwise records about 40 small previews over its run (the page shows them live).
 */
export function withPreviews(document: unknown): unknown {
  const doc = document as { steps?: { op?: string; options?: Record<string, unknown> }[] };
  if (!doc || !Array.isArray(doc.steps)) return document;
  return {
    ...doc,
    steps: doc.steps.map((step) => {
      if (step?.op !== "dipFit" || step.options?.previewEvery !== undefined) return step;
      const options = step.options ?? {};
      const task: TaskSpec | undefined = TASKS[options.task as TaskName];
      const preset = PRESETS[String(options.preset ?? "")] ?? PRESETS[task?.presets[0] ?? ""];
      const iterations = Number(options.iterations ?? preset?.iterations ?? 3000);
      const checkEvery = Number(options.checkEvery ?? 50);
      const previewEvery = Math.max(1, Math.round(iterations / checkEvery / 40));
      return { ...step, options: { ...options, previewEvery } };
    }),
  };
}
