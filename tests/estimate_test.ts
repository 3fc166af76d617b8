import { equal, ok } from "node:assert/strict";
import { describeEstimate, engineBytes, estimateFit } from "../dip/estimate.ts";
import { explainFit } from "../dip/explain.ts";
import { resolveFitOptions } from "../dip/fit.ts";
import { fitGeometry, planBytes } from "../dip/geometry.ts";
import { layoutMemory } from "../engine/cpu/memory.ts";

const TINY = {
  net: { channelsDown: [4, 4], channelsUp: [4, 4], channelsSkip: [2, 2] },
  inputDepth: 4,
  iterations: 500,
} as const;

Deno.test("estimateFit() times the real plan and scales it to the fit's steps and runs", async () => {
  const fit = resolveFitOptions({ task: "sr", factor: 2, ...TINY, runs: 2 });
  const input = { channels: 3, height: 10, width: 13 };
  const estimate = await estimateFit(fit, input, {
    engine: "cpu",
    threads: 1,
    steps: 2,
    minMs: 0,
  });
  const geometry = fitGeometry(fit, input);
  // the SR output is twice the (padded) input: 13 → 16 (the tiny net's multiple is 4, min 8)
  equal(estimate.height, geometry.height);
  equal(estimate.width % 4, 0);
  ok(estimate.width >= 26);
  // the cpu engine's whole wasm memory for one thread, not the plan's arenas alone
  const plan = geometry.compile(1);
  equal(estimate.memoryBytes, layoutMemory(plan, 1).totalBytes);
  ok(estimate.memoryBytes > planBytes(plan) + 3 * 4 * plan.arenaSizes.param);
  equal(estimate.steps, 1000);
  ok(estimate.msPerStep > 0);
  ok(Math.abs(estimate.totalMs - (estimate.setupMs + 1000 * estimate.msPerStep)) < 1e-6);
  equal(estimate.engine, "cpu");
  ok(/^estimate: .* per input \(1000 steps × [\d.]+ ms, measured over 2 steps on cpu/.test(
    describeEstimate(estimate),
  ));
});

Deno.test("estimateFit() times more steps when the first ones take under minMs", async () => {
  const fit = resolveFitOptions({ task: "denoise", ...TINY });
  const input = { channels: 3, height: 16, width: 16 };
  // a step of the tiny net at 16² takes about a millisecond: 2 steps are far under 200 ms
  const e = await estimateFit(fit, input, { engine: "cpu", threads: 1, steps: 2, minMs: 200 });
  ok(e.calibrationSteps > 2, `${e.calibrationSteps} steps timed`);
  ok(e.calibrationSteps <= 10_000);
  ok(e.msPerStep > 0 && e.msPerStep < 200 / 2, `${e.msPerStep} ms/step`);
  ok(Math.abs(e.totalMs - (e.setupMs + e.steps * e.msPerStep)) < 1e-6);
});

Deno.test("explainFit() gives the parameter count, and MACs and memory for a known input", () => {
  const fit = resolveFitOptions({ task: "denoise" });
  const text = explainFit(fit, { input: { channels: 3, height: 512, width: 512 }, engine: "cpu" });
  ok(text.includes("2,217,831 parameters (RGB)"), text);
  ok(/for 3×512×512 \(fitted at 512×512\): [\d.]+ GMAC forward, about [\d.]+ GiB/.test(text), text);
  ok(text.endsWith("engine: cpu"));
  // the memory is what the engine allocates, not the plan's arenas alone
  const plan = fitGeometry(fit, { channels: 3, height: 512, width: 512 }).compile(1);
  const gib = (n: number) => `about ${(n / 2 ** 30).toFixed(2)} GiB`;
  const threads = navigator.hardwareConcurrency ?? 1;
  ok(text.includes(gib(engineBytes(plan, "cpu", threads))), text);
  const auto = explainFit(fit, {
    input: { channels: 3, height: 512, width: 512 },
    engine: "auto → cpu",
  });
  ok(auto.includes(gib(engineBytes(plan, "cpu", threads))), auto);
  const gpu = explainFit(fit, {
    input: { channels: 3, height: 512, width: 512 },
    engine: "webgpu",
  });
  ok(gpu.includes(gib(planBytes(plan) + 3 * 4 * plan.arenaSizes.param)), gpu);
  ok(!explainFit(fit).includes("GMAC"), "no cost without an input size");
});

Deno.test("engineBytes() counts the snapshot every fit takes, and the cpu engine's per-thread scratch", () => {
  const fit = resolveFitOptions({ task: "denoise", ...TINY });
  const plan = fitGeometry(fit, { channels: 3, height: 32, width: 32 }).compile(1);
  const snapshot = 3 * 4 * plan.arenaSizes.param;
  ok(plan.arenaSizes.param > 0);
  equal(engineBytes(plan, "webgpu", 2), planBytes(plan) + snapshot);
  equal(engineBytes(plan, "reference", 1), planBytes(plan) + snapshot);
  const one = engineBytes(plan, "cpu", 1);
  const two = engineBytes(plan, "cpu", 2);
  ok(one >= planBytes(plan) + snapshot, `${one} < arenas + snapshot`);
  ok(two > one, "a second worker thread adds its scratch");
  equal(two, layoutMemory(plan, 2).totalBytes);
});
