/**
 * Option schemas: one zod schema per option set drives the TypeScript type, validation and its
 * messages, defaults, `explain()`, the JSON Schema of recipes and the CLI flags of the shortcut
 * commands. Every failed check reads the same way, sharp's:
 * "dipFit(): Expected number > 0 for lr but received -1 of type number".
 *
 * Field metadata (`.meta({ … })`) used beyond the JSON Schema's `description`:
 * {@link OptionMeta}.
 *
 * @module
 */
import { z } from "zod";
import { RecipeError } from "./errors.ts";

export { z };

/** Metadata a field of an option schema may carry (set with zod's `.meta()`). */
export interface OptionMeta {
  /** One line for `--help` and the JSON Schema. */
  readonly description?: string;
  /** The command-line flag of the shortcut commands (default: the key in kebab-case). */
  readonly flag?: string;
  /** Placeholder of the flag's value in `--help`, e.g. `N`, `X`, `NAME`. */
  readonly placeholder?: string;
  /** The default as `--help` shows it, when it is not the schema's own (e.g. "the preset's"). */
  readonly defaultText?: string;
}

/** `-2 of type number`, `"abc" of type string`: how errors show a received value. */
export function received(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "string") return `${JSON.stringify(value)} of type string`;
  if (Array.isArray(value)) {
    const text = JSON.stringify(value);
    return `${text.length > 60 ? `${text.slice(0, 57)}…` : text} of type array`;
  }
  if (typeof value === "object" && value !== null) return "an object";
  return `${String(value)} of type ${value === null ? "null" : typeof value}`;
}

/** The value at `path` inside `root` (undefined where the path leaves the object). */
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** `net.channelsDown[2]`: a path as a reader writes it. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    out += typeof key === "number" ? `[${key}]` : out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

function bound(prefix: string, value: unknown, inclusive: boolean | undefined, low: boolean) {
  const op = low ? (inclusive ? "≥" : ">") : (inclusive ? "≤" : "<");
  return `${prefix} ${op} ${String(value)}`;
}

/** What an issue expected, in words ("integer ≥ 1", "one of skip, hourglass"). */
function expectedOf(issue: z.core.$ZodIssue, field?: z.ZodType): string {
  const numberKind = (field as { isInt?: boolean } | undefined)?.isInt ? "integer" : "number";
  switch (issue.code) {
    case "invalid_type":
      if (issue.expected === "int") return "integer";
      return issue.expected === "object" ? "an options object" : issue.expected;
    case "too_small":
      if (issue.origin === "string") return "a non-empty string";
      if (issue.origin === "array") return `an array of at least ${String(issue.minimum)} items`;
      return bound(
        numberKind,
        issue.minimum,
        issue.inclusive,
        true,
      );
    case "too_big":
      if (issue.origin === "array") return `an array of at most ${String(issue.maximum)} items`;
      return bound(
        numberKind,
        issue.maximum,
        issue.inclusive,
        false,
      );
    case "invalid_value":
      return issue.values.length === 1
        ? JSON.stringify(issue.values[0])
        : `one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_format":
      // A pattern with its own words (`.regex(re, "label of letters, …")`) says what it wants.
      return issue.format === "regex" && !issue.message.startsWith("Invalid")
        ? issue.message
        : `a ${issue.format} string`;
    case "not_multiple_of":
      return `a multiple of ${String(issue.divisor)}`;
    case "invalid_union": {
      const singles = issue.errors.map((errors) =>
        errors.length === 1 && errors[0]!.code === "invalid_value" && errors[0]!.values.length === 1
          ? JSON.stringify(errors[0]!.values[0])
          : undefined
      );
      if (singles.every((s) => s !== undefined) && singles.length > 1) {
        return `${singles.slice(0, -1).join(", ")} or ${singles.at(-1)}`;
      }
      const parts = issue.errors.map((errors) => errors.map((e) => expectedOf(e)).join(" and "));
      return [...new Set(parts)].join(" or ");
    }
    default:
      return issue.message;
  }
}

/**
 * One sentence for one issue, sharp's style: "Expected integer ≥ 1 for iterations but received
 * -5 of type number"; unknown keys: "Unknown option "lrate" (expected one of task, preset, …)".
 */
export function describeIssue(issue: z.core.$ZodIssue, input: unknown, schema?: z.ZodType): string {
  if (issue.code === "unrecognized_keys") {
    const where = issue.path.length > 0 ? `${formatPath(issue.path)} option` : "option";
    const known = knownKeys(schema, issue.path);
    const list = known.length > 0 ? ` (expected one of ${known.join(", ")})` : "";
    return `Unknown ${where} ${issue.keys.map((k) => `"${k}"`).join(", ")}${list}`;
  }
  if (issue.code === "custom") {
    const name = formatPath(issue.path);
    return name ? `${issue.message} (${name})` : issue.message;
  }
  const name = formatPath(issue.path) || "options";
  const field = schemaAt(schema, issue.path);
  return `Expected ${expectedOf(issue, field)} for ${name} but received ${
    received(valueAt(input, issue.path))
  }`;
}

/** The field schema at `path` inside object schema `schema` (unwrapped), if it can be found. */
function schemaAt(
  schema: z.ZodType | undefined,
  path: readonly PropertyKey[],
): z.ZodType | undefined {
  let current: z.ZodType | undefined = schema && innerOf(schema);
  for (const key of path) {
    if (current instanceof z.ZodUnion) {
      current = (current.options as z.ZodType[]).find((o) => innerOf(o) instanceof z.ZodObject);
      current = current && innerOf(current);
    }
    if (!(current instanceof z.ZodObject)) return undefined;
    const next = (current.shape as Record<string, z.ZodType>)[String(key)];
    current = next && innerOf(next);
  }
  return current;
}

/** The keys an object schema at `path` inside `schema` accepts (for "expected one of"). */
function knownKeys(schema: z.ZodType | undefined, path: readonly PropertyKey[]): string[] {
  let current = schemaAt(schema, path);
  if (current instanceof z.ZodUnion) {
    current = (current.options as z.ZodType[]).find((o) => innerOf(o) instanceof z.ZodObject);
    current = current && innerOf(current);
  }
  return current instanceof z.ZodObject ? Object.keys(current.shape) : [];
}

/**
 * Parses `value` with `schema`, throwing a {@link RecipeError} whose message is
 * `${where}: ` plus {@link describeIssue} of the first issue.
 */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new RecipeError(`${where}: ${describeIssue(issue, value, schema)}`);
}

/** The {@link OptionMeta} of a schema (looking through optional and default wrappers). */
export function metaOf(schema: z.ZodType): OptionMeta {
  let current: z.ZodType = schema;
  const found: OptionMeta = { ...(current.meta() as OptionMeta | undefined) };
  while (current instanceof z.ZodOptional || current instanceof z.ZodDefault) {
    current = current.unwrap() as z.ZodType;
    Object.assign(found, { ...(current.meta() as OptionMeta | undefined), ...found });
  }
  return found;
}

/** The schema under optional/default wrappers. */
export function innerOf(schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema;
  while (current instanceof z.ZodOptional || current instanceof z.ZodDefault) {
    current = current.unwrap() as z.ZodType;
  }
  return current;
}

/** The JSON Schema (draft 2020-12) of what a user may write, without the `$schema` key. */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  delete out.$schema;
  return out;
}
