/**
 * The service's small parts alone: image headers, path checks, the secret compare, progress
 * folding and ETA, path redaction, the seed run option, and the refusal to bind another host
 * without a token.
 */
import assert from "node:assert/strict";
import { UsageError } from "../core/errors.ts";
import { encodeImage } from "../image/save.ts";
import { testCard } from "../image/testcard.ts";
import { sameSecret } from "../service/app.ts";
import { imageSize } from "../service/image_header.ts";
import { foldProgress, initialProgress } from "../service/jobs.ts";
import type { ApiError } from "../service/errors.ts";
import { checkRelative, uploadName } from "../service/paths.ts";
import { withSeed } from "../service/recipes.ts";
import { redactPaths } from "../service/runner.ts";
import { startServer } from "../service/server.ts";
import { defaultCodec } from "../service/recipes.ts";

Deno.test("imageSize() reads PNG, JPEG and GIF headers and nothing else", async () => {
  const card = testCard(16, 24); // height, width
  assert.deepEqual(imageSize(await encodeImage(card, { format: "png" })), {
    width: 24,
    height: 16,
  });
  assert.deepEqual(imageSize(await encodeImage(card, { format: "jpeg" })), {
    width: 24,
    height: 16,
  });
  const gif = new Uint8Array([0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x10, 0x27, 0x20, 0x00]);
  assert.deepEqual(imageSize(gif), { width: 10000, height: 32 });
  assert.equal(imageSize(new TextEncoder().encode("<svg>")), undefined);
  assert.equal(imageSize(new Uint8Array([0xff, 0xd8, 0xff])), undefined, "JPEG cut short");
});

Deno.test("checkRelative() accepts plain relative paths and refuses every escape", () => {
  assert.deepEqual(checkRelative("a/b_1.png", "path"), ["a", "b_1.png"]);
  for (
    const bad of [
      "../x",
      "a/../../x",
      "/etc/passwd",
      "a\\..\\b",
      "a//b",
      "./a",
      ".hidden",
      "a/.b",
      "a\0b",
    ]
  ) {
    assert.throws(
      () => checkRelative(bad, "path"),
      (e: ApiError) => e.code === "path_escape",
      JSON.stringify(bad),
    );
  }
  assert.throws(() => checkRelative("", "path"), (e: ApiError) => e.code === "invalid_input");
  assert.equal(uploadName("../../evil name!.png", 0), "evil_name_.png");
  assert.equal(uploadName("...", 2), "upload-3.png");
});

Deno.test("sameSecret() compares whole secrets of any length", () => {
  assert.equal(sameSecret("abc", "abc"), true);
  assert.equal(sameSecret("abc", "abd"), false);
  assert.equal(sameSecret("abc", "abcd"), false);
  assert.equal(sameSecret("", "x"), false);
});

Deno.test("foldProgress() counts inputs, follows the fit and estimates the time left", () => {
  let p = initialProgress([
    { name: "a", source: "upload", file: "a.png" },
    { name: "b", source: "upload", file: "b.png" },
  ]);
  const rel = (path: string) => path.replace("/out/", "");
  p = foldProgress(p, { type: "start", total: 2, skipped: 0 }, rel);
  p = foldProgress(p, { type: "input-start", name: "a", index: 0 }, rel);
  p = foldProgress(p, {
    type: "fit",
    name: "a",
    step: 100,
    total: 300,
    loss: 0.01,
    stepsPerSecond: 100,
    psnr: 25,
  }, rel);
  assert.equal(p.current, "a");
  assert.equal(p.etaSeconds, 2 + 3, "2 s left of a, then b at 3 s");
  p = foldProgress(
    p,
    { type: "input-done", name: "a", index: 0, ms: 4000, outputs: ["/out/a.png"] },
    rel,
  );
  assert.equal(p.inputsDone, 1);
  assert.deepEqual(p.inputs[0]!.outputs, ["a.png"]);
  assert.equal(p.etaSeconds, 4, "b at a's 4 s");
  p = foldProgress(p, { type: "input-start", name: "b", index: 1 }, rel);
  p = foldProgress(p, { type: "input-interrupted", name: "b" }, rel);
  assert.equal(p.inputs[1]!.status, "pending");
  p = foldProgress(p, { type: "input-failed", name: "b", error: "broken" }, rel);
  assert.deepEqual([p.inputsFailed, p.inputs[1]!.error], [1, "broken"]);
});

Deno.test("redactPaths() and withSeed()", () => {
  assert.equal(
    redactPaths("/srv/data/jobs/1/inputs/a.png: damaged", ["/srv/data/jobs/1/inputs"]),
    "a.png: damaged",
  );
  const doc = {
    version: 1,
    steps: [{ op: "degrade", options: { seed: 1 } }, {
      op: "dipFit",
      options: { task: "denoise" },
    }],
  };
  assert.deepEqual(withSeed(doc, 9), {
    version: 1,
    steps: [{ op: "degrade", options: { seed: 1 } }, {
      op: "dipFit",
      options: { task: "denoise", seed: 9 },
    }],
  });
  assert.equal(withSeed(doc, undefined), doc);
});

Deno.test("startServer() refuses another host without a token, and a short token", async () => {
  const data = await Deno.makeTempDir({ prefix: "dipline-units-" });
  try {
    await assert.rejects(
      startServer({ host: "0.0.0.0", port: 0, data, codec: defaultCodec() }),
      UsageError,
    );
    await assert.rejects(
      startServer({ port: 0, data, codec: defaultCodec(), token: "short" }),
      UsageError,
    );
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});
