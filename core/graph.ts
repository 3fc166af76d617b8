/**
 * The op graph a pipeline compiles to: recipe steps expanded into ops, every slot read checked
 * against the slots written upstream, before any work starts.
 *
 * A frame flows through the ops in order, so the graph is a chain; a step may still expand into
 * several nodes (e.g. `average({ runs: 2 })` → two fits with distinct seeds plus a merge) through
 * {@link Expansion}.
 *
 * @module
 */
import { isAbsolute, relative } from "node:path";
import { RecipeError } from "./errors.ts";
import type { Op } from "./types.ts";

/**
 * A recipe step that becomes ops only when the pipeline compiles.
 *
 * `expand()` receives the op compiled just before it (if any) and returns the ops that take its
 * place; with `replacesPrevious: true` they also take the previous op's place. `average({ runs })`
 * uses this to turn the preceding fit into n seeded fits plus a merge node (or one batched fit).
 */
export interface Expansion {
  /** Step name, e.g. `"average"`; used in errors and `explain()`. */
  readonly kind: string;
  /** The options it was created with, printed by `explain()`. */
  readonly params: Readonly<Record<string, unknown>>;
  /** The ops this step becomes, given the op compiled just before it. */
  expand(
    previous: Op | undefined,
  ): { readonly ops: readonly Op[]; readonly replacesPrevious: boolean };
}

/**
 * An op that says more about itself than its params in `explain()` (dipFit: the resolved preset
 * and the network it will train). Optional: `explainGraph` looks for the method.
 */
export interface ExplainableOp extends Op {
  /** Lines printed under the op by `explain()`, for inputs like `context` when known. */
  explain(context?: ExplainContext): string;
}

/**
 * An op that can predict its own cost for an input (dipFit: a short calibration on the engine);
 * `--dry-run` prints the lines it returns.
 */
export interface EstimableOp extends Op {
  /** Lines that say what running on an input of this shape will cost. */
  estimate(
    input: { readonly channels: number; readonly height: number; readonly width: number },
    run: { readonly engine?: "webgpu" | "cpu" | "reference" | "auto"; readonly threads?: number },
  ): Promise<string>;
}

/** What `explain()` may know about the inputs and the run (a dry run reads the first input). */
export interface ExplainContext {
  /** Size and channels of the input image. */
  readonly input?: { readonly channels: number; readonly height: number; readonly width: number };
  /** The engine that will run fits (`auto` resolved). */
  readonly engine?: string;
}

/** One step of a recipe: an op, or an expansion that becomes ops at compile time. */
export type Step = Op | Expansion;

/** Whether a step is an {@link Expansion} (it has `expand()` and no `run()`). */
export function isExpansion(step: Step): step is Expansion {
  return typeof (step as Partial<Expansion>).expand === "function";
}

/** One node of a compiled graph. */
export interface GraphNode {
  /** The op this node runs. */
  readonly op: Op;
  /** Which expansion produced this node (e.g. `"average"`), if any. */
  readonly expandedFrom?: string;
}

/** A validated chain of ops, ready for the executor. */
export interface CompiledGraph {
  /** The ops in the order a frame goes through them. */
  readonly nodes: readonly GraphNode[];
  /** Slots a frame holds before the first op (the executor loads the input into `image`). */
  readonly inputSlots: readonly string[];
}

/** Options of {@link compileSteps}. */
export interface CompileOptions {
  /** Slots present before the first op; default `["image"]`. */
  readonly inputSlots?: readonly string[];
}

/**
 * Expands the steps and checks that every op reads only slots written upstream.
 *
 * @throws {RecipeError} naming the op, the missing slot and the slots that do exist
 */
export function compileSteps(steps: readonly Step[], options: CompileOptions = {}): CompiledGraph {
  const inputSlots = options.inputSlots ?? ["image"];
  if (steps.length === 0) {
    throw new RecipeError("The pipeline has no steps: add at least one op (e.g. dipFit, save)");
  }
  const nodes: GraphNode[] = [];
  for (const step of steps) {
    if (!isExpansion(step)) {
      nodes.push({ op: step });
      continue;
    }
    const previous = nodes.at(-1)?.op;
    const { ops, replacesPrevious } = step.expand(previous);
    if (replacesPrevious) {
      if (previous === undefined) {
        throw new RecipeError(
          `${step.kind}() must follow an op but is the first step of the pipeline`,
        );
      }
      nodes.pop();
    }
    for (const op of ops) nodes.push({ op, expandedFrom: step.kind });
  }
  const available = new Set(inputSlots);
  nodes.forEach(({ op }, i) => {
    for (const slot of op.reads) {
      if (!available.has(slot)) {
        throw new RecipeError(
          `Op #${i + 1} ${op.kind} reads slot "${slot}" but no earlier op writes it ` +
            `(slots available: ${[...available].join(", ")})`,
        );
      }
    }
    for (const slot of op.writes) available.add(slot);
  });
  return Object.freeze({ nodes: Object.freeze(nodes), inputSlots: Object.freeze([...inputSlots]) });
}

/** Output files every op of `graph` would write for one input (the executor's resume check). */
export function graphOutputs(
  graph: CompiledGraph,
  name: string,
  relative: string | undefined,
  outDir: string,
): string[] {
  return graph.nodes.flatMap(({ op }) => op.outputs?.(name, relative, outDir) ?? []);
}

/**
 * The graph as text, one op per line: kind, reads → writes, params, what an
 * {@link ExplainableOp} adds, and the files it writes (with `{name}` left as a placeholder).
 * Halide's `print_loop_nest()`, for recipes.
 */
export function explainGraph(
  graph: CompiledGraph,
  outDir = "out",
  context: ExplainContext = {},
): string {
  const lines = [
    `pipeline: ${graph.nodes.length} ops, input slots: ${graph.inputSlots.join(", ")}`,
  ];
  const width = Math.max(0, ...graph.nodes.map(({ op }) => op.kind.length));
  graph.nodes.forEach(({ op, expandedFrom }, i) => {
    const reads = op.reads.length > 0 ? op.reads.join(", ") : "∅";
    const writes = op.writes.length > 0 ? op.writes.join(", ") : op.outputs ? "files" : "meta";
    const params = formatParams(op.params);
    const from = expandedFrom ? ` (from ${expandedFrom})` : "";
    lines.push(
      `  ${String(i + 1).padStart(2)}. ${op.kind.padEnd(width)}  ${reads} → ${writes}${from}`,
    );
    if (params) lines.push(`      ${" ".repeat(width)}  ${params}`);
    const detail = (op as Partial<ExplainableOp>).explain?.(context);
    if (detail) {
      lines.push(...detail.split("\n").map((line) => `      ${" ".repeat(width)}  ${line}`));
    }
    const files = op.outputs?.("{name}", undefined, outDir) ?? [];
    if (files.length > 0) {
      lines.push(`      ${" ".repeat(width)}  writes ${files.map(displayPath).join(", ")}`);
    }
  });
  return lines.join("\n");
}

/** A path as the user would type it: relative to the working folder when inside it. */
export function displayPath(path: string): string {
  const rel = relative(Deno.cwd(), path);
  return rel.startsWith("..") || isAbsolute(rel) ? path : rel;
}

/** Formats params as `key=value` pairs (JSON values, long arrays shortened). */
export function formatParams(params: Readonly<Record<string, unknown>>): string {
  return Object.entries(params)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${formatValue(value)}`)
    .join(" ");
}

function formatValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "ƒ";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}
