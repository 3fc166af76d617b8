/**
 * The demo: degrade the generated test card with σ = 25 noise, restore it, write the clean,
 * noisy and restored images under out/demo/ and print PSNR before and after.
 *
 * ```sh
 * deno task demo
 * ```
 *
 * @module
 */
import { displayPath, imageInput, pipeline, terminalReporter, testCard } from "../mod.ts";

/** Where the demo writes its images. */
const OUT_DIR = "out/demo";
/** Fitting steps; DIPLINE_DEMO_ITERATIONS overrides (the tests run a few to check the wiring). */
const ITERATIONS = Number(Deno.env.get("DIPLINE_DEMO_ITERATIONS") ?? 600);

// The denoising preset (EMA 0.99, backtracking, input noise 1/30) with a 16-channel net and
// 600 steps instead of 128 channels and 3000, so the demo runs in seconds on a CPU.
const recipe = pipeline()
  .degrade({ noise: 25, seed: 1 }) // denoising notebook: σ = 25/255
  .metrics({ label: "noisy" })
  .save("{name}_clean.png", { slot: "clean" })
  .save("{name}_noisy.png")
  .dipFit({
    task: "denoise",
    iterations: ITERATIONS,
    net: { channelsDown: [16, 16, 16, 16, 16], channelsUp: [16, 16, 16, 16, 16] },
  })
  .metrics({ label: "restored" })
  .save("{name}_restored.png");

console.log(recipe.explain(OUT_DIR));
const summary = await recipe.run({
  input: [imageInput(testCard(64), "testcard")], // 64²: a CPU restores it in seconds
  outDir: OUT_DIR,
  force: true,
  onEvent: Deno.stderr.isTerminal() ? terminalReporter() : undefined,
});
for (const failure of summary.failed) console.error(`demo failed: ${failure.error}`);
const [result] = summary.done;
if (result === undefined) Deno.exit(1);

const db = (value: number | undefined) => (value === undefined ? "—" : `${value.toFixed(2)} dB`);
console.log(`\nwrote ${result.outputs.map(displayPath).join(", ")}`);
console.log(`PSNR noisy:    ${db(result.metrics["noisy.psnr"])}`);
console.log(`PSNR restored: ${db(result.metrics["restored.psnr"])}`);
const { engine, adapter, iterations, msPerStep } = result.info;
if (typeof msPerStep === "number") {
  console.log(
    `fit: ${iterations} steps on ${engine} (${adapter}), ${msPerStep.toFixed(1)} ms/step`,
  );
}
