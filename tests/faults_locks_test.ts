/**
 * Claims: one lock file per input beside its first output, exclusive, with a heartbeat; a stale
 * lock (a dead process on this host, or no heartbeat for a while) is taken over, a live one is
 * left alone, and the executor skips inputs another live run holds.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { hostTag } from "../image/save.ts";
import { testCard } from "../image/testcard.ts";
import {
  isStale,
  lockPathFor,
  newOwner,
  readLock,
  STALE_MS,
  tryClaim,
} from "../pipeline/claims.ts";
import { pipeline } from "../pipeline/dsl.ts";
import { imageInput } from "../pipeline/sources.ts";

const output = async () =>
  join(await Deno.makeTempDir({ prefix: "dipline-locks-" }), "sub", "cat.png");

Deno.test("tryClaim() is exclusive until released; release removes only its own lock", async () => {
  const target = await output();
  const first = await tryClaim(target);
  assert.ok("claim" in first);
  const lock = await readLock(lockPathFor(target));
  assert.ok(lock !== "gone" && lock.owner?.pid === Deno.pid && lock.owner.host === hostTag());
  const second = await tryClaim(target);
  assert.ok("heldBy" in second && second.heldBy?.run === first.claim.owner.run);
  await first.claim.release();
  await assert.rejects(Deno.stat(lockPathFor(target)), Deno.errors.NotFound);
  const third = await tryClaim(target);
  assert.ok("claim" in third);
  await third.claim.release();
});

Deno.test("a stale lock is taken over: dead process here, or no heartbeat from another host", async () => {
  const target = await output();
  const path = lockPathFor(target);
  await Deno.mkdir(join(target, ".."), { recursive: true });
  const cases = [
    { owner: { ...newOwner(), pid: 99999999 }, age: 0 }, // dead on this host
    { owner: { ...newOwner(), host: "elsewhere" }, age: STALE_MS + 1000 }, // silent
    { owner: undefined, age: STALE_MS + 1000 }, // a damaged lock file, old
  ];
  for (const { owner, age } of cases) {
    await Deno.writeTextFile(path, owner ? JSON.stringify(owner) : "{damaged");
    const then = new Date(Date.now() - age);
    await Deno.utime(path, then, then);
    const result = await tryClaim(target);
    assert.ok("claim" in result, JSON.stringify(owner));
    assert.equal(result.tookOver?.pid, owner?.pid);
    await result.claim.release();
  }
  // a fresh lock of another host is left alone
  await Deno.writeTextFile(path, JSON.stringify({ ...newOwner(), host: "elsewhere" }));
  const held = await tryClaim(target);
  assert.ok("heldBy" in held && held.heldBy?.host === "elsewhere");
  assert.equal(isStale({ owner: undefined, mtime: Date.now() }), false);
});

const ROUNDS = Deno.env.get("DIPLINE_FAULTS") === "full" ? 250 : 6;

Deno.test(`many claimants at once: exactly one wins, also over a stale lock (${ROUNDS} rounds of 8)`, async () => {
  const target = await output();
  await Deno.mkdir(join(target, ".."), { recursive: true });
  for (let round = 0; round < ROUNDS; round++) {
    const stale = round % 2 === 1;
    if (stale) {
      const dead = JSON.stringify({ ...newOwner(), pid: 99999999 });
      await Deno.writeTextFile(lockPathFor(target), dead);
    }
    const results = await Promise.all(Array.from({ length: 8 }, () => tryClaim(target)));
    const winners = results.filter((r) => "claim" in r);
    assert.equal(winners.length, 1, `round ${round}, stale ${stale}`);
    for (const r of winners) if ("claim" in r) await r.claim.release();
  }
});

Deno.test("the heartbeat refreshes the lock; a claim that was taken over knows it is lost", async () => {
  const target = await output();
  const result = await tryClaim(target, { heartbeatMs: 20 });
  assert.ok("claim" in result);
  const path = lockPathFor(target);
  const old = new Date(Date.now() - 3600_000);
  await Deno.utime(path, old, old);
  await new Promise((r) => setTimeout(r, 80));
  const lock = await readLock(path);
  assert.ok(lock !== "gone" && Date.now() - lock.mtime < 10_000, "heartbeat refreshed the mtime");
  await Deno.writeTextFile(path, JSON.stringify(newOwner()));
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(result.claim.lost, true);
  await result.claim.release();
  assert.ok((await readLock(path)) !== "gone", "release leaves another run's lock in place");
});

Deno.test("a run skips inputs another live run holds and takes over a dead run's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dipline-locks-" });
  const live = { ...newOwner(), run: "other-run" }; // this very process: alive
  const dead = { ...newOwner(), pid: 99999999 };
  await Deno.writeTextFile(lockPathFor(join(dir, "a.png")), JSON.stringify(live));
  await Deno.writeTextFile(lockPathFor(join(dir, "b.png")), JSON.stringify(dead));
  const summary = await pipeline().save("{name}.png").run({
    input: ["a", "b", "c"].map((name) => imageInput(testCard(8, 8), name)),
    outDir: dir,
  });
  assert.deepEqual(summary.done.map((r) => r.name), ["b", "c"]);
  assert.deepEqual(summary.claimed, [{ name: "a", owner: `${hostTag()} pid ${Deno.pid}` }]);
  assert.deepEqual(summary.skipped, ["a"]);
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => !n.endsWith(".json"));
  assert.deepEqual(files.sort(), [".a.png.dipline-lock", "b.png", "c.png"]);
  await Deno.remove(dir, { recursive: true });
});
