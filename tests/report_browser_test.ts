/**
 * Reports in a real browser (headless Chromium, tests/browser_helpers.ts): a report of 500
 * inputs opens fast, every thumbnail decodes and every curve has its points. The screenshot
 * lands in out/screenshots/report.png.
 */
import { equal, ok } from "node:assert/strict";
import { renderReport } from "../ops/report/html.ts";
import { launchBrowser, screenshot } from "./browser_helpers.ts";
import { tempDir } from "./fixtures.ts";
import { syntheticEntries } from "./report_helpers.ts";

Deno.test("a report of 500 inputs opens fast, its images decode and its curves have points", async () => {
  const dir = await tempDir();
  const browser = await launchBrowser();
  try {
    const html = renderReport({
      title: "500 photos",
      created: "2026-01-01T00:00:00Z",
      entries: await syntheticEntries(500),
      settings: { input: "photos/", output: "out/" },
    });
    const path = `${dir}/report.html`;
    await Deno.writeTextFile(path, html);
    const page = await browser.newPage(1200, 900);
    // Nothing but the file itself may load: the report is self-contained.
    const requests: string[] = [];
    page.on("request", (request) => requests.push(request.url()));
    const started = performance.now();
    await page.goto(`file://${path}`, { waitUntil: "load" });
    const openMs = performance.now() - started;
    const fcp = await page.evaluate(
      `performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? -1`,
    ) as number;
    console.log(
      `report of 500 inputs: ${(html.length / 1024 / 1024).toFixed(2)} MiB, load ${
        openMs.toFixed(0)
      } ms, first paint ${fcp.toFixed(0)} ms`,
    );
    ok(openMs < 5000, `load took ${openMs} ms`);
    equal(requests.filter((url) => !url.startsWith("data:")).length, 1, requests.join("\n"));

    // (The page's code runs in the browser: strings, as the project's types have no DOM.)
    const images = await page.evaluate(
      `Array.from(document.images).map((img) => [img.complete, img.naturalWidth])`,
    ) as [boolean, number][];
    equal(images.length, 490 * 3, "three thumbnails per restored input");
    ok(images.every(([complete, width]) => complete && width > 0), "every image decodes");

    const charts = await page.evaluate(`
      Array.from(document.querySelectorAll("section.input")).map((section) =>
        Array.from(section.querySelectorAll("svg.chart")).map((svg) =>
          Array.from(svg.querySelectorAll("polyline")).map((line) => ({
            series: line.getAttribute("data-series"),
            points: line.points.length,
            declared: Number(line.getAttribute("data-points")),
          }))
        )
      )`) as { series: string; points: number; declared: number }[][][];
    equal(charts.length, 490);
    for (const sectionCharts of charts) {
      equal(sectionCharts.length, 2);
      for (const lines of sectionCharts) {
        ok(lines.length >= 1, "every chart has a curve");
        for (const line of lines) {
          ok(line.points >= 2 && line.points === line.declared, JSON.stringify(line));
        }
      }
    }
    const failures = await page.evaluate(`document.querySelectorAll(".failures li").length`);
    equal(failures, 10);
    await screenshot(page, "report", false);
    await page.setViewport({ width: 390, height: 844 });
    await screenshot(page, "report-phone", false);
  } finally {
    await browser.close();
    await Deno.remove(dir, { recursive: true });
  }
});
