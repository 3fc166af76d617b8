/**
 * `dipline submit`, `status`, `watch` and `fetch` as a user runs them (subprocesses) against a
 * real server on 127.0.0.1, with `DIPLINE_SERVER` and `DIPLINE_TOKEN` from the environment.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeImage } from "../image/load.ts";
import { cardPng, startTestServer, type TestServer } from "./service_helpers.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;
const MOD = new URL("../mod.ts", import.meta.url).href;
const TOKEN = "token-for-the-cli-tests";

async function dipline(
  server: TestServer,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    env: { DIPLINE_SERVER: server.url, DIPLINE_TOKEN: TOKEN, NO_COLOR: "1" },
    stdin: "null",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
}

Deno.test("submit a .ts recipe with an upload, then status, watch and fetch its outputs", async () => {
  const server = await startTestServer({ token: TOKEN });
  try {
    const recipe = join(server.dir, "noisy.ts");
    await Deno.writeTextFile(
      recipe,
      `import { pipeline } from "${MOD}";\n` +
        `export default pipeline().degrade({ noise: 25, seed: 1 }).save("{name}_noisy.png");\n`,
    );
    const image = join(server.dir, "photo.png");
    await Deno.writeFile(image, await cardPng(16));

    const submitted = await dipline(server, "submit", recipe, image, "--json");
    assert.equal(submitted.code, 0, submitted.stderr);
    const job = JSON.parse(submitted.stdout);
    assert.equal(job.status, "queued");
    assert.deepEqual(job.recipe, { steps: 2 });

    const watched = await dipline(server, "watch", job.id);
    assert.equal(watched.code, 0, watched.stderr);
    assert.match(watched.stdout, new RegExp(`^${job.id} succeeded · 1/1 inputs`));
    assert.match(watched.stderr, /input-done photo/);

    const status = await dipline(server, "status", job.id, "--json");
    assert.equal(JSON.parse(status.stdout).status, "succeeded");
    const listed = await dipline(server, "status");
    assert.match(listed.stdout, new RegExp(`^${job.id} succeeded`));

    const out = join(server.dir, "fetched");
    const fetched = await dipline(server, "fetch", job.id, "-o", out);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.equal(fetched.stdout.trim(), join(out, "photo_noisy.png"));
    const restored = await decodeImage(await Deno.readFile(join(out, "photo_noisy.png")), "x");
    assert.equal(restored.width, 16);
  } finally {
    await server.close();
  }
});

Deno.test("submit --wait exits 0 on success and 1 on failure; a missing job is one line, exit 1", async () => {
  const server = await startTestServer({ token: TOKEN, attempts: 1 });
  try {
    const ok = await dipline(server, "submit", "quick", "--path", "card.png", "--wait");
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /succeeded · 1\/1 inputs[\s\S]*card: done · card_noisy\.png/);

    const broken = join(server.dir, "broken.png");
    await Deno.writeFile(broken, (await cardPng(16)).slice(0, 40));
    const failed = await dipline(server, "submit", "quick", broken, "--wait", "--json");
    assert.equal(failed.code, 1);
    assert.equal(JSON.parse(failed.stdout).status, "failed");

    const missing = await dipline(server, "status", "no-such-job");
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim(), 'no job "no-such-job" (job_not_found)');
    const unknown = await dipline(server, "submit", "nope", "--path", "card.png");
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /\(unknown_recipe\)/);
    const usage = await dipline(server, "submit", "quick");
    assert.equal(usage.code, 2);
  } finally {
    await server.close();
  }
});
