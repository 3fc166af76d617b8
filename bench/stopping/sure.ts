/**
 * The known-σ route for Gaussian denoising, measured offline: Monte-Carlo SURE (Ramani, Blu,
 * Unser 2008) of the result's MSE at every check, without the clean image.
 *
 *     SURE_t = ‖f_t(y) − y‖²/N − σ² + 2σ²/N · div_y f_t(y),   div ≈ bᵀ(f_t(y + εb) − f_t(y))/ε
 *
 * In DIP the output depends on y only through the training trajectory, so the divergence
 * needs a second fit: the same seeds and input noise, trained on y + εb. That doubles the cost
 * of a fit, which is why dipFit does not offer it as a rule (bench/README.md). Here the two
 * fits run one after the other (plain fits: no holdout); the first also serves as the control
 * for what holding pixels out costs the holdout traces.
 *
 * @module
 */
import { makeImage } from "../../core/image.ts";
import { fitImage } from "../../dip/fit.ts";
import { gaussianSource, mulberry32 } from "../../dip/degrade.ts";
import { psnr } from "../../image/metrics.ts";
import type { StopItem } from "./items.ts";
import { NOISE_SIGMA } from "./items.ts";
import { type Protocol, traceOptions } from "./trace.ts";

/** Step of the finite difference, relative to σ (Ramani et al. suggest ε ≈ σ/1000 scaled). */
export const SURE_EPSILON = 1e-3;

/** One SURE run: per check, the true MSE and PSNR of the result and the SURE estimate. */
export interface SureTrace {
  readonly version: 1;
  readonly task: "denoise";
  readonly name: string;
  readonly seed: number;
  readonly protocol: Protocol;
  readonly epsilon: number;
  readonly step: number[];
  /** PSNR of the result (EMA) of the plain fit. */
  readonly psnr: number[];
  /** Its true MSE against the clean image. */
  readonly mse: number[];
  /** The Monte-Carlo SURE estimate of that MSE. */
  readonly sure: number[];
  /** The second fit's result PSNR (how far the twin drifted). */
  readonly twinPsnr: number[];
  readonly msPerStep: number;
}

/** Two plain fits of `item` (y and y + εb, same seed) and SURE at every check. */
export async function recordSure(
  item: StopItem,
  protocol: Protocol,
  seed: number,
  engine: { engine?: "cpu" | "webgpu" | "reference" | "auto"; threads?: number },
): Promise<SureTrace> {
  const { earlyStop: _, ...plain } = traceOptions("denoise", protocol, seed);
  const y = item.observation;
  const sigma = NOISE_SIGMA / 255;
  const epsilon = SURE_EPSILON * sigma;
  const normal = gaussianSource(mulberry32(0x5e5e + seed));
  const b = new Float32Array(y.data.length).map(() => normal());
  const perturbed = makeImage(
    y.channels,
    y.height,
    y.width,
    y.data.map((v, i) => v + epsilon * b[i]!),
    y.name,
  );
  const n = y.data.length;
  const first: Float32Array[] = [];
  const rows = {
    step: [] as number[],
    psnr: [] as number[],
    mse: [] as number[],
    sure: [] as number[],
    twinPsnr: [] as number[],
  };
  const schedule = { engine: engine.engine, threads: engine.threads };
  const a = await fitImage({ observation: y }, plain, {
    schedule,
    onCheck: async (check) => {
      const [result] = await check.read(plain.ema > 0 ? "ema" : "output");
      first.push(result!.data.slice());
      rows.step.push(check.step);
      rows.psnr.push(psnr(result!, item.clean));
      let se = 0;
      for (let i = 0; i < n; i++) se += (result!.data[i]! - item.clean.data[i]!) ** 2;
      rows.mse.push(se / n);
    },
  });
  let check = 0;
  await fitImage({ observation: perturbed }, plain, {
    schedule,
    onCheck: async (view) => {
      const [result] = await view.read(plain.ema > 0 ? "ema" : "output");
      const base = first[check]!;
      let div = 0;
      let residual = 0;
      for (let i = 0; i < n; i++) {
        div += b[i]! * (result!.data[i]! - base[i]!);
        residual += (base[i]! - y.data[i]!) ** 2;
      }
      div /= epsilon;
      rows.sure.push(residual / n - sigma * sigma + (2 * sigma * sigma * div) / n);
      rows.twinPsnr.push(psnr(result!, item.clean));
      check++;
    },
  });
  return {
    version: 1,
    task: "denoise",
    name: item.name,
    seed,
    protocol,
    epsilon,
    ...rows,
    msPerStep: a.msPerStep,
  };
}
