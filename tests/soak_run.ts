/**
 * The soak run of tests/faults_soak_test.ts, in a process of its own so that its resident memory
 * is its own: a folder of `count` tiny inputs through degrade → dipFit (a 2-level net, a few
 * steps, the cpu engine) → metrics → save, with the RSS (and the V8 heap in use) taken after
 * input `early`, every 50 inputs and after the last, after a full GC. Prints one JSON line.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc tests/soak_run.ts 500 50
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { saveImage } from "../image/save.ts";
import { testCard } from "../image/testcard.ts";
import { pipeline } from "../pipeline/dsl.ts";

const count = Number(Deno.args[0] ?? 500);
const early = Number(Deno.args[1] ?? 50);
const dir = await Deno.makeTempDir({ prefix: "dipline-soak-" });
try {
  for (let i = 0; i < count; i++) {
    await saveImage(
      testCard(8, 8 + (i % 3)),
      join(dir, "in", `s${String(i).padStart(4, "0")}.png`),
    );
  }
  const recipe = pipeline()
    .degrade({ noise: 25, seed: 1 })
    .dipFit({
      task: "denoise",
      net: { channelsDown: [4, 4], channelsUp: [4, 4], channelsSkip: [2, 2] },
      inputDepth: 4,
      iterations: 4,
      checkEvery: 2,
      engine: "cpu",
      threads: 1,
    })
    .metrics()
    .save("{name}.png");
  const rss: Record<number, number> = {};
  const heap: Record<number, number> = {};
  let finished = 0;
  const started = performance.now();
  const summary = await recipe.run({
    input: join(dir, "in"),
    outDir: join(dir, "out"),
    onEvent: (event) => {
      if (event.type !== "input-done" && event.type !== "input-failed") return;
      finished++;
      if (finished === early || finished === count || finished % 50 === 0) {
        (globalThis as { gc?: () => void }).gc?.(); // with --v8-flags=--expose-gc: less noise
        const usage = Deno.memoryUsage();
        rss[finished] = usage.rss;
        heap[finished] = usage.heapUsed;
      }
    },
  });
  console.log(JSON.stringify({
    count,
    early,
    done: summary.done.length,
    failed: summary.failed.map((f) => f.error),
    rssEarly: rss[early],
    rssLast: rss[count],
    heapEarly: heap[early],
    heapLast: heap[count],
    seconds: (performance.now() - started) / 1000,
    trace: Object.entries(rss).map(([n, bytes]) => `${n}:${(bytes / 2 ** 20).toFixed(1)}`).join(
      " ",
    ),
  }));
} finally {
  await Deno.remove(dir, { recursive: true });
}
