/**
 * A processor's way to say "not now, and not my fault": the job goes back to the queue to run
 * again after `delayMs`, without spending an attempt. The Redis queue honours it (an input held
 * by a host that died keeps its lock file until the lock goes stale); the embedded queue, where
 * one process owns the store, counts it as a failed attempt.
 *
 * @module
 */

/** Thrown by a processor: run the job again after `delayMs`, this attempt not counted. */
export class RetryLater extends Error {
  override name = "RetryLater";
  constructor(message: string, readonly delayMs: number) {
    super(message);
  }
}
