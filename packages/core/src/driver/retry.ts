import { canceledError } from "../errors.js";
import { sleep } from "./abort.js";

/** How the portable layer retries errors that a driver reports as retryable. */
export interface RetryOptions {
  /** The first backoff's upper bound, in ms. Default 100. */
  initialDelayMs?: number;
  /** The cap on any backoff, in ms. Default 5000. */
  maxDelayMs?: number;
  /**
   * Most attempts in all, the first included. Default: unlimited, so a send
   * waits out an outage until its AbortSignal fires, as in the Go CDK.
   */
  maxAttempts?: number;
}

/** The retry options used where a Topic or Subscription is given none. */
export const defaultRetryOptions: Required<RetryOptions> = {
  initialDelayMs: 100,
  maxDelayMs: 5000,
  maxAttempts: Number.POSITIVE_INFINITY,
};

/** `options` over the defaults; a key given as undefined keeps its default (a spread would not). */
export function retryOptions(options: RetryOptions | undefined): Required<RetryOptions> {
  return {
    initialDelayMs: options?.initialDelayMs ?? defaultRetryOptions.initialDelayMs,
    maxDelayMs: options?.maxDelayMs ?? defaultRetryOptions.maxDelayMs,
    maxAttempts: options?.maxAttempts ?? defaultRetryOptions.maxAttempts,
  };
}

/**
 * Runs `attempt` until it succeeds, throws an error that `isRetryable` rejects,
 * runs out of attempts, or `signal` fires. Backoff is capped exponential with
 * full jitter: attempt n waits a uniform random time in [0, min(cap, base·2ⁿ)].
 */
export function withRetry<T>(
  attempt: () => Promise<T>,
  isRetryable: (err: unknown) => boolean,
  options: Required<RetryOptions>,
  signal: AbortSignal,
  operation: string,
): Promise<T> {
  if (signal.aborted) return Promise.reject(canceledError(operation, signal));
  // The first attempt is chained directly: most calls succeed at once, and each
  // extra promise hop is latency on every awaited send.
  return attempt().catch((err: unknown) => retryAfter(err, attempt, isRetryable, options, signal, operation));
}

async function retryAfter<T>(
  first: unknown,
  attempt: () => Promise<T>,
  isRetryable: (err: unknown) => boolean,
  options: Required<RetryOptions>,
  signal: AbortSignal,
  operation: string,
): Promise<T> {
  let err = first;
  for (let n = 0; ; n++) {
    if (signal.aborted) throw canceledError(operation, signal);
    if (n + 1 >= options.maxAttempts || !isRetryable(err)) throw err;
    await sleep(backoffDelay(n, options.initialDelayMs, options.maxDelayMs), signal, operation);
    try {
      return await attempt();
    } catch (next) {
      err = next;
    }
  }
}

/**
 * A capped exponential backoff with full jitter: a uniform delay in
 * [0, min(maxMs, initialMs·2^attempt)], so that many clients that lost the
 * same broker do not all come back at once. `attempt` counts from 0. Shared by
 * the portable retries and by drivers that reconnect on their own.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  return Math.random() * Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
}
