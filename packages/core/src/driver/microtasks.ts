/** Settled once, for good: each reaction to it is one microtask. */
const settled = Promise.resolve();

/**
 * Queues `callback` as a microtask, after those queued already, as
 * queueMicrotask does, but as a reaction to a settled promise: Node's
 * queueMicrotask makes an AsyncResource and a bound function per call,
 * which cost as much as the work queued on a fast path (a batch's hand-over,
 * an id's clock). `callback` must not throw: its error would be an
 * unhandled rejection.
 */
export function afterMicrotasks(callback: () => void): void {
  settled.then(callback);
}
