/**
 * Installs the Debian packages the test suite runs for real — Redis for the multi-host queue,
 * Chromium for the page and report tests — when they are missing, so `deno task test` sets up
 * a fresh machine by itself (as root, with apt-get). Prints one line per package it installed;
 * where it cannot install (not root, no apt-get), it says which are missing and exits 0: the
 * tests that need them fail naming the package.
 *
 * ```sh
 * deno run -A scripts/test_deps.ts
 * ```
 *
 * @module
 */

/** Debian package → the binary that shows it is installed. */
export const TEST_PACKAGES: Readonly<Record<string, string>> = {
  "redis-server": "redis-server",
  chromium: "chromium",
};

async function has(binary: string): Promise<boolean> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `command -v ${binary}`],
    stdout: "null",
    stderr: "null",
  }).output();
  return out.success;
}

async function run(args: string[]): Promise<boolean> {
  const out = await new Deno.Command(args[0]!, {
    args: args.slice(1),
    stdout: "null",
    stderr: "piped",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).output();
  if (!out.success) console.error(new TextDecoder().decode(out.stderr).trim().split("\n").at(-1));
  return out.success;
}

if (import.meta.main) {
  const missing: string[] = [];
  for (const [pkg, binary] of Object.entries(TEST_PACKAGES)) {
    if (!(await has(binary))) missing.push(pkg);
  }
  if (missing.length > 0) {
    const root = Deno.uid?.() === 0;
    if (!root || !(await has("apt-get"))) {
      console.error(`test_deps: missing ${missing.join(", ")} (install them with apt-get as root)`);
    } else {
      console.error(`test_deps: installing ${missing.join(", ")} with apt-get`);
      const ok = (await run(["apt-get", "update", "-qq"])) &&
        (await run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...missing]));
      console.error(
        ok ? `test_deps: installed ${missing.join(", ")}` : "test_deps: apt-get failed",
      );
    }
  }
}
