import assert from "node:assert/strict";
import { lanczosDownsample } from "../dip/degrade.ts";
import { testCard } from "../image/testcard.ts";
import { baselineScores, parseLearnedFlag } from "../bench/quality/learned.ts";
import type { Item } from "../bench/quality/items.ts";

Deno.test("bench:quality's SR baselines score bicubic and a learned model on the item's LR", async () => {
  const clean = testCard(32, 32);
  const item: Item = {
    task: "sr",
    set: "set5",
    name: "card",
    clean,
    observation: lanczosDownsample(clean, 4),
  };
  const scores = await baselineScores(item, ["esrgan-slim"]);
  assert.ok(scores.bicubic! > 10 && scores.bicubic! < 40);
  assert.ok(Number.isFinite(scores.learned!["esrgan-slim"]));
  assert.deepEqual(await baselineScores({ ...item, task: "denoise" }, ["esrgan-slim"]), {});
});

Deno.test("bench:quality --esrgan takes all, none or a list with or without the prefix", () => {
  assert.deepEqual(parseLearnedFlag(undefined), ["esrgan-slim", "esrgan-medium", "esrgan-thick"]);
  assert.deepEqual(parseLearnedFlag("none"), []);
  assert.deepEqual(parseLearnedFlag("slim,esrgan-thick"), ["esrgan-slim", "esrgan-thick"]);
  assert.throws(() => parseLearnedFlag("huge"), /--esrgan .* but received "huge"/);
});
