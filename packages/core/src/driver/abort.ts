import { canceledError } from "../errors.js";

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
 * One 'abort' listener per signal, however many calls wait on it: an
 * application that passes one signal to thousands of sends must not meet
 * MaxListenersExceededWarning, nor pay a listener per call.
 */
const waitingOn = new WeakMap<AbortSignal, Set<() => void>>();

/** Calls `callback` once when `signal` fires; returns a function that stops that. */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let callbacks = waitingOn.get(signal);
  if (!callbacks) {
    const set = new Set<() => void>();
    callbacks = set;
    waitingOn.set(signal, set);
    signal.addEventListener(
      "abort",
      () => {
        waitingOn.delete(signal);
        for (const run of set) run();
      },
      { once: true },
    );
  }
  const entry = () => callback();
  callbacks.add(entry);
  return () => callbacks.delete(entry);
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
    const stop = onAbort(signal, () => reject(canceledError(operation, signal)));
    promise.then(
      (value) => {
        stop();
        resolve(value);
      },
      (err: unknown) => {
        stop();
        reject(err);
      },
    );
  });
}

/**
 * Waits for `work` to settle, but at most `ms` and no longer than `signal`
 * allows. Never rejects: resolves with `work`'s value, or with undefined when
 * it failed, timed out or was cut short. For work whose failure the caller
 * tolerates, such as closing a client or a channel during shutdown; the work
 * itself is not stopped.
 */
export function settledWithin<T>(
  work: Promise<T>,
  signal: AbortSignal,
  ms = Number.POSITIVE_INFINITY,
): Promise<T | undefined> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.resolve(undefined);
  }
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (value: T | undefined) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(value);
    };
    const onAbort = () => done(undefined);
    if (Number.isFinite(ms)) timer = setTimeout(onAbort, ms);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(done, () => done(undefined));
  });
}
