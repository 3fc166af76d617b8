/**
 * The service against a real server on 127.0.0.1 (a free port) with a real HTTP client: submit,
 * follow, fetch, delete; cancel during a fit; SSE replay after a reconnect; retries to failure;
 * webhooks retried with backoff; auth on.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeImage } from "../image/load.ts";
import { type ApiClientError, DiplineClient, type JobEvent } from "../service/client.ts";
import { signBody } from "../service/webhooks.ts";
import { cardPng, fitRecipe, QUICK_RECIPE, startTestServer, waitFor } from "./service_helpers.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("a job submitted with uploads runs, streams its events, serves its files and is removed", async () => {
  const server = await startTestServer();
  try {
    const client = new DiplineClient(server.url);
    const created = await client.submit({
      recipe: QUICK_RECIPE,
      images: [{ name: "a.png", bytes: await cardPng(16) }, {
        name: "b.png",
        bytes: await cardPng(20),
      }],
    });
    assert.equal(created.status, "queued");
    assert.deepEqual(created.inputs, ["a", "b"]);
    const events: JobEvent[] = [];
    for await (const event of client.events(created.id)) events.push(event);
    const types = events.map((e) => e.type);
    assert.equal(types[0], "job-queued");
    assert.equal(types.at(-1), "job-succeeded");
    assert.ok(types.includes("input-done"), types.join(" "));
    assert.ok(events.every((e) => e.jobId === created.id));

    const job = await client.get(created.id);
    assert.equal(job.status, "succeeded");
    assert.equal(job.progress.inputsDone, 2);
    assert.deepEqual(job.results.map((r) => r.status), ["done", "done"]);
    const file = job.results[0]!.files[0]!;
    assert.equal(file.name, "a_noisy.png");
    assert.equal(file.url, `/v1/jobs/${job.id}/files/a_noisy.png`);
    const image = await decodeImage(await client.download(job.id, file.name), file.name);
    assert.equal(image.width, 16);
    assert.ok(job.timings.runMs! >= 0 && job.startedAt !== undefined);

    const page = await client.list({ limit: 5 });
    assert.equal(page.jobs[0]!.id, job.id);

    await client.remove(job.id);
    await assert.rejects(client.get(job.id), (e: ApiClientError) => e.code === "job_not_found");
    assert.equal(await exists(join(server.data, "jobs", job.id)), false);
  } finally {
    await server.close();
  }
});

Deno.test("a job names its recipe and its inputs by path under --root", async () => {
  const server = await startTestServer();
  try {
    const client = new DiplineClient(server.url);
    const created = await client.submit({ recipe: "quick", paths: ["card.png"] });
    assert.equal(created.recipe.name, "quick");
    const job = await client.wait(created.id);
    assert.equal(job.status, "succeeded", job.error ?? "");
    assert.deepEqual(job.results[0]!.files.map((f) => f.name), ["card_noisy.png"]);
  } finally {
    await server.close();
  }
});

Deno.test("cancel stops a running fit at its next check and writes no output", async () => {
  const server = await startTestServer();
  try {
    const client = new DiplineClient(server.url);
    const created = await client.submit({
      recipe: fitRecipe(1_000_000, false),
      images: [{ name: "card.png", bytes: await cardPng(16) }],
      runOptions: { engine: "cpu", seed: 3 },
    });
    const events: JobEvent[] = [];
    for await (const event of client.events(created.id)) {
      events.push(event);
      if (event.type === "fit" && events.filter((e) => e.type === "fit").length === 1) {
        const asked = await client.cancel(created.id);
        assert.ok(asked.cancelRequested || asked.status === "canceled");
      }
    }
    assert.equal(events.at(-1)!.type, "job-canceled");
    const job = await client.get(created.id);
    assert.equal(job.status, "canceled");
    assert.equal(job.progress.inputsDone, 0);
    assert.deepEqual(job.results.map((r) => r.status), ["pending"], "interrupted, not failed");
    assert.deepEqual(job.runOptions, { engine: "cpu", seed: 3 });
    const outputs = join(server.data, "jobs", job.id, "outputs");
    assert.equal(await exists(join(outputs, "card_restored.png")), false);
    await assert.rejects(client.cancel(job.id), (e: ApiClientError) => e.code === "job_finished");
    await assert.rejects(
      client.download(job.id, "card_restored.png"),
      (e: ApiClientError) => e.code === "file_not_found",
    );
  } finally {
    await server.close();
  }
});

Deno.test("the event stream replays what a client missed after it reconnects with Last-Event-ID", async () => {
  const server = await startTestServer();
  try {
    const client = new DiplineClient(server.url);
    const created = await client.submit({
      recipe: fitRecipe(60),
      images: [{ name: "card.png", bytes: await cardPng(16) }],
    });
    // First connection: take three events, then drop it.
    const controller = new AbortController();
    const first: JobEvent[] = [];
    for await (const event of client.events(created.id, { signal: controller.signal })) {
      first.push(event);
      if (first.length === 3) break;
    }
    controller.abort();
    const rest: JobEvent[] = [];
    for await (const event of client.events(created.id, { lastEventId: first.at(-1)!.id })) {
      rest.push(event);
    }
    const all: JobEvent[] = [];
    for await (const event of client.events(created.id)) all.push(event);
    assert.deepEqual([...first, ...rest].map((e) => e.id), all.map((e) => e.id));
    assert.ok(rest.some((e) => e.type === "fit"), "fit progress came through");
    assert.equal(all.at(-1)!.type, "job-succeeded");

    // The raw stream: SSE ids are the event ids, and Last-Event-ID is honoured.
    const response = await fetch(`${server.url}/v1/jobs/${created.id}/events`, {
      headers: { "Last-Event-ID": String(all.at(-2)!.id) },
    });
    assert.equal(response.headers.get("content-type"), "text/event-stream");
    const text = await response.text();
    assert.match(
      text,
      new RegExp(`^data: \\{.*"type":"job-succeeded".*\\}\nid: ${all.at(-1)!.id}$`, "m"),
    );
    assert.equal(text.match(/^data:/gm)?.length, 1);
  } finally {
    await server.close();
  }
});

Deno.test("a job whose input fails is retried with backoff and fails with its last error, naming no server path", async () => {
  const server = await startTestServer({ attempts: 2 });
  try {
    const client = new DiplineClient(server.url);
    // A PNG header that passes the pixel check, then garbage.
    const broken = (await cardPng(16)).slice(0, 40);
    const created = await client.submit({
      recipe: QUICK_RECIPE,
      images: [{ name: "broken.png", bytes: broken }],
    });
    const job = await client.wait(created.id);
    assert.equal(job.status, "failed");
    assert.deepEqual(job.attempts, { made: 2, max: 2 });
    assert.match(job.error!, /^1 of 1 inputs failed; broken: broken\.png: /);
    assert.ok(!job.error!.includes(server.dir), job.error ?? "");
    assert.equal(job.results[0]!.status, "failed");
    const events = [];
    for await (const event of client.events(job.id)) events.push(event.type);
    assert.equal(events.filter((t) => t === "job-retrying").length, 1);
  } finally {
    await server.close();
  }
});

Deno.test("a webhook is POSTed, signed, when the job ends, and retried after a failed delivery", async () => {
  const token = "a-long-enough-test-token";
  const deliveries: { status: string; signature: string | null; body: string }[] = [];
  const receiver = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const body = await req.text();
      deliveries.push({
        status: JSON.parse(body).status,
        signature: req.headers.get("x-dipline-signature"),
        body,
      });
      return new Response(null, { status: deliveries.length === 1 ? 503 : 204 });
    },
  );
  const server = await startTestServer({ token });
  try {
    const client = new DiplineClient(server.url, token);
    const created = await client.submit({
      recipe: "quick",
      paths: ["card.png"],
      webhook: `http://127.0.0.1:${receiver.addr.port}/hook`,
    });
    await client.wait(created.id);
    await waitFor(() => deliveries.length === 2);
    assert.deepEqual(deliveries.map((d) => d.status), ["succeeded", "succeeded"]);
    assert.equal(deliveries[1]!.signature, signBody(token, deliveries[1]!.body));
  } finally {
    await server.close();
    await receiver.shutdown();
  }
});

Deno.test("with a token every route but health needs it", async () => {
  const token = "another-long-test-token";
  const server = await startTestServer({ token });
  try {
    const health = await fetch(`${server.url}/v1/health`);
    assert.deepEqual(await health.json(), { status: "ok", version: "0.1.0" });
    const anonymous = new DiplineClient(server.url);
    await assert.rejects(anonymous.list(), (e: ApiClientError) => e.code === "unauthorized");
    const wrong = new DiplineClient(server.url, "not-the-token-at-all");
    await assert.rejects(wrong.list(), (e: ApiClientError) => e.status === 401);
    const right = new DiplineClient(server.url, token);
    assert.deepEqual((await right.list()).jobs, []);
  } finally {
    await server.close();
  }
});
