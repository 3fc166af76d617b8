/**
 * A run as one self-contained HTML file that opens offline: the run's settings and engine, a
 * summary table sorted by PSNR gain, the failures with their reason, then per input the
 * clean / observed / restored thumbnails (each a link to the full-size file when there is one),
 * its metrics, and its curves with the early-stopping and best steps marked.
 *
 * Small by construction: thumbnails are the record's small JPEGs (core/run_record.ts), curves
 * are static SVG thinned to 80 points, there is no script; each input's section is rendered
 * lazily by the browser (`content-visibility: auto`), so 500 inputs open at once.
 *
 * @module
 */
import type { RunRecord } from "../../core/run_record.ts";
import { CHART_CSS, lineChart } from "./chart.ts";

/** One input of a report. */
export interface ReportEntry {
  readonly name: string;
  /** `done` ran now, `resumed` was up to date (scores from its record), `failed` did not finish. */
  readonly status: "done" | "resumed" | "failed";
  readonly error?: string;
  readonly metrics: Readonly<Record<string, number>>;
  /** What the ops reported (engine, iterations, stopStep, …; `record` is read from here). */
  readonly info: Readonly<Record<string, unknown>>;
  /** Output files, as links relative to the report. */
  readonly outputs?: readonly string[];
  /** The input file, as a link relative to the report. */
  readonly input?: string;
}

/** What {@link renderReport} shows. */
export interface ReportData {
  readonly title?: string;
  /** When the run ended (ISO 8601). */
  readonly created: string;
  /** The recipe as its JSON document, or as explain() text when it has no JSON form. */
  readonly recipe?: unknown;
  /** Engine, threads, … and anything else worth a line (input, output folder). */
  readonly settings?: Readonly<Record<string, string | number | undefined>>;
  readonly entries: readonly ReportEntry[];
}

const esc = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

/** A link-safe relative path (each segment URL-encoded). */
const href = (path: string) => path.split("/").map(encodeURIComponent).join("/");

const num = (v: unknown, digits = 2) =>
  typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "–";

/** The run record an entry's info holds, if it is one. */
export function recordOf(entry: Pick<ReportEntry, "info">): RunRecord | undefined {
  const record = entry.info.record as RunRecord | undefined;
  return record && record.version === 1 && record.checks ? record : undefined;
}

/** The restoration's PSNR: the recipe's metrics, else the fit's record. */
function finalPsnr(entry: ReportEntry): number | undefined {
  const p = entry.metrics.psnr;
  return typeof p === "number" ? p : undefined;
}

/** PSNR gain of an entry over its observation (undefined without a clean image). */
export function psnrGain(entry: ReportEntry): number | undefined {
  const out = finalPsnr(entry);
  const base = recordOf(entry)?.inputPsnr;
  return out !== undefined && base !== undefined ? out - base : undefined;
}

const anchor = (name: string, i: number) => `in-${i}-${name.replace(/[^\w-]/g, "_")}`;

function thumbFigure(
  label: string,
  thumb: NonNullable<RunRecord["thumbnails"]>["observed"] | undefined,
  link: string | undefined,
): string {
  if (!thumb) return "";
  const img = `<img src="${thumb.src}" width="${thumb.width}" height="${thumb.height}" alt="${
    esc(label)
  }" decoding="async">`;
  const size = `${thumb.fullWidth}×${thumb.fullHeight}`;
  return `<figure>${
    link ? `<a href="${esc(href(link))}" title="full size (${size})">${img}</a>` : img
  }<figcaption>${esc(label)} <small>${size}</small></figcaption></figure>`;
}

function charts(record: RunRecord): string {
  const c = record.checks;
  const marks = [
    ...(record.bestStep !== undefined
      ? [{ step: record.bestStep, label: "best", color: "#2a8f3c" }]
      : []),
    // The step whose output the stopping rule returned (ES-WMV's variance minimum, or the
    // check a host rule such as holdout chose), stopped early or not.
    ...(record.wmvArgmin !== undefined && record.wmvArgmin >= 0
      ? [{ step: record.wmvArgmin, label: "ES", color: "#c0392b" }]
      : []),
    ...record.events.filter((e) => e.kind !== "retry").slice(0, 20).map((e) => ({
      step: e.step,
      label: e.kind === "backtrack" ? "↺" : "✗",
      color: "#e67e22",
    })),
  ];
  const psnr = lineChart({
    title: "PSNR (dB)",
    xMax: record.iterations,
    marks,
    series: [
      ...(c.psnr ? [{ label: "vs clean", steps: c.step, values: c.psnr, color: "#1f6fd1" }] : []),
      {
        label: "vs observed",
        steps: c.step,
        values: c.psnrObserved,
        color: "#888",
        dashed: true,
      },
    ],
  });
  const loss = lineChart({
    title: c.variance ? "loss · ES-WMV variance" : "loss",
    log: true,
    xMax: record.iterations,
    marks: marks.slice(0, 2),
    series: [
      { label: "loss", steps: c.step, values: c.loss, color: "#8e44ad", keep: "min" },
      ...(c.variance
        ? [{
          label: "variance",
          steps: c.step,
          values: c.variance,
          color: "#16a085",
          keep: "min" as const,
        }]
        : []),
    ],
  });
  return `<div class="charts">${psnr}${loss}</div>`;
}

function metricsList(entry: ReportEntry, record: RunRecord | undefined): string {
  const info = entry.info;
  const rows: [string, string][] = [];
  for (const [key, value] of Object.entries(entry.metrics)) {
    rows.push([key, num(value, key.includes("ssim") ? 4 : 2)]);
  }
  if (record?.inputPsnr !== undefined) rows.push(["observed psnr", num(record.inputPsnr)]);
  const gain = psnrGain(entry);
  if (gain !== undefined) rows.push(["gain", `${gain >= 0 ? "+" : ""}${num(gain)} dB`]);
  if (record?.bestStep !== undefined) rows.push(["best step", String(record.bestStep)]);
  if (record?.wmvArgmin !== undefined && record.wmvArgmin >= 0) {
    rows.push([
      "early stopping",
      `output of step ${record.wmvArgmin}` +
      (record.stopStep !== undefined ? `, stopped at ${record.stopStep}` : ", ran to the end"),
    ]);
  }
  if (typeof info.iterations === "number") rows.push(["steps", String(info.iterations)]);
  if (typeof info.msPerStep === "number") rows.push(["ms/step", num(info.msPerStep, 1)]);
  if (typeof info.preset === "string") rows.push(["preset", info.preset]);
  if (typeof info.restores === "number" && info.restores > 0) {
    rows.push(["restores", String(info.restores)]);
  }
  return `<dl>${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("")}</dl>`;
}

function section(entry: ReportEntry, i: number): string {
  const record = recordOf(entry);
  const thumbs = record?.thumbnails;
  const outputs = entry.outputs ?? [];
  const restoredLink = [...outputs].reverse().find((o) => /\.(png|jpe?g)$/i.test(o));
  const figures = thumbs
    ? thumbFigure("clean", thumbs.clean, thumbs.clean ? entry.input : undefined) +
      thumbFigure("observed", thumbs.observed, thumbs.clean ? undefined : entry.input) +
      thumbFigure("restored", thumbs.restored, restoredLink)
    : "";
  const files = outputs.length > 0
    ? `<p class="files">${
      outputs.map((o) => `<a href="${esc(href(o))}">${esc(o)}</a>`).join(" · ")
    }</p>`
    : "";
  const status = entry.status === "resumed" ? ' <span class="tag">up to date</span>' : "";
  return `<section class="input" id="${anchor(entry.name, i)}"><h3>${
    esc(entry.name)
  }${status}</h3><div class="row"><div class="thumbs">${figures}</div>${
    metricsList(entry, record)
  }</div>${record ? charts(record) : '<p class="none">no fit record</p>'}${files}</section>`;
}

/** The report as one HTML document. */
export function renderReport(data: ReportData): string {
  const entries = data.entries.map((entry, i) => ({ entry, i }));
  const ok = entries.filter(({ entry }) => entry.status !== "failed");
  const failed = entries.filter(({ entry }) => entry.status === "failed");
  const sorted = [...ok].sort((a, b) =>
    (psnrGain(b.entry) ?? finalPsnr(b.entry) ?? -Infinity) -
    (psnrGain(a.entry) ?? finalPsnr(a.entry) ?? -Infinity)
  );
  const first = ok.find(({ entry }) => typeof entry.info.engine === "string")?.entry.info;
  const settings: [string, string][] = [];
  if (first) {
    settings.push(["engine", `${first.engine}${first.adapter ? ` (${first.adapter})` : ""}`]);
  }
  for (const [key, value] of Object.entries(data.settings ?? {})) {
    if (value !== undefined) settings.push([key, String(value)]);
  }
  const gains = ok.map(({ entry }) => psnrGain(entry)).filter((g): g is number => g !== undefined);
  const meanGain = gains.length ? gains.reduce((a, b) => a + b, 0) / gains.length : undefined;
  const title = data.title ?? "dipline report";
  const summaryRows = sorted.map(({ entry, i }) => {
    const r = recordOf(entry);
    const gain = psnrGain(entry);
    return `<tr><td><a href="#${anchor(entry.name, i)}">${esc(entry.name)}</a></td><td>${
      num(r?.inputPsnr)
    }</td><td>${num(finalPsnr(entry))}</td><td class="${
      gain === undefined ? "" : gain >= 0 ? "up" : "down"
    }">${gain === undefined ? "–" : `${gain >= 0 ? "+" : ""}${num(gain)}`}</td><td>${
      num(r?.bestPsnr)
    }</td><td>${r?.bestStep ?? "–"}</td><td>${
      r?.wmvArgmin !== undefined && r.wmvArgmin >= 0 ? r.wmvArgmin : "–"
    }</td><td>${r?.steps ?? entry.info.iterations ?? "–"}</td></tr>`;
  });
  const recipe = data.recipe === undefined
    ? ""
    : `<details><summary>recipe</summary><pre>${
      esc(typeof data.recipe === "string" ? data.recipe : JSON.stringify(data.recipe, null, 2))
    }</pre></details>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1rem;color:#222}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
h3{font-size:1rem;margin:0 0 .4rem}
.meta{color:#555}.meta b{color:#222}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:.2rem .5rem;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}
.up{color:#2a8f3c}.down{color:#c0392b}
.failures li{color:#c0392b}
section.input{border-top:1px solid #ddd;padding:.8rem 0;content-visibility:auto;contain-intrinsic-size:auto 330px}
.row{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
.thumbs{display:flex;gap:.5rem}
figure{margin:0;text-align:center}figure img{display:block;width:96px;height:auto;background:#eee}
figcaption{font-size:12px;color:#555}
dl{display:grid;grid-template-columns:auto auto;gap:0 .8rem;margin:0;font-size:13px}
dt{color:#666}dd{margin:0;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:.5rem}
.files{font-size:12px;color:#555;word-break:break-all}
.tag{font-size:11px;background:#eef;border-radius:3px;padding:0 4px;font-weight:400}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;font-size:12px}
.table-wrap{overflow-x:auto}
${CHART_CSS}
</style></head><body>
<h1>${esc(title)}</h1>
<p class="meta">${ok.length} restored${failed.length ? `, <b>${failed.length} failed</b>` : ""} · ${
    esc(data.created)
  }${
    meanGain !== undefined
      ? ` · mean gain <b>${meanGain >= 0 ? "+" : ""}${num(meanGain)} dB</b>`
      : ""
  }</p>
<p class="meta">${settings.map(([k, v]) => `${esc(k)}: <b>${esc(v)}</b>`).join(" · ")}</p>
${recipe}
<h2>Summary <small class="meta">(sorted by PSNR gain)</small></h2>
<div class="table-wrap"><table class="summary"><thead><tr><th>input</th><th>observed dB</th><th>restored dB</th><th>gain</th><th>best dB</th><th>best step</th><th>ES chose</th><th>steps</th></tr></thead>
<tbody>${summaryRows.join("\n")}</tbody></table></div>
${
    failed.length
      ? `<h2>Failures</h2><ul class="failures">${
        failed.map(({ entry }) =>
          `<li><b>${esc(entry.name)}</b>: ${esc(entry.error ?? "failed")}</li>`
        ).join("")
      }</ul>`
      : ""
  }
<h2>Inputs</h2>
${ok.map(({ entry, i }) => section(entry, i)).join("\n")}
</body></html>
`;
}
