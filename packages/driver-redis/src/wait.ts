/**
 * Resolves with what `promise` resolves to, or with undefined as soon as
 * `ms` pass or `signal` fires. A rejection of `promise` also gives
 * undefined: callers use it for work whose failure they tolerate.
 */
export function within<T>(promise: Promise<T>, ms: number, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.resolve(undefined);
  }
  return new Promise((resolve) => {
    const done = (value: T | undefined) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(value);
    };
    const onAbort = () => done(undefined);
    const timer = setTimeout(() => done(undefined), ms);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(done, () => done(undefined));
  });
}
