/**
 * The page's routes without a browser: every asset is served by dipline (uPlot from its pinned
 * npm package), without a token, and the service turns previews on for submitted fits.
 */
import { deepStrictEqual as deepEqual, equal, ok } from "node:assert/strict";
import { defaultStopRule, stopsByDefault } from "../dip/stopping.ts";
import { UPLOT_VERSION, withPreviews } from "../service/page.ts";
import { startTestServer } from "./service_helpers.ts";

Deno.test("the page and its assets are served by dipline, with no token needed", async () => {
  const server = await startTestServer({ token: "a-token-for-the-page-test" });
  try {
    for (
      const [path, type] of [
        ["/", "text/html"],
        ["/page/app.js", "text/javascript"],
        ["/page/app.css", "text/css"],
        ["/page/uplot.js", "text/javascript"],
        ["/page/uplot.css", "text/css"],
        ["/page/tasks.json", "application/json"],
      ] as const
    ) {
      const response = await fetch(`${server.url}${path}`);
      const body = await response.text();
      equal(response.status, 200, path);
      ok(response.headers.get("content-type")?.startsWith(type!), path);
      ok(body.length > 100, path);
    }
    const html = await (await fetch(`${server.url}/`)).text();
    ok(!/https?:\/\//.test(html.replace(/<!doctype html>/i, "")), "no external URL in the page");
    const tasks = await (await fetch(`${server.url}/page/tasks.json`)).json();
    ok(tasks.some((t: { task: string }) => t.task === "sr"));
    // The form's stop box follows dipFit's per-task default and names the rule it runs.
    const byTask = new Map<string, { stopRule: string; stopsByDefault: boolean }>(
      tasks.map((t: { task: string }) => [t.task, t]),
    );
    for (const task of ["denoise", "sr", "jpeg", "inpaint"]) {
      equal(byTask.get(task)?.stopRule, defaultStopRule(task), task);
      equal(byTask.get(task)?.stopsByDefault, stopsByDefault(task), task);
    }
    // The API still needs the token.
    equal((await fetch(`${server.url}/v1/jobs`)).status, 401);
  } finally {
    await server.close();
  }
});

Deno.test("deno.json pins the uPlot version the page serves", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  equal(config.imports.uplot, `npm:uplot@${UPLOT_VERSION}`);
});

Deno.test("withPreviews() turns previews on for fits that do not say otherwise", () => {
  const doc = withPreviews({
    version: 1,
    steps: [
      { op: "degrade", options: { noise: 25 } },
      { op: "dipFit", options: { task: "denoise", iterations: 2000 } },
      { op: "dipFit", options: { task: "denoise", previewEvery: 0 } },
    ],
  }) as { steps: { options: Record<string, unknown> }[] };
  equal(doc.steps[1]!.options.previewEvery, 1); // 2000 steps / 50 per check / 40 previews
  equal(doc.steps[2]!.options.previewEvery, 0);
  deepEqual(doc.steps[0]!.options, { noise: 25 });
});
