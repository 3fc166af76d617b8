/**
 * The pipeline's `report` op: gathers every input that reaches it (scores, the fit's run
 * record, a link to the restored file) and, when the run ends, writes one self-contained HTML
 * report (ops/report/html.ts) into the output folder.
 *
 * A step sees only the inputs that reach it in this run: inputs that failed earlier or were
 * up to date are not in it. `dipline run --report FILE` builds the same report from the whole
 * run (failures and up-to-date inputs included).
 *
 * @module
 */
import { dirname, relative, resolve } from "node:path";
import { defineOp } from "../core/op_spec.ts";
import { z } from "../core/schema.ts";
import type { Frame, Op, OpContext } from "../core/types.ts";
import { renderReport, type ReportEntry } from "./report/html.ts";
import { resolveOutputPath } from "./save.ts";

/** Options of the `report` op. */
export const ReportOptionsSchema = z.strictObject({
  path: z.string().min(1).regex(/\.html?$/, "a file ending in .html").meta({
    description: "the report file, resolved against the output folder, e.g. report.html",
  }),
  title: z.string().min(1).max(200).optional().meta({
    description: 'the report\'s heading (default "dipline report")',
  }),
  restored: z.string().min(1).optional().meta({
    description: "the save pattern of the restored image ({name}, {dir}), so that its " +
      "thumbnail links to the full-size file",
  }),
});

/** Options of {@link reportOp}. */
export type ReportOpOptions = z.input<typeof ReportOptionsSchema>;

/** The `report` op's declaration. */
export const reportSpec = defineOp({
  kind: "report",
  summary: "write one self-contained HTML report of the run: thumbnails, metrics and curves",
  options: ReportOptionsSchema,
  create: (options) => reportOp(options),
});

/** The entries of one report file in a run, written when the run ends. */
class ReportCollector {
  readonly entries: ReportEntry[] = [];
  constructor(readonly path: string, readonly title: string | undefined) {}

  /** Writes the report (synchronously: a run's resources are freed synchronously). */
  write(): void {
    if (this.entries.length === 0) return;
    const html = renderReport({
      title: this.title,
      created: new Date().toISOString(),
      entries: this.entries,
    });
    Deno.mkdirSync(dirname(this.path), { recursive: true });
    const temp = `${this.path}.${Deno.pid}.dipline-tmp`;
    Deno.writeTextFileSync(temp, html);
    Deno.renameSync(temp, this.path);
  }
}

/**
 * The `report` op: adds the frame (name, scores, info with the fit's record) to the report
 * at `options.path` under the output folder, written when the run ends (at once outside a run).
 */
export function reportOp(options: ReportOpOptions): Op {
  const { path, title, restored } = options;
  return {
    kind: "report",
    reads: [],
    writes: [],
    params: { ...options },
    run(frame: Frame, ctx: OpContext): Promise<Frame> {
      const target = resolve(ctx.outDir, path);
      const folder = dirname(target);
      const link = (file: string | undefined) =>
        file === undefined ? undefined : relative(folder, file).split("\\").join("/");
      const entry: ReportEntry = {
        name: frame.meta.name,
        status: "done",
        metrics: frame.meta.metrics,
        info: frame.meta.info,
        input: link(frame.meta.source),
        outputs: restored === undefined ? [] : [
          link(resolveOutputPath(restored, frame.meta.name, frame.meta.relative, ctx.outDir))!,
        ],
      };
      const collector = ctx.run
        ? ctx.run.resource(
          `report:${target}`,
          () => new ReportCollector(target, title),
          (c) => c.write(),
        )
        : new ReportCollector(target, title);
      collector.entries.push(entry);
      if (!ctx.run) collector.write();
      return Promise.resolve(frame);
    },
  };
}
