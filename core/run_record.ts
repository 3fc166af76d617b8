/**
 * The record of one fit's run, as plain JSON: what the fit loop saw at every check (loss, PSNR
 * against the observation and against the clean image, the ES-WMV variance), what it did
 * (backtracking, returns after a divergence, restarts with a smaller learning rate), where it
 * stopped and where it was best, and a bounded strip of small previews of the output.
 *
 * dip/record.ts fills it; ops put it in `meta.info.record`; progress events carry it; the
 * report (pipeline/report/) and the web page draw it. Columns rather than rows keep the JSON
 * small for long runs.
 *
 * @module
 */

/** Most previews a record keeps, however long the run (a 10,000-step run keeps ≤ 50). */
export const MAX_PREVIEWS = 50;

/** Longest side of a preview in pixels. */
export const PREVIEW_SIZE = 128;

/** Longest side of the observed / clean / restored thumbnails in pixels. */
export const THUMBNAIL_SIZE = 80;

/** JPEG quality of the thumbnails: a report of 500 inputs stays a few MiB. */
export const THUMBNAIL_QUALITY = 60;

/** A small JPEG of one image of the fit. */
export interface RecordThumbnail {
  readonly width: number;
  readonly height: number;
  /** The image's full size (the thumbnail is shrunk from it). */
  readonly fullWidth: number;
  readonly fullHeight: number;
  /** `data:image/jpeg;base64,…` */
  readonly src: string;
}

/** One thing the loop did at a check besides accepting it. */
export interface RecordEvent {
  /** The steps run when it happened. */
  readonly step: number;
  /**
   * `backtrack`: PSNR against the observation fell > 5 dB, the last snapshot was restored;
   * `divergence`: a non-finite loss or output, the last finite snapshot was restored;
   * `retry`: the fit started over with a smaller learning rate.
   */
  readonly kind: "backtrack" | "divergence" | "retry";
  /** One line, e.g. `lr 0.001`. */
  readonly detail?: string;
}

/** A downscaled snapshot of the output during the run. */
export interface RecordPreview {
  /** The steps run when it was taken. */
  readonly step: number;
  readonly width: number;
  readonly height: number;
  /** An 8-bit PNG, base64. */
  readonly png: string;
}

/** What a fit recorded. Arrays in `checks` have one entry per check, in step order. */
export interface RunRecord {
  readonly version: 1;
  /** Steps between checks (k). */
  readonly checkEvery: number;
  /** Steps asked for (an upper bound with early stopping). */
  readonly iterations: number;
  /** Steps run. */
  readonly steps: number;
  /** EMA decay of the output (0 = off); with an EMA, `psnr` and previews are of the EMA. */
  readonly ema: number;
  /** Fits averaged in the recorded trainer (the values are their means). */
  readonly fits: number;
  /** The learning rate the returned fit ran with. */
  readonly lr: number;
  readonly checks: {
    readonly step: number[];
    /** The data-term loss. */
    readonly loss: number[];
    /** PSNR of the data-term output against the observation (the reference's PSNR_noisy). */
    readonly psnrObserved: number[];
    /** PSNR against the clean image, when one was known (null where not measured). */
    readonly psnr?: (number | null)[];
    /** ES-WMV: the minimum windowed variance so far (null before the window filled). */
    readonly variance?: (number | null)[];
  };
  readonly events: RecordEvent[];
  /** What went in and what came out, {@link THUMBNAIL_SIZE} px (a report's rows, a job list). */
  readonly thumbnails?: {
    readonly observed: RecordThumbnail;
    readonly restored: RecordThumbnail;
    readonly clean?: RecordThumbnail;
  };
  /** Every `previewEvery` checks, thinned to at most {@link MAX_PREVIEWS}. */
  readonly previews: RecordPreview[];
  /** The step ES-WMV stopped at, and the step of the variance minimum it returned. */
  readonly stopStep?: number;
  readonly wmvArgmin?: number;
  /** The best PSNR against the clean image at the checks, and its step. */
  readonly bestPsnr?: number;
  readonly bestStep?: number;
  /** PSNR of the observation against the clean image (bicubic ×f for SR): the gain's baseline. */
  readonly inputPsnr?: number;
  /** Wall time of the loop, readbacks and recording included. */
  readonly ms: number;
}
