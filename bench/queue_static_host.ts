/**
 * One host of a static-shard run in the queue benchmark (bench/queue.ts): takes shard `i/n` of
 * a folder exactly as `dipline run --shard i/n` would, prints `ready`, waits for a line on stdin,
 * then "fits" its inputs one after another by sleeping `--ms-per-mp` per million pixels (read
 * from each PNG header) and prints one JSON line: its shard, the inputs it did and when it
 * finished (ms since the epoch).
 *
 * ```sh
 * deno run -A bench/queue_static_host.ts --input DIR --shard 3/50 --ms-per-mp 300
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { parseShard, resolveInputs, takeShard } from "../pipeline/sources.ts";

/** Width × height of a PNG, from its IHDR. */
export async function pngPixels(path: string): Promise<number> {
  const file = await Deno.open(path);
  try {
    const head = new Uint8Array(24);
    await file.read(head);
    const view = new DataView(head.buffer);
    return view.getUint32(16) * view.getUint32(20);
  } finally {
    file.close();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      input: { type: "string" },
      shard: { type: "string" },
      "ms-per-mp": { type: "string" },
    },
  });
  const shard = parseShard(values.shard!);
  const mine = takeShard(await resolveInputs(values.input!), shard);
  const msPerMp = Number(values["ms-per-mp"]);
  const pixels = await Promise.all(mine.map((item) => pngPixels(item.path!)));
  console.log("ready");
  const reader = Deno.stdin.readable.getReader();
  await reader.read(); // the go line
  reader.releaseLock();
  for (const count of pixels) {
    await new Promise((resolve) => setTimeout(resolve, msPerMp * count / 1e6));
  }
  console.log(JSON.stringify({ shard: shard.index, items: mine.length, endAt: Date.now() }));
}
