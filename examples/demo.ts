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
import {
  displayPath,
  imageInput,
  type Pipeline,
  pipeline,
  terminalReporter,
  testCard,
} from "../mod.ts";

/** Where the demo writes its images. */
const OUT_DIR = "out/demo";

/**
 * The restore step. Null until the dipFit op is in the pipeline builder: the demo then stops
 * after degrade + metrics and says so. Restoring is this one line, e.g.
 * `(recipe) => recipe.dipFit({ task: "denoise", iterations: 500 })`.
 */
const restore = null as ((recipe: Pipeline) => Pipeline) | null;

const degraded = pipeline()
  .degrade({ noise: 25, seed: 1 }) // denoising notebook: σ = 25/255
  .metrics({ label: "noisy" })
  .save("{name}_clean.png", { slot: "clean" })
  .save("{name}_noisy.png");
const recipe = restore === null
  ? degraded
  : restore(degraded).metrics({ label: "restored" }).save("{name}_restored.png");

console.log(recipe.explain(OUT_DIR));
const summary = await recipe.run({
  input: [imageInput(testCard(), "testcard")],
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
if (restore === null) {
  console.log(
    "PSNR restored: — (no restoration: the dipFit op is not in the pipeline builder yet, " +
      "so this demo stops after degrade + metrics)",
  );
} else {
  console.log(`PSNR restored: ${db(result.metrics["restored.psnr"])}`);
}
