/**
 * Headless Chromium for the page and report tests: Debian's `chromium` (scripts/test_deps.ts
 * installs it) driven by puppeteer-core, with a fresh profile per launch, no sandbox (CI runs
 * as root), and nothing that reaches the network on its own. Screenshots go to
 * `out/screenshots/` (git-ignored) so a person can look at them.
 *
 * @module
 */
import puppeteer, { type Browser, type Page } from "puppeteer-core";

/** Where Debian installs Chromium. */
export const CHROMIUM = Deno.env.get("DIPLINE_CHROMIUM") ?? "/usr/bin/chromium";

/** Where the browser tests save their screenshots (git-ignored). */
export const SCREENSHOTS = new URL("../out/screenshots/", import.meta.url).pathname;

/** Whether Chromium is installed (the browser tests say so, and fail, when it is not). */
export function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

/** A launched browser and its profile folder, closed and removed by `close()`. */
export interface TestBrowser {
  readonly browser: Browser;
  newPage(width?: number, height?: number): Promise<Page>;
  close(): Promise<void>;
}

/** Launches headless Chromium with a fresh `--user-data-dir`. */
export async function launchBrowser(): Promise<TestBrowser> {
  if (!hasChromium()) {
    throw new Error(
      `chromium is not installed at ${CHROMIUM}: run \`deno run -A scripts/test_deps.ts\` as root`,
    );
  }
  const profile = await Deno.makeTempDir({ prefix: "dipline-chromium-" });
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    browser,
    async newPage(width = 1200, height = 900) {
      const page = await browser.newPage();
      await page.setViewport({ width, height });
      return page;
    },
    async close() {
      await browser.close().catch(() => {});
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}

/** Saves a full-page screenshot as `out/screenshots/<name>.png`; returns its path. */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  await Deno.mkdir(SCREENSHOTS, { recursive: true });
  const path = `${SCREENSHOTS}${name}.png`;
  await page.screenshot({ path: path as `${string}.png`, fullPage });
  return path;
}
