import { canceledError } from "./errors.js";

/** Throws Canceled (or DeadlineExceeded for a timeout signal) if `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, operation: string): void {
  if (signal?.aborted) throw canceledError(operation, signal);
}

/**
 * Resolves after `ms`, or rejects with Canceled as soon as `signal` fires.
 * The timer keeps the process alive: a service whose only work is waiting out
 * an outage between retries must not exit.
 */
export function sleep(ms: number, signal?: AbortSignal, operation = "sleep"): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(canceledError(operation, signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(canceledError(operation, signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Races `promise` against `signal`: rejects with Canceled when the signal
 * fires first. The underlying work is not stopped; callers use this only where
 * abandoning the wait is safe.
 */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined, operation: string): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(canceledError(operation, signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(canceledError(operation, signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
