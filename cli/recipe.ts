/**
 * `dipline recipe`: prints a recipe (`.ts` or `.json`) as its JSON document, or the JSON Schema
 * of recipe documents, generated from the ops' option schemas.
 *
 * ```sh
 * deno task dipline recipe examples/denoise.ts > denoise.json
 * deno task dipline run denoise.json --input photos/
 * deno task dipline recipe --schema > recipe.schema.json
 * ```
 *
 * @module
 */
import { loadRecipe, recipeJsonSchema } from "../pipeline/recipe.ts";
import { type Command, EXIT, parseFlags, printLine, UsageError } from "./common.ts";

/** The `recipe` subcommand. */
export const command: Command = {
  name: "recipe",
  summary: "Print a recipe as its JSON document, or the recipe JSON Schema (--schema)",
  usage: `Usage: dipline recipe <recipe.ts|recipe.json> [--explain]
       dipline recipe --schema

Prints the recipe's JSON document (version 1: { version, input?, steps: [{ op, options }] }),
which \`dipline run\`, \`dipline submit\` and the service accept in place of the TypeScript file.
A step added with use() from user code has no JSON form and is refused.

  --schema              print the JSON Schema of recipe documents instead
  --explain             print the op graph the recipe compiles to instead

Examples:
  deno task dipline recipe examples/sr.ts > sr.json
  deno task dipline recipe --schema`,
  async run(args) {
    const { values, positionals } = parseFlags(command, args, {
      schema: { type: "boolean" },
      explain: { type: "boolean" },
    });
    if (values.schema) {
      if (positionals.length > 0) {
        throw new UsageError(
          `recipe: Expected no recipe with --schema but received ${positionals[0]}`,
        );
      }
      printLine(JSON.stringify(recipeJsonSchema(), null, 2));
      return EXIT.ok;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        `recipe: Expected <recipe.ts|recipe.json> but received ${positionals.length} argument(s)`,
      );
    }
    const recipe = await loadRecipe(positionals[0]!);
    printLine(values.explain ? recipe.explain() : JSON.stringify(recipe.toJSON(), null, 2));
    return EXIT.ok;
  },
};
