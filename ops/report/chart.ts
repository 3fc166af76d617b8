/**
 * Small static SVG line charts for reports: no script, so a report of 500 inputs opens as fast
 * as its HTML parses, and prints. Long series are thinned to a fixed number of points (the
 * extreme of each bucket kept, so a PSNR peak survives).
 *
 * @module
 */

/** One line of a chart. */
export interface ChartSeries {
  readonly label: string;
  /** Steps (x) and values (y); null or non-finite values break the line. */
  readonly steps: readonly number[];
  readonly values: readonly (number | null)[];
  readonly color: string;
  readonly dashed?: boolean;
  /** Keep the largest (PSNR) or smallest (loss) value of each bucket when thinning. */
  readonly keep?: "max" | "min";
}

/** A vertical marker (best step, early stop, a backtrack). */
export interface ChartMark {
  readonly step: number;
  readonly label: string;
  readonly color: string;
}

/** What {@link lineChart} draws. */
export interface ChartSpec {
  readonly title: string;
  readonly series: readonly ChartSeries[];
  readonly marks?: readonly ChartMark[];
  /** Logarithmic y axis (loss, variance). */
  readonly log?: boolean;
  /** Right end of the x axis (the steps asked for); default the last step. */
  readonly xMax?: number;
  readonly width?: number;
  readonly height?: number;
  /** Most points per line (default 80). */
  readonly maxPoints?: number;
}

const esc = (text: string) =>
  text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

/** Thins (step, value) pairs to at most `max`, keeping each bucket's extreme value. */
export function thin(
  steps: readonly number[],
  values: readonly (number | null)[],
  max: number,
  keep: "max" | "min" = "max",
): [number, number | null][] {
  const n = Math.min(steps.length, values.length);
  const pairs: [number, number | null][] = [];
  if (n <= max) {
    for (let i = 0; i < n; i++) pairs.push([steps[i]!, values[i]!]);
    return pairs;
  }
  const size = n / max;
  for (let b = 0; b < max; b++) {
    const from = Math.floor(b * size);
    const to = Math.min(n, Math.floor((b + 1) * size));
    let pick = from;
    for (let i = from; i < to; i++) {
      const v = values[i];
      const best = values[pick];
      if (v === null || v === undefined || !Number.isFinite(v)) continue;
      if (best === null || best === undefined || !Number.isFinite(best)) pick = i;
      else if (keep === "max" ? v > best : v < best) pick = i;
    }
    pairs.push([steps[pick]!, values[pick]!]);
  }
  return pairs;
}

function niceTicks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) {
    ticks.push(+t.toPrecision(6));
  }
  return ticks;
}

function formatTick(value: number, log: boolean): string {
  if (log) return `1e${Math.round(value)}`;
  return Math.abs(value) >= 1000 ? `${Math.round(value / 100) / 10}k` : String(value);
}

/**
 * An SVG line chart. Each series is one `<polyline>` per unbroken run with a `data-series`
 * attribute (the label) and `data-points` (how many points it has), so a test can check that a
 * curve was drawn; marks are dashed vertical lines with their label.
 */
export function lineChart(spec: ChartSpec): string {
  const width = spec.width ?? 320;
  const height = spec.height ?? 150;
  const max = spec.maxPoints ?? 80;
  const log = spec.log ?? false;
  const left = 40, right = 14, top = 18, bottom = 20;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const tf = (v: number | null): number | null =>
    v === null || !Number.isFinite(v) || (log && v <= 0) ? null : log ? Math.log10(v) : v;
  const lines = spec.series.map((s) => ({
    s,
    points: thin(s.steps, s.values, max, s.keep).map(([x, y]) => [x, tf(y)] as const),
  }));
  const ys = lines.flatMap((l) =>
    l.points.map(([, y]) => y).filter((y): y is number => y !== null)
  );
  const xs = lines.flatMap((l) => l.points.map(([x]) => x));
  const xMax = Math.max(spec.xMax ?? 0, ...xs, 1);
  let yLo = ys.length ? Math.min(...ys) : 0;
  let yHi = ys.length ? Math.max(...ys) : 1;
  if (yHi - yLo < 1e-9) {
    yLo -= 0.5;
    yHi += 0.5;
  }
  const pad = (yHi - yLo) * 0.06;
  yLo -= pad;
  yHi += pad;
  const px = (x: number) => left + (x / xMax) * plotW;
  const py = (y: number) => top + (1 - (y - yLo) / (yHi - yLo)) * plotH;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${width} ${height}" ` +
      `width="${width}" height="${height}" role="img" aria-label="${esc(spec.title)}">`,
    `<text x="${left}" y="12" class="t">${esc(spec.title)}</text>`,
    `<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" class="bg"/>`,
  );
  const yTicks = log
    ? niceTicks(Math.floor(yLo), Math.ceil(yHi), 3).filter((t) => t >= yLo && t <= yHi)
    : niceTicks(yLo, yHi, 4);
  for (const t of yTicks) {
    const y = py(t).toFixed(1);
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y}" y2="${y}" class="g"/>`,
      `<text x="${left - 3}" y="${y}" class="yl">${formatTick(t, log)}</text>`,
    );
  }
  for (const t of niceTicks(0, xMax, 4)) {
    parts.push(
      `<text x="${px(t).toFixed(1)}" y="${height - 6}" class="xl">${formatTick(t, false)}</text>`,
    );
  }
  for (const { s, points } of lines) {
    let run: string[] = [];
    const flush = () => {
      if (run.length > 0) {
        parts.push(
          `<polyline data-series="${esc(s.label)}" data-points="${run.length}" points="${
            run.join(" ")
          }" stroke="${s.color}"${s.dashed ? ' stroke-dasharray="4 3"' : ""}/>`,
        );
      }
      run = [];
    };
    for (const [x, y] of points) {
      if (y === null) flush();
      else run.push(`${Math.round(px(x))},${Math.round(py(y))}`);
    }
    flush();
  }
  for (const mark of spec.marks ?? []) {
    const x = px(mark.step).toFixed(1);
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${top}" y2="${top + plotH}" stroke="${mark.color}" ` +
        `class="m"><title>${esc(mark.label)} at step ${mark.step}</title></line>`,
      // Near the right edge the label goes to the left of its line.
      `<text x="${x}" y="${top + 9}" class="ml" fill="${mark.color}"${
        px(mark.step) > width - right - 30 ? ' text-anchor="end"' : ""
      }>${esc(mark.label)}</text>`,
    );
  }
  const legend = spec.series.map((s, i) =>
    `<text x="${width - right - i * 70}" y="12" class="lg" fill="${s.color}">${esc(s.label)}</text>`
  );
  parts.push(...legend, "</svg>");
  return parts.join("");
}

/** The CSS the charts' classes need (once per page). */
export const CHART_CSS = `svg.chart{font:10px system-ui,sans-serif;max-width:100%;height:auto}
svg.chart .t{font-weight:600;fill:#333}
svg.chart .bg{fill:#fafafa;stroke:#ddd}
svg.chart .g{stroke:#eee}
svg.chart .yl{text-anchor:end;dominant-baseline:middle;fill:#777}
svg.chart .xl{text-anchor:middle;fill:#777}
svg.chart .lg{text-anchor:end}
svg.chart polyline{fill:none;stroke-width:1.5}
svg.chart .m{stroke-width:1;stroke-dasharray:2 2}
svg.chart .ml{font-size:9px;text-anchor:start;dx:2}`;
