/**
 * The web page (service/page/) in a real browser: headless Chromium loads it from a real
 * server on 127.0.0.1, uploads a generated image through the file input, submits, watches the
 * preview change and the curves gain points, waits for the result, checks the comparison and
 * the download, cancels a second job, and checks the token prompt. Screenshots (desktop and
 * phone width) land in out/screenshots/.
 */
import { equal, ok } from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { encodeImage } from "../image/save.ts";
import { testCard } from "../image/testcard.ts";
import { launchBrowser, screenshot, type TestBrowser } from "./browser_helpers.ts";
import { startTestServer, type TestServer } from "./service_helpers.ts";

/** Evaluates an expression in the page (a string: the project's types have no DOM). */
function read<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate(expression) as Promise<T>;
}

/** Waits until the expression is truthy in the page. */
async function until(page: Page, expression: string, ms = 30_000): Promise<void> {
  await page.waitForFunction(expression, { timeout: ms, polling: 50 });
}

async function cardFile(dir: string, name: string, size: number): Promise<string> {
  const path = `${dir}/${name}.png`;
  await Deno.writeFile(path, await encodeImage(testCard(size, size), { format: "png" }));
  return path;
}

/** Picks `file` in the form, sets the iterations and submits. */
async function submit(page: Page, file: string, iterations: number): Promise<void> {
  const input = await page.$("#file-input");
  await (input as unknown as { uploadFile(path: string): Promise<void> }).uploadFile(file);
  await until(page, `!document.getElementById("submit").disabled`);
  await page.evaluate(`document.getElementById("iterations").value = "${iterations}"`);
  await page.select("#width", "8"); // a draft-width network: a fit of seconds on a CPU
  await page.click("#submit");
}

Deno.test({
  name: "the page restores an uploaded image live, compares, downloads and cancels",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    let server: TestServer | undefined;
    let browser: TestBrowser | undefined;
    try {
      server = await startTestServer();
      browser = await launchBrowser();
      const page = await browser.newPage(1280, 900);
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(String(error)));
      const external: string[] = [];
      page.on("request", (request) => {
        const url = request.url();
        if (!url.startsWith(server!.url) && !/^(data|blob):/.test(url)) external.push(url);
      });
      await page.goto(`${server.url}/`, { waitUntil: "load" });
      await until(page, `document.body.dataset.ready === "true"`);
      ok(await read<boolean>(page, `!document.getElementById("token-dialog").open`));
      // The stop box starts as dipFit would run the task without the option (on for
      // denoising, off for SR) and names the rule.
      const stopBox = `[document.getElementById("early-stop").checked,
        document.getElementById("stop-rule").textContent]`;
      equal(JSON.stringify(await read(page, stopBox)), JSON.stringify([true, "holdout"]));
      await page.select("#task", "sr");
      equal(JSON.stringify(await read(page, stopBox)), JSON.stringify([false, "wmv"]));
      await page.select("#task", "denoise");

      const file = await cardFile(server.dir, "card", 48);
      await submit(page, file, 300);
      await until(page, `!document.getElementById("job-panel").hidden`);
      // The preview refreshes and the curve gains points while the fit runs.
      await until(page, `document.getElementById("preview").src.startsWith("data:image/png")`);
      const firstPreview = await read<string>(page, `document.getElementById("preview").src`);
      const firstPoints = Number(
        await read<string>(page, `document.getElementById("chart-psnr").dataset.points`),
      );
      await until(
        page,
        `document.getElementById("preview").src !== ${JSON.stringify(firstPreview)}`,
      );
      await until(
        page,
        `Number(document.getElementById("chart-psnr").dataset.points) > ${firstPoints}`,
      );
      ok(
        /step \d+\/300/.test(
          await read<string>(page, `document.getElementById("job-line").textContent`),
        ),
      );
      await screenshot(page, "page-running");

      // The result: before/after at full resolution, metrics, download.
      await until(page, `!document.getElementById("result").hidden`, 120_000);
      const sizes = await read<number[]>(
        page,
        `["after", "before"].map((id) => document.getElementById(id).naturalWidth)`,
      );
      equal(sizes[0], 48, "the restored image at full size");
      equal(sizes[1], 48, "the observed image");
      const metrics = await read<string>(page, `document.getElementById("metrics").textContent`);
      ok(metrics.includes("psnr") && metrics.includes("gain"), metrics);
      const download = await read<{ name: string; bytes: number[] }>(
        page,
        `(async () => {
          const a = document.getElementById("download");
          const bytes = new Uint8Array(await (await fetch(a.href)).arrayBuffer());
          return { name: a.download, bytes: Array.from(bytes.slice(0, 8)) };
        })()`,
      );
      equal(download.name, "card_restored.png");
      equal(download.bytes.join(","), "137,80,78,71,13,10,26,10", "a PNG");
      // The slider moves the split.
      await page.evaluate(`(() => { const r = document.getElementById("compare-range");
        r.value = "20"; r.dispatchEvent(new Event("input")); })()`);
      ok((await read<string>(page, `document.getElementById("before-clip").style.clipPath`))
        .includes("80%"));
      // The finished job is in the list with its thumbnail.
      await until(
        page,
        `document.querySelector('#jobs li[data-status="succeeded"] img')?.naturalWidth > 0`,
      );
      await screenshot(page, "page");
      await page.setViewport({ width: 390, height: 844 });
      await new Promise((r) => setTimeout(r, 300));
      const overflow = await read<number>(
        page,
        `document.documentElement.scrollWidth - document.documentElement.clientWidth`,
      );
      ok(overflow <= 0, `the page is wider than a phone by ${overflow} px`);
      await screenshot(page, "page-phone");
      await page.setViewport({ width: 1280, height: 900 });

      // A second, long job is cancelled from the list.
      await submit(page, file, 20_000);
      await until(
        page,
        `document.querySelector('#jobs li[data-status="running"] button.cancel, #jobs li[data-status="queued"] button.cancel')`,
      );
      // Clicked inside the page in one step: the list re-renders on every event, so a handle
      // taken first can be detached by the time it is clicked.
      await page.evaluate(`document.querySelector("#jobs li button.cancel").click()`);
      await until(page, `document.querySelector('#jobs li[data-status="canceled"]')`);
      await until(page, `document.getElementById("job-status").textContent === "canceled"`);
      equal(errors.join("\n"), "", "no script errors");
      equal(external.join("\n"), "", "nothing is loaded from elsewhere");
    } finally {
      await browser?.close();
      await server?.close();
    }
  },
});

Deno.test({
  name: "the page asks for the token once and keeps it for the session",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const token = "a-test-token-of-some-length";
    let server: TestServer | undefined;
    let browser: TestBrowser | undefined;
    try {
      server = await startTestServer({ token });
      browser = await launchBrowser();
      const page = await browser.newPage(900, 700);
      await page.goto(`${server.url}/`, { waitUntil: "load" });
      await until(page, `document.getElementById("token-dialog").open`);
      // A wrong token is refused and asked for again.
      await page.type("#token-input", "wrong-token-wrong-token");
      await page.keyboard.press("Enter");
      await until(page, `!document.getElementById("token-error").hidden`);
      await screenshot(page, "page-token", false);
      await page.evaluate(`document.getElementById("token-input").value = ""`);
      await page.type("#token-input", token);
      await page.keyboard.press("Enter");
      await until(page, `document.body.dataset.ready === "true"`);
      ok(await read<boolean>(page, `!document.getElementById("token-dialog").open`));
      equal(await read<string>(page, `sessionStorage.getItem("dipline.token")`), token);
      // A reload in the same tab does not ask again.
      await page.reload({ waitUntil: "load" });
      await until(page, `document.body.dataset.ready === "true"`);
      ok(await read<boolean>(page, `!document.getElementById("token-dialog").open`));
    } finally {
      await browser?.close();
      await server?.close();
    }
  },
});
