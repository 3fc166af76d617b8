/**
 * Recording a fit's run (core/run_record.ts) from the fit loop's checks: a few numbers per
 * check, the loop's decisions as events, and every `previewEvery` checks a small PNG of the
 * output. Cheap by design: a check appends five numbers; a preview reuses the output the loop
 * already read for the clean PSNR when there is one, and shrinks it before encoding.
 *
 * Previews are bounded: the stride is widened up front so that the planned checks give at most
 * {@link MAX_PREVIEWS}, and should a run still take more (a divergence redoing steps), every
 * other one is dropped and the stride doubled.
 *
 * @module
 */
import type { Image } from "../core/image.ts";
import {
  MAX_PREVIEWS,
  PREVIEW_SIZE,
  type RecordEvent,
  type RecordPreview,
  type RunRecord,
  THUMBNAIL_QUALITY,
  THUMBNAIL_SIZE,
} from "../core/run_record.ts";
import { psnr } from "../image/metrics.ts";
import { bicubicUpsample } from "../image/resize.ts";
import { jpegThumbnail, pngBase64, thumbnail } from "../image/thumbnail.ts";

export { MAX_PREVIEWS, PREVIEW_SIZE, type RunRecord };

/** What a {@link RunRecorder} is told up front. */
export interface RecorderOptions {
  readonly checkEvery: number;
  readonly iterations: number;
  /** EMA decay of the output (0 = off). */
  readonly ema: number;
  /** Fits in the recorded trainer. */
  readonly fits: number;
  /** A preview every this many checks; 0 = none. */
  readonly previewEvery: number;
  /** Longest side of a preview (default {@link PREVIEW_SIZE}). */
  readonly previewSize?: number;
  /** Most previews kept (default {@link MAX_PREVIEWS}). */
  readonly maxPreviews?: number;
}

/** The values of one check (means over the trainer's fits). */
export interface CheckValues {
  readonly loss: number;
  readonly psnrObserved: number;
  readonly psnr?: number;
  /** ES-WMV minimum variance so far; non-finite before the window filled. */
  readonly variance?: number;
}

/** How a run ended, for {@link RunRecorder.finish}. */
export interface RunEnd {
  readonly steps: number;
  readonly lr: number;
  readonly ms: number;
  readonly stopStep?: number;
  readonly wmvArgmin?: number;
  readonly bestPsnr?: number;
  readonly bestStep?: number;
  /** The observation, the restoration and the clean image (if known) of the fit. */
  readonly images?: {
    readonly observed: Image;
    readonly restored: Image;
    /** At the restoration's size. */
    readonly clean?: Image;
    /** Restoration size ÷ observation size (SR). */
    readonly factor?: number;
  };
}

/** Six significant digits: what a curve needs, and a third of the JSON of a full double. */
function round(value: number): number {
  return Number.isFinite(value) ? +value.toPrecision(6) : value;
}

/** Fills a {@link RunRecord} check by check. */
export class RunRecorder {
  readonly options: RecorderOptions;
  #step: number[] = [];
  #loss: number[] = [];
  #psnrObserved: number[] = [];
  #psnr: (number | null)[] = [];
  #variance: (number | null)[] = [];
  #hasPsnr = false;
  #hasVariance = false;
  #events: RecordEvent[] = [];
  #previews: RecordPreview[] = [];
  #checks = 0;
  #stride: number;
  #maxPreviews: number;

  /** A recorder for a run of `options.iterations` steps checked every `checkEvery`. */
  constructor(options: RecorderOptions) {
    this.options = options;
    this.#maxPreviews = options.maxPreviews ?? MAX_PREVIEWS;
    const planned = Math.ceil(options.iterations / options.checkEvery);
    this.#stride = options.previewEvery > 0
      ? Math.max(options.previewEvery, Math.ceil(planned / this.#maxPreviews))
      : 0;
  }

  /**
   * Starts (or starts over, after a restart with a smaller learning rate): the checks and
   * previews of an earlier attempt are dropped, its events kept.
   */
  start(): void {
    this.#step = [];
    this.#loss = [];
    this.#psnrObserved = [];
    this.#psnr = [];
    this.#variance = [];
    this.#hasPsnr = false;
    this.#hasVariance = false;
    this.#previews = [];
    this.#checks = 0;
  }

  /** Records an accepted (finite) check after `step` steps. */
  check(step: number, values: CheckValues): void {
    this.#checks++;
    this.#step.push(step);
    this.#loss.push(round(values.loss));
    this.#psnrObserved.push(round(values.psnrObserved));
    if (values.psnr !== undefined) this.#hasPsnr = true;
    this.#psnr.push(values.psnr === undefined ? null : round(values.psnr));
    const variance = values.variance;
    if (variance !== undefined) this.#hasVariance = true;
    this.#variance.push(
      variance === undefined || !Number.isFinite(variance) ? null : round(variance),
    );
  }

  /** Records something the loop did at a check. */
  event(step: number, kind: RecordEvent["kind"], detail?: string): void {
    this.#events.push(detail === undefined ? { step, kind } : { step, kind, detail });
  }

  /** Whether the check just recorded should get a preview. */
  wantsPreview(): boolean {
    return this.#stride > 0 && this.#checks % this.#stride === 0;
  }

  /** Shrinks and encodes `image` as the preview at `step`; returns it (for a progress event). */
  preview(step: number, image: Image): RecordPreview {
    const small = thumbnail(image, this.options.previewSize ?? PREVIEW_SIZE);
    const preview = { step, width: small.width, height: small.height, png: pngBase64(small) };
    this.#previews.push(preview);
    if (this.#previews.length > this.#maxPreviews) {
      this.#previews = this.#previews.filter((_, i) => i % 2 === 1);
      this.#stride *= 2;
    }
    return preview;
  }

  /** The record of the run (thumbnails of `end.images` included). */
  async finish(end: RunEnd): Promise<RunRecord> {
    const o = this.options;
    const images = end.images;
    const thumbnails = images && {
      observed: await jpegThumbnail(images.observed, THUMBNAIL_SIZE, THUMBNAIL_QUALITY),
      restored: await jpegThumbnail(images.restored, THUMBNAIL_SIZE, THUMBNAIL_QUALITY),
      ...(images.clean
        ? { clean: await jpegThumbnail(images.clean, THUMBNAIL_SIZE, THUMBNAIL_QUALITY) }
        : {}),
    };
    const inputPsnr = images?.clean
      ? observedPsnr(images.observed, images.clean, images.factor)
      : undefined;
    return {
      version: 1,
      checkEvery: o.checkEvery,
      iterations: o.iterations,
      steps: end.steps,
      ema: o.ema,
      fits: o.fits,
      lr: end.lr,
      checks: {
        step: this.#step,
        loss: this.#loss,
        psnrObserved: this.#psnrObserved,
        ...(this.#hasPsnr ? { psnr: this.#psnr } : {}),
        ...(this.#hasVariance ? { variance: this.#variance } : {}),
      },
      events: this.#events,
      ...(thumbnails ? { thumbnails } : {}),
      previews: this.#previews,
      ...(end.stopStep !== undefined ? { stopStep: end.stopStep } : {}),
      ...(end.wmvArgmin !== undefined ? { wmvArgmin: end.wmvArgmin } : {}),
      ...(end.bestPsnr !== undefined ? { bestPsnr: round(end.bestPsnr) } : {}),
      ...(end.bestStep !== undefined ? { bestStep: end.bestStep } : {}),
      ...(inputPsnr !== undefined ? { inputPsnr: round(inputPsnr) } : {}),
      ms: Math.round(end.ms),
    };
  }
}

/**
 * PSNR of the observation against the clean image: the baseline a restoration's gain is
 * measured from (an SR observation is upsampled bicubically first, the usual SR baseline).
 * Undefined when the sizes do not match (an observation the task transforms otherwise).
 */
export function observedPsnr(observed: Image, clean: Image, factor = 1): number | undefined {
  if (observed.channels !== clean.channels) return undefined;
  const up = factor > 1 && Number.isInteger(factor) ? bicubicUpsample(observed, factor) : observed;
  if (up.height !== clean.height || up.width !== clean.width) return undefined;
  return psnr(up, clean);
}

/** The mean of a per-fit array (a batched trainer's scalars). */
export function meanOf(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return values.length > 0 ? sum / values.length : Number.NaN;
}
