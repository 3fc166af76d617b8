/**
 * What the service tests share: a server on 127.0.0.1 with a free port and temporary folders,
 * tiny test images, recipes that run in well under a second, and a poller.
 */
import { join } from "node:path";
import { encodeImage } from "../image/save.ts";
import { testCard } from "../image/testcard.ts";
import { type RunningServer, type ServeOptions, startServer } from "../service/server.ts";
import { defaultCodec } from "../service/recipes.ts";

/** A PNG of the test card, `size`² pixels. */
export async function cardPng(size = 16): Promise<Uint8Array> {
  return await encodeImage(testCard(size, size), { format: "png" });
}

/** Degrade and save: runs in milliseconds. */
export const QUICK_RECIPE = {
  version: 1,
  steps: [
    { op: "degrade", options: { noise: 25, seed: 1 } },
    { op: "save", options: { pattern: "{name}_noisy.png" } },
  ],
};

/**
 * A fit with a tiny network: `iterations` steps, a check every 5; on the cpu engine unless
 * `engine` is false (then the job's run options must choose it).
 */
export function fitRecipe(iterations: number, engine = true): Record<string, unknown> {
  return {
    version: 1,
    steps: [
      { op: "degrade", options: { noise: 25, seed: 1 } },
      {
        op: "dipFit",
        options: {
          task: "denoise",
          iterations,
          checkEvery: 5,
          ...(engine ? { engine: "cpu" } : {}),
          threads: 1,
          net: { channelsDown: [8, 8], channelsUp: [8, 8], channelsSkip: [4, 4] },
        },
      },
      { op: "save", options: { pattern: "{name}_restored.png" } },
    ],
  };
}

/** A test server and its folders; `close()` stops it and removes them. */
export interface TestServer extends RunningServer {
  readonly dir: string;
  readonly data: string;
  readonly root: string;
  readonly recipes: string;
}

/** Starts a server on 127.0.0.1:0 with `data/`, `root/` (with card.png) and `recipes/`. */
export async function startTestServer(options: Partial<ServeOptions> = {}): Promise<TestServer> {
  const dir = await Deno.makeTempDir({ prefix: "dipline-service-" });
  const data = join(dir, "data");
  const root = join(dir, "root");
  const recipes = join(dir, "recipes");
  await Deno.mkdir(root);
  await Deno.mkdir(recipes);
  await Deno.writeFile(join(root, "card.png"), await cardPng());
  await Deno.writeTextFile(join(recipes, "quick.json"), JSON.stringify(QUICK_RECIPE));
  const server = await startServer({
    port: 0,
    data,
    root,
    recipes,
    codec: defaultCodec(),
    backoff: { type: "fixed", delay: 50 },
    webhookBackoff: { type: "fixed", delay: 50 },
    progressIntervalMs: 0,
    ...options,
  });
  return {
    ...server,
    dir,
    data,
    root,
    recipes,
    async close() {
      await server.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Polls `check` every 10 ms until it holds; fails after `ms`. */
export async function waitFor(check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
