/**
 * The API's routes through `app.request` (no socket, no worker): every error code, auth and the
 * host check, path escapes, upload limits and a decompression-bomb header, the OpenAPI document.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { crc32 } from "../image/png.ts";
import { createApp } from "../service/app.ts";
import type { JobData, JobProgress } from "../service/jobs.ts";
import { defaultCodec } from "../service/recipes.ts";
import { SqliteQueue } from "../service/sqlite_queue.ts";
import { cardPng, QUICK_RECIPE } from "./service_helpers.ts";

interface Fixture {
  request(path: string, init?: RequestInit): Promise<Response>;
  queue: SqliteQueue<JobData, JobProgress>;
  dir: string;
  close(): Promise<void>;
}

/** An app over an in-memory queue with no worker, and folders data/, root/, recipes/. */
async function fixture(
  options: { token?: string; maxUploadBytes?: number; noRoot?: boolean } = {},
): Promise<Fixture> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "dipline-app-" }));
  for (const sub of ["data", "root", "recipes", "outside"]) await Deno.mkdir(join(dir, sub));
  await Deno.writeFile(join(dir, "root", "card.png"), await cardPng());
  await Deno.writeTextFile(join(dir, "root", "notes.txt"), "not an image");
  await Deno.writeFile(join(dir, "outside", "secret.png"), await cardPng());
  await Deno.symlink(join(dir, "outside", "secret.png"), join(dir, "root", "link.png"));
  await Deno.symlink(join(dir, "outside"), join(dir, "root", "linked-folder"));
  await Deno.writeTextFile(join(dir, "recipes", "quick.json"), JSON.stringify(QUICK_RECIPE));
  await Deno.writeTextFile(join(dir, "recipes", "broken.json"), "{ not json");
  await Deno.writeTextFile(join(dir, "outside", "evil.json"), JSON.stringify(QUICK_RECIPE));
  const queue = SqliteQueue.open<JobData, JobProgress>(":memory:", "jobs");
  const app = createApp({
    queue,
    codec: defaultCodec(),
    dataDir: join(dir, "data"),
    recipesDir: join(dir, "recipes"),
    root: options.noRoot ? undefined : join(dir, "root"),
    token: options.token,
    maxUploadBytes: options.maxUploadBytes ?? 1024 * 1024,
    maxPixels: 1_000_000,
  });
  return {
    request: async (path, init = {}) => {
      const headers = new Headers(init.headers);
      if (!headers.has("host")) headers.set("host", "127.0.0.1:8417");
      return await app.request(`http://127.0.0.1:8417${path}`, { ...init, headers });
    },
    queue,
    dir,
    async close() {
      await queue.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const postJson = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

function multipart(fields: Record<string, string>, files: [string, Uint8Array][]): RequestInit {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  for (const [name, bytes] of files) {
    form.append("images", new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
  }
  return { method: "POST", body: form };
}

/** Asserts an error answer: status, stable code, and a message with no stack or server path. */
async function expectError(
  response: Response,
  status: number,
  code: string,
  dir?: string,
): Promise<string> {
  const body = await response.json();
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error?.code, code, JSON.stringify(body));
  assert.equal(typeof body.error.message, "string");
  assert.doesNotMatch(body.error.message, /\n\s+at /, "no stack trace");
  if (dir) assert.ok(!body.error.message.includes(dir), `no server path: ${body.error.message}`);
  return body.error.message;
}

/** A PNG whose header claims `width`×`height` pixels (and holds no pixel data). */
function pngHeader(width: number, height: number): Uint8Array {
  const ihdr = new Uint8Array(17);
  const view = new DataView(ihdr.buffer);
  ihdr.set([73, 72, 68, 82]); // "IHDR"
  view.setUint32(4, width);
  view.setUint32(8, height);
  ihdr.set([8, 2, 0, 0, 0], 12);
  const out = new Uint8Array(8 + 4 + 17 + 4);
  out.set([137, 80, 78, 71, 13, 10, 26, 10]);
  new DataView(out.buffer).setUint32(8, 13);
  out.set(ihdr, 12);
  new DataView(out.buffer).setUint32(29, crc32(ihdr));
  return out;
}

Deno.test("health and openapi.json answer; the document has every route and the recipe schema", async () => {
  const f = await fixture();
  try {
    const health = await f.request("/v1/health");
    assert.deepEqual(await health.json(), { status: "ok", version: "0.1.0" });
    const doc = await (await f.request("/v1/openapi.json")).json();
    assert.equal(doc.openapi, "3.1.0");
    for (
      const path of [
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/cancel",
        "/v1/jobs/{id}/events",
        "/v1/jobs/{id}/files/{name}",
        "/v1/health",
      ]
    ) assert.ok(doc.paths[path], path);
    assert.ok(doc.components.schemas.Recipe.properties.steps, "recipe schema");
    assert.deepEqual(doc.components.schemas.CreateJob.required, ["recipe"]);
    assert.ok(doc.components.schemas.Error.properties.error);
    assert.equal(
      doc.components.schemas.CreateJob.properties.runOptions.$ref,
      "#/components/schemas/RunOptions",
    );
  } finally {
    await f.close();
  }
});

Deno.test("unknown routes are not_found and wrong methods method_not_allowed", async () => {
  const f = await fixture();
  try {
    await expectError(await f.request("/v2/jobs"), 404, "not_found");
    await expectError(await f.request("/v1/jobs", { method: "PUT" }), 405, "method_not_allowed");
    await expectError(await f.request("/v1/jobs/x/cancel"), 405, "method_not_allowed");
  } finally {
    await f.close();
  }
});

Deno.test("without a token only loopback Host names are answered", async () => {
  const f = await fixture();
  try {
    for (const host of ["localhost:8417", "[::1]:8417", "127.0.0.1"]) {
      assert.equal((await f.request("/v1/health", { headers: { host } })).status, 200, host);
    }
    const rebound = await f.request("/v1/jobs", { headers: { host: "evil.example:8417" } });
    await expectError(rebound, 403, "forbidden_host");
  } finally {
    await f.close();
  }
});

Deno.test("with a token every /v1 route but health needs the bearer token", async () => {
  const token = "s3cret-token-for-the-tests";
  const f = await fixture({ token });
  try {
    assert.equal((await f.request("/v1/health", { headers: { host: "any.host" } })).status, 200);
    const none = await f.request("/v1/jobs");
    assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="dipline"');
    await expectError(none, 401, "unauthorized");
    for (const value of [`Bearer ${token}x`, `Basic ${token}`, `Bearer`, token]) {
      const wrong = await f.request("/v1/openapi.json", { headers: { authorization: value } });
      await expectError(wrong, 401, "unauthorized");
    }
    const right = await f.request("/v1/jobs", {
      headers: { authorization: `Bearer ${token}`, host: "dipline.internal" },
    });
    assert.equal(right.status, 200);
  } finally {
    await f.close();
  }
});

Deno.test("POST /v1/jobs queues a job and answers 201 with it", async () => {
  const f = await fixture();
  try {
    const response = await f.request(
      "/v1/jobs",
      multipart({ recipe: "quick", runOptions: '{"seed":7}' }, [["my photo.png", await cardPng()]]),
    );
    const job = await response.json();
    assert.equal(response.status, 201, JSON.stringify(job));
    assert.equal(response.headers.get("location"), `/v1/jobs/${job.id}`);
    assert.equal(job.status, "queued");
    assert.deepEqual(job.inputs, ["my_photo"]);
    assert.deepEqual(job.runOptions, { seed: 7 });
    assert.deepEqual(job.recipe, { name: "quick", steps: 2 });
    const stored = (await f.queue.get(job.id))!;
    assert.deepEqual(stored.data.inputs, [{
      name: "my_photo",
      source: "upload",
      file: "my_photo.png",
    }]);
    assert.deepEqual(
      await Deno.readFile(join(f.dir, "data", "jobs", job.id, "inputs", "my_photo.png")),
      await cardPng(),
    );
    const byPath = await f.request(
      "/v1/jobs",
      postJson({ recipe: QUICK_RECIPE, paths: ["card.png"] }),
    );
    assert.equal(byPath.status, 201);
    const list = await (await f.request("/v1/jobs?limit=1")).json();
    assert.equal(list.jobs.length, 1);
    assert.ok(list.next);
    const second = await (await f.request(`/v1/jobs?limit=1&cursor=${list.next}`)).json();
    assert.equal(second.jobs[0].id, job.id);
  } finally {
    await f.close();
  }
});

Deno.test("POST /v1/jobs refuses bad bodies, recipes and inputs with stable codes", async () => {
  const f = await fixture({ maxUploadBytes: 64 * 1024 });
  try {
    const png = await cardPng();
    const cases: [RequestInit, number, string][] = [
      [
        { method: "POST", body: "x", headers: { "content-type": "text/plain" } },
        415,
        "unsupported_media_type",
      ],
      [postJson("{ nope"), 400, "invalid_json"],
      [postJson({ recipe: "quick", paths: ["card.png"], extra: 1 }), 400, "bad_request"],
      [
        postJson({ recipe: "quick", paths: ["card.png"], runOptions: { engine: "tpu" } }),
        400,
        "bad_request",
      ],
      [postJson({ recipe: "quick", paths: ["card.png"], webhook: "ftp://x" }), 400, "bad_request"],
      [postJson({ recipe: "quick" }), 400, "invalid_input"],
      [postJson({ recipe: "nope", paths: ["card.png"] }), 404, "unknown_recipe"],
      [postJson({ recipe: "broken", paths: ["card.png"] }), 400, "invalid_recipe"],
      [postJson({ recipe: "../outside/evil", paths: ["card.png"] }), 400, "path_escape"],
      [postJson({ recipe: "..", paths: ["card.png"] }), 400, "path_escape"],
      [
        postJson({
          recipe: { version: 1, steps: [{ op: "degrade", options: { noise: -1 } }] },
          paths: ["card.png"],
        }),
        400,
        "invalid_recipe",
      ],
      [
        postJson({
          recipe: { version: 1, steps: [{ op: "eval", options: { code: "Deno.exit()" } }] },
          paths: ["card.png"],
        }),
        400,
        "invalid_recipe",
      ],
      [postJson({ recipe: "quick", paths: ["../outside/secret.png"] }), 400, "path_escape"],
      [postJson({ recipe: "quick", paths: [join(f.dir, "root", "card.png")] }), 400, "path_escape"],
      [postJson({ recipe: "quick", paths: ["link.png"] }), 400, "path_escape"],
      [postJson({ recipe: "quick", paths: ["linked-folder/secret.png"] }), 400, "path_escape"],
      [postJson({ recipe: "quick", paths: ["sub\\..\\..\\x.png"] }), 400, "path_escape"],
      [postJson({ recipe: "quick", paths: ["missing.png"] }), 400, "invalid_input"],
      [postJson({ recipe: "quick", paths: ["notes.txt"] }), 400, "not_an_image"],
      [postJson({ recipe: "quick", paths: ["card.png", "card.png"] }), 400, "duplicate_input"],
      [multipart({ recipe: "quick" }, [["a.png", png], ["a.jpg", png]]), 400, "duplicate_input"],
      [
        multipart({ recipe: "quick" }, [["a.txt", new TextEncoder().encode("hello")]]),
        400,
        "not_an_image",
      ],
      [
        multipart({ recipe: "quick" }, [["bomb.png", pngHeader(100_000, 100_000)]]),
        400,
        "image_too_large",
      ],
      [
        multipart({ recipe: "quick" }, [["big.png", new Uint8Array(200 * 1024)]]),
        413,
        "payload_too_large",
      ],
      [multipart({ recipe: "quick", runOptions: "{" }, [["a.png", png]]), 400, "invalid_json"],
      [multipart({ recipe: "{ no" }, [["a.png", png]]), 400, "invalid_json"],
    ];
    for (const [init, status, code] of cases) {
      const label = typeof init.body === "string" ? init.body : code;
      try {
        // A message may quote what the client sent, even a path; it adds no server path.
        const echoes = typeof init.body === "string" && init.body.includes(f.dir);
        await expectError(
          await f.request("/v1/jobs", init),
          status,
          code,
          echoes ? undefined : f.dir,
        );
      } catch (error) {
        throw new Error(`${label}: ${(error as Error).message}`);
      }
    }
    assert.equal((await f.queue.counts()).queued, 0, "nothing was queued");
  } finally {
    await f.close();
  }
  const noRoot = await fixture({ noRoot: true });
  try {
    const response = await noRoot.request(
      "/v1/jobs",
      postJson({ recipe: "quick", paths: ["card.png"] }),
    );
    await expectError(response, 400, "root_not_configured");
  } finally {
    await noRoot.close();
  }
});

Deno.test("job routes: not found, bad query, cancel, delete and file escapes", async () => {
  const f = await fixture();
  try {
    await expectError(await f.request("/v1/jobs/nope"), 404, "job_not_found");
    await expectError(await f.request("/v1/jobs/..%2F..%2Fetc"), 404, "job_not_found");
    await expectError(await f.request("/v1/jobs?limit=0"), 400, "bad_request");
    await expectError(await f.request("/v1/jobs?status=done"), 400, "bad_request");
    await expectError(await f.request("/v1/jobs?cursor=abc"), 400, "bad_request");
    await expectError(await f.request("/v1/jobs/nope/events"), 404, "job_not_found");

    const created =
      await (await f.request("/v1/jobs", postJson({ recipe: "quick", paths: ["card.png"] })))
        .json();
    const id = created.id;
    await expectError(await f.request(`/v1/jobs/${id}`, { method: "DELETE" }), 409, "job_active");
    await expectError(
      await f.request(`/v1/jobs/${id}/events`, { headers: { "last-event-id": "x" } }),
      400,
      "bad_request",
    );

    const outputs = join(f.dir, "data", "jobs", id, "outputs");
    await Deno.mkdir(outputs, { recursive: true });
    await Deno.writeFile(join(outputs, "card_noisy.png"), await cardPng());
    await Deno.writeFile(join(outputs, ".card_noisy.png.x1.tmp"), new Uint8Array(3));
    await Deno.symlink(join(f.dir, "outside", "secret.png"), join(outputs, "leak.png"));
    const file = await f.request(`/v1/jobs/${id}/files/card_noisy.png`);
    assert.equal(file.status, 200);
    assert.equal(file.headers.get("content-type"), "image/png");
    assert.deepEqual(new Uint8Array(await file.arrayBuffer()), await cardPng());
    for (const name of [".card_noisy.png.x1.tmp", "..%2F..%2Fqueue.db", "a%5C..%5Cb"]) {
      await expectError(await f.request(`/v1/jobs/${id}/files/${name}`), 400, "path_escape", f.dir);
    }
    await expectError(await f.request(`/v1/jobs/${id}/files/leak.png`), 400, "path_escape", f.dir);
    // URL parsing folds an encoded ".." away before routing: it never reaches the files route.
    await expectError(
      await f.request(`/v1/jobs/${id}/files/%2E%2E/%2E%2E/queue.db`),
      404,
      "job_not_found",
    );
    await expectError(await f.request(`/v1/jobs/${id}/files/none.png`), 404, "file_not_found");

    const canceled = await (await f.request(`/v1/jobs/${id}/cancel`, { method: "POST" })).json();
    assert.equal(canceled.status, "canceled");
    await expectError(
      await f.request(`/v1/jobs/${id}/cancel`, { method: "POST" }),
      409,
      "job_finished",
    );
    // A finished job's stream replays and ends.
    const events = await (await f.request(`/v1/jobs/${id}/events`)).text();
    assert.match(events, /"type":"job-queued"[\s\S]*"type":"job-canceled"/);
    const removed = await f.request(`/v1/jobs/${id}`, { method: "DELETE" });
    assert.equal(removed.status, 204);
    await expectError(await f.request(`/v1/jobs/${id}`), 404, "job_not_found");
  } finally {
    await f.close();
  }
});

Deno.test("an unexpected failure answers internal with no stack trace or message detail", async () => {
  const queue = SqliteQueue.open<JobData, JobProgress>(":memory:", "jobs");
  const app = createApp({
    queue,
    codec: {
      ...defaultCodec(),
      schema: () => {
        throw new Error("boom at /srv/secret/place");
      },
    },
    dataDir: "/nonexistent",
  });
  const originalError = console.error;
  console.error = () => {};
  try {
    const response = await app.request("http://127.0.0.1/v1/openapi.json", {
      headers: { host: "127.0.0.1" },
    });
    const message = await expectError(response, 500, "internal");
    assert.ok(!message.includes("/srv/secret"));
  } finally {
    console.error = originalError;
    await queue.close();
  }
});
