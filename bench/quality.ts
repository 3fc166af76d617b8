/**
 * `deno task bench:quality`: restoration quality on the paper's benchmark images
 * (shared/data/paper-benchmarks), per image beside the paper's DIP numbers, and the checks of
 * issue 5's targets: (a) mean PSNR within {@link TORCH_TOLERANCE_DB} dB of the PyTorch twin
 * (bench/torch_dip.py) on identical inputs and settings, mean over ≥ {@link MIN_SEEDS} seeds;
 * (b) ES-WMV early stopping within {@link EARLY_STOP_TOLERANCE_DB} dB of the best PSNR along the
 * run, on the denoising images.
 *
 * Full protocol (for GPU machines; the reference presets, whole images):
 * - denoising σ = 25 on the 9 colour images (fresh seeded noise), PSNR on RGB;
 * - SR ×4 on Set5 and Set14: the HR image cropped to the region DIP produced
 *   (valid_region.csv), the LR made by Lanczos downsampling (as PIL's ANTIALIAS), scored as
 *   Y-PSNR with a 4-pixel border;
 * - inpainting with 50% of the pixels missing on the 11 gray images with the masks there
 *   (`inpaint-bernoulli`, the restoration notebook), PSNR over the whole image.
 *
 * `--reduced` protocol (for machines without a GPU; numbers are NOT comparable with the paper's):
 * a centred 64×64 crop of each image (SR: of the valid region, so LR 16×16), a 32-channel net
 * (nd = nu = [32]×5, skip widths capped at 32), and fewer steps: denoising 600, SR 400,
 * inpainting 600 at lr 0.01 (instead of 11000 at 0.001); everything else is the preset. The same
 * crop of the authors' own DIP output is scored beside ours (the "authors" column; for
 * denoising their noise realisation differs from ours). With PyTorch installed it also runs
 * bench/torch_dip.py --fit on the identical observation with identical settings ("torch").
 *
 * Seeds (`--seeds K`, default 1, or 3 with `--reduced`): every image is fitted with seeds
 * seed … seed + K − 1, by dipline and by the twin. The observation is fixed by the image (the
 * denoising noise is seeded by the image's place in anchors.csv, SR and inpainting are
 * deterministic); only the fit's seed (parameters, z, input noise) varies. The table shows
 * per-image means over the seeds and ours − torch; below it, one verdict per task against (a).
 *
 * `--early-stop` (denoising only; no torch): every fit runs with ES-WMV on (dipFit's
 * `earlyStop`) and the clean image present, so the fit also scores its output every
 * `checkEvery` steps; it reports, per image and seed, the stop step, the PSNR of the returned
 * output (the output at the minimum windowed variance), the best PSNR seen along the run and
 * the gap, then the mean gap and a verdict against (b). EMA is off in this mode: ES-WMV
 * watches the raw iterates and returns one of them, so "the best along the run" is taken over
 * the same raw iterates (as in Wang et al.'s curves); checks every 10 steps sample that curve.
 * Settings, overridable by `--window`, `--patience`, `--iterations` (the cap) and
 * `--check-every`:
 * - full protocol: W = 100, P = 1000 (Wang et al., TMLR'23), cap 5000 steps (the ES-WMV
 *   notebook's iteration count), whole images, the denoising preset;
 * - reduced protocol: 64² crops, 32 channels, W = 100, P = 300, cap 2000 steps. The small net
 *   on a 64² crop peaks after a few hundred steps (the reduced fit runs 600), so the paper's
 *   P = 1000 would only run the fit far into the overfitting regime before stopping; P = 300
 *   is that patience scaled to the shorter run. The paper's W = 100 / P = 1000 apply to the
 *   full protocol only.
 *
 * ```sh
 * deno task bench:quality --reduced --task denoise --only F16,hill
 * deno task bench:quality --reduced --early-stop --seeds 1
 * deno task bench:quality --engine webgpu --json > bench/results/quality.json
 * ```
 *
 * Flags: `--task denoise|sr|inpaint|all` (default all), `--reduced`, `--engine E` (default
 * auto), `--threads N`, `--only a,b` (image names), `--iterations N` and `--channels C`
 * (override either protocol), `--seed N` (first fit seed, default 0), `--seeds K`,
 * `--early-stop` (with `--window W`, `--patience P`, `--check-every K`), `--data DIR` (default
 * ../shared/data/paper-benchmarks), `--out DIR` (save our outputs), `--torch` (also run the
 * torch twin in the full protocol; the reduced one runs it unless `--no-torch`), `--python PATH`,
 * `--json` (one object: the settings, the rows with per-seed values, and the verdicts),
 * `--esrgan all|none|slim,medium,thick` (the learned ×4 baselines scored beside DIP and bicubic
 * on the SR images; default all; bench/quality/learned.ts), `--baselines` (score only those,
 * without DIP fits: seconds instead of the fits' minutes).
 *
 * The full protocol also checks issue 5's last target: each set's mean PSNR within
 * {@link PAPER_TOLERANCE_DB} dB of the paper's (the mean of anchors.csv over the same images; a
 * partial set is never met). For the GPU machine, whose commands end after 10 minutes
 * (bench/device_quality.sh, bench/README.md "Full protocol on the GPU machine"):
 * - `--budget-s N`: before each image, predict its fits' time from the fits done so far and skip
 *   it (a row with `skipped`) when it would not finish within N seconds of the start; a running
 *   fit whose own rate (from its second check on) says it will not finish stops there, and one
 *   still running at N is aborted; either way its image is skipped. The JSON lists the skipped images per task
 *   as a ready `--only`.
 * - `--json-out FILE`: the `--json` object, rewritten after every image (images not reached yet
 *   appear as skipped), so a killed run keeps what it finished.
 * - `--merge A.json B.json …`: one table and the verdicts over several slices' reports.
 * - `--stage DIR`: copy the files the selected images need (not the authors' outputs) into DIR,
 *   in the same layout, for the device tool to carry; without the authors' outputs that column
 *   stays empty.
 * - `--estimate MS`: print each fit's predicted time at MS ms/step on 512² (scaled by pixels,
 *   plus `--setup-s`, default 10 s, per fit) and pack them into slices of `--budget-s` (default
 *   510) as `bash bench/device_quality.sh` lines; nothing is fitted.
 *
 * The code lives in bench/quality/: protocol.ts (tasks, settings, tolerances, one fit's
 * options), items.ts (the benchmark files, `--stage`, loading the observations), run.ts (the
 * fits and their scores), torch.ts (the PyTorch twin), budget.ts (`--budget-s`), estimate.ts
 * (`--estimate`), verdicts.ts (issue 5's checks), report.ts (rows, the JSON report, `--merge`),
 * table.ts (the printed tables, as lists of columns) and main.ts (the command line).
 *
 * @module
 */
import { main } from "./quality/main.ts";

export {
  EARLY_STOP_TOLERANCE_DB,
  MIN_SEEDS,
  PAPER_TOLERANCE_DB,
  type Task,
  TORCH_TOLERANCE_DB,
} from "./quality/protocol.ts";
export {
  type EarlyStopVerdict,
  earlyStopVerdict,
  meanOf,
  type PaperScore,
  type PaperVerdict,
  paperVerdicts,
  type SeedScores,
  type TorchVerdict,
  torchVerdicts,
} from "./quality/verdicts.ts";
export { FitBudget } from "./quality/budget.ts";
export { mergeReports, type QualityReport, type Row } from "./quality/report.ts";
export { type Column, COMPARISON_COLUMNS, metric, tableLines } from "./quality/table.ts";

if (import.meta.main) await main(Deno.args);
