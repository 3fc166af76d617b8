/**
 * Webhooks: when a job that named one ends, its view is POSTed to the URL. Deliveries are jobs of
 * their own queue (`webhooks`, in the same database), so they are durable, retried with
 * exponential backoff, and run beside restorations without ever holding one up.
 *
 * With a server token, each delivery carries `X-Dipline-Signature: sha256=<hex>`, the
 * HMAC-SHA256 of the body keyed with the token, so the receiver can check where it came from.
 *
 * @module
 */
import { createHmac } from "node:crypto";
import type { Processor } from "./queue.ts";

/** One delivery. */
export interface WebhookData {
  readonly url: string;
  readonly jobId: string;
  /** The job's final status, also sent as `X-Dipline-Event`. */
  readonly event: string;
  /** The JSON body. */
  readonly body: unknown;
}

/** Options of {@link webhookProcessor}. */
export interface WebhookOptions {
  /** Keys the signature header; none: unsigned. */
  readonly secret?: string;
  /** Milliseconds one POST may take; default 10,000. */
  readonly timeoutMs?: number;
}

/** The signature header's value for `body`. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** Delivers one webhook; a network error or a non-2xx answer fails the attempt (retried). */
export function webhookProcessor(
  options: WebhookOptions = {},
): Processor<WebhookData, { status: number }> {
  return async (job, ctx) => {
    const body = JSON.stringify(job.data.body);
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      "User-Agent": "dipline-webhook",
      "X-Dipline-Event": job.data.event,
      "X-Dipline-Delivery": job.id,
    };
    if (options.secret !== undefined) {
      headers["X-Dipline-Signature"] = signBody(options.secret, body);
    }
    const signal = AbortSignal.any([
      ctx.signal,
      AbortSignal.timeout(options.timeoutMs ?? 10_000),
    ]);
    const response = await fetch(job.data.url, {
      method: "POST",
      headers,
      body,
      signal,
      redirect: "manual",
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`the webhook answered HTTP ${response.status}`);
    return { status: response.status };
  };
}
