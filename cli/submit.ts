/**
 * `dipline submit`: sends a recipe and images to the service as a job.
 *
 * @module
 */
import { basename, extname } from "node:path";
import { InputError } from "../core/errors.ts";
import { loadRecipe } from "../pipeline/recipe.ts";
import { type Command, EXIT, numberFlag, parseFlags, printLine, UsageError } from "./common.ts";
import {
  CLIENT_FLAGS,
  CLIENT_USAGE,
  clientFrom,
  describeJob,
  withApiErrors,
} from "./service_common.ts";
import { followJob } from "./watch.ts";

const ENGINES = ["webgpu", "cpu", "reference", "auto"];

/** The recipe argument as the API takes it: a name on the server, or a JSON document. */
async function recipeArgument(arg: string): Promise<string | Record<string, unknown>> {
  const ext = extname(arg).toLowerCase();
  if (ext === ".json") {
    try {
      return JSON.parse(await Deno.readTextFile(arg));
    } catch (error) {
      throw new InputError(`not a JSON recipe: ${(error as Error).message}`, { file: arg });
    }
  }
  if (ext === ".ts" || ext === ".js" || ext === ".mts" || ext === ".mjs") {
    // Code runs here, on the client; the server only ever receives data.
    return (await loadRecipe(arg)).toJSON() as unknown as Record<string, unknown>;
  }
  return arg;
}

/** The `submit` subcommand. */
export const command: Command = {
  name: "submit",
  summary: "Submit a recipe and images to a dipline service",
  usage: `Usage: dipline submit <recipe.ts|recipe.json|name> <images…> [options]

Uploads the images and queues a job. A .ts/.js recipe is run here to build its JSON document;
a .json recipe is sent as it is; anything else names a recipe in the server's --recipes.
Prints the job id (or the job with --json); with --wait, follows the job to its end and exits
1 if it failed or was canceled.

Options:
${CLIENT_USAGE}
  --path P        an input image by path under the server's --root (repeatable)
  --engine E      webgpu, cpu, reference or auto, for every fit
  --seed N        seed of every fit
  --webhook URL   POSTed the job when it ends
  --wait          return when the job ends (progress on stderr)
  --json          print the job as JSON

Example:
  dipline submit examples/denoise.ts noisy.png --wait`,
  async run(args) {
    const { values, positionals } = parseFlags(command, args, {
      ...CLIENT_FLAGS,
      path: { type: "string", multiple: true },
      engine: { type: "string" },
      seed: { type: "string" },
      webhook: { type: "string" },
      wait: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    });
    const [recipeArg, ...imagePaths] = positionals;
    if (recipeArg === undefined) {
      throw new UsageError("submit: Expected <recipe> <images…> but received no arguments");
    }
    const paths = values.path ?? [];
    if (imagePaths.length === 0 && paths.length === 0) {
      throw new UsageError("submit: Expected at least one image (or --path) after the recipe");
    }
    if (values.engine !== undefined && !ENGINES.includes(values.engine)) {
      throw new UsageError(
        `submit: Expected one of ${ENGINES.join(", ")} for --engine but received ${values.engine}`,
      );
    }
    const seed = numberFlag(command, "seed", values.seed);
    if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0)) {
      throw new UsageError(`submit: Expected integer ≥ 0 for --seed but received ${values.seed}`);
    }
    const recipe = await recipeArgument(recipeArg);
    const images: { name: string; bytes: Uint8Array }[] = [];
    for (const path of imagePaths) {
      try {
        images.push({ name: basename(path), bytes: await Deno.readFile(path) });
      } catch {
        throw new InputError("cannot read the image", { file: path });
      }
    }
    const client = clientFrom(values);
    let job = await withApiErrors(() =>
      client.submit({
        recipe,
        images,
        paths,
        runOptions: values.engine || seed !== undefined
          ? { engine: values.engine, seed }
          : undefined,
        webhook: values.webhook,
      })
    );
    if (values.wait) {
      if (!values.json) console.error(`submitted ${job.id}`);
      job = await withApiErrors(() => followJob(client, job.id, !values.json));
    }
    printLine(values.json ? JSON.stringify(job) : values.wait ? describeJob(job) : job.id);
    if (!values.wait) return EXIT.ok;
    return job.status === "succeeded" ? EXIT.ok : EXIT.input;
  },
};
