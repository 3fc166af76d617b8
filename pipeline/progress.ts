/**
 * Turning {@link ProgressEvent}s into something a person or a program reads: a live progress
 * line on a terminal, or JSON lines (one event per line) for programs.
 *
 * @module
 */
import type { ProgressEvent } from "../core/types.ts";

/** Writes each event as one JSON line to `write` (default: stdout). */
export function jsonLinesReporter(
  write: (line: string) => void = (line) => Deno.stdout.writeSync(encoder.encode(line)),
): (event: ProgressEvent) => void {
  return (event) => write(JSON.stringify(event) + "\n");
}

/** Counts and timing a progress line is made from. */
export interface ProgressState {
  /** Inputs in the run, skipped ones included. */
  total: number;
  /** Inputs finished so far. */
  done: number;
  /** Inputs failed so far. */
  failed: number;
  /** Inputs skipped because their outputs exist. */
  skipped: number;
  /** performance.now() at the start event. */
  startedAt: number;
  /** What is running now, e.g. `kodim03 dipFit 1200/3000 loss 0.0123`. */
  current: string;
  /** The running fit's last checks (PSNR when a reference is known, else loss), for a sparkline. */
  trend?: number[];
}

/** How many checks the sparkline shows. */
export const SPARKLINE_CHECKS = 24;

const SPARKS = "▁▂▃▄▅▆▇█";

/** A sparkline of `values` (`▁▂▄▆█`), scaled between their minimum and maximum. */
export function sparkline(values: readonly number[]): string {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return "";
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  return values.map((v) => {
    if (!Number.isFinite(v)) return " ";
    const level = hi > lo ? Math.round(((v - lo) / (hi - lo)) * (SPARKS.length - 1)) : 3;
    return SPARKS[level];
  }).join("");
}

/**
 * One line on how a fit ended, from its run record: the step early stopping chose (and where
 * it stopped), else the best step when a reference was known; undefined when neither.
 */
export function fitEndLine(event: Extract<ProgressEvent, { type: "record" }>): string | undefined {
  const r = event.record;
  const best = r.bestPsnr !== undefined && r.bestStep !== undefined
    ? `best ${r.bestPsnr.toFixed(2)} dB at step ${r.bestStep}`
    : undefined;
  if (r.stopStep !== undefined) {
    return `${event.name}: early stopping chose step ${r.wmvArgmin ?? r.stopStep} ` +
      `(stopped at ${r.stopStep} of ${r.iterations})${best ? `; ${best}` : ""}`;
  }
  return best ? `${event.name}: ${best} of ${r.steps}` : undefined;
}

/** Folds one event into the state (pure apart from the clock passed in). */
export function updateProgress(
  state: ProgressState,
  event: ProgressEvent,
  now: number,
): ProgressState {
  switch (event.type) {
    case "start":
      return { ...state, total: event.total, skipped: event.skipped, startedAt: now, current: "" };
    case "input-start":
      return { ...state, current: event.name, trend: [] };
    case "op":
      return { ...state, current: `${event.name} ${event.op}` };
    case "fit": {
      const psnr = event.psnr === undefined ? "" : ` ${event.psnr.toFixed(2)} dB`;
      const rate = `${event.stepsPerSecond.toFixed(1)} steps/s`;
      const trend = [...(state.trend ?? []), event.psnr ?? event.loss].slice(-SPARKLINE_CHECKS);
      return {
        ...state,
        trend,
        current: `${event.name} fit ${event.step}/${event.total} loss ${
          event.loss.toPrecision(3)
        }${psnr} ${sparkline(trend)} ${rate}`,
      };
    }
    case "input-done":
      return { ...state, done: state.done + 1, current: "" };
    case "input-failed":
      return { ...state, failed: state.failed + 1, current: "" };
    case "input-interrupted":
      return { ...state, current: "" };
    default:
      return state;
  }
}

/**
 * The progress line: `[3/10] 2 done · 1 failed · 0 skipped · 0.50 img/s · ETA 14s · kodim04 dipFit`.
 * Rate and ETA count only inputs that ran (not skipped ones).
 */
export function formatProgress(state: ProgressState, now: number): string {
  const finished = state.done + state.failed;
  const parts = [
    `[${finished + state.skipped}/${state.total}] ${state.done} done`,
    `${state.failed} failed`,
    `${state.skipped} skipped`,
  ];
  const seconds = (now - state.startedAt) / 1000;
  if (finished > 0 && seconds > 0) {
    const rate = finished / seconds;
    const left = state.total - state.skipped - finished;
    parts.push(`${rate.toFixed(2)} img/s`, `ETA ${formatDuration(left / rate)}`);
  }
  if (state.current) parts.push(state.current);
  return parts.join(" · ");
}

/** `42s`, `3m05s`, `1h02m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * A live progress line on stderr, redrawn in place (at most every 100 ms), cleared when the run
 * ends. Failures, interruptions, redone inputs and notes get a line of their own above it. Only
 * for terminals: callers check `Deno.stderr.isTerminal()`.
 */
export function terminalReporter(): (event: ProgressEvent) => void {
  let state: ProgressState = {
    total: 0,
    done: 0,
    failed: 0,
    skipped: 0,
    startedAt: performance.now(),
    current: "",
  };
  let drawnAt = 0;
  const columns = (() => {
    try {
      return Deno.consoleSize().columns;
    } catch {
      return 100;
    }
  })();
  return (event) => {
    const now = performance.now();
    state = updateProgress(state, event, now);
    if (event.type === "done") {
      Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
      return;
    }
    const above = event.type === "input-failed"
      ? `✗ ${event.error}`
      : event.type === "input-interrupted"
      ? `⨯ ${event.name}: interrupted`
      : event.type === "note"
      ? `· ${event.message}`
      : event.type === "input-start" && event.reason
      ? `↻ ${event.name}: ${event.reason}; redoing it`
      : event.type === "record"
      ? fitEndLine(event) && `✓ ${fitEndLine(event)}`
      : undefined;
    if (above !== undefined) Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${above}\n`));
    if (now - drawnAt < 100 && event.type === "fit") return;
    drawnAt = now;
    const line = formatProgress(state, now).slice(0, Math.max(20, columns - 1));
    Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
  };
}

const encoder = new TextEncoder();
