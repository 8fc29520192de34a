/**
 * The longest delay a Node.js timer can hold, in ms (about 24.8 days). Node
 * fires a longer one after 1 ms, with a TimeoutOverflowWarning: drivers
 * refuse longer durations instead: give it as `param.duration({ maxMs: MAX_TIMER_MS })`
 * to a duration the driver hands to a timer.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const settled = Promise.resolve();

/**
 * Runs `callback` once the current microtasks have run, as queueMicrotask
 * does, but as a reaction to a settled promise: Node's queueMicrotask
 * makes an AsyncResource and a bound function per call, which cost as much
 * as the work queued on a fast path (a batch's hand-over, an id's clock).
 * `callback` must not throw.
 */
export function afterMicrotasks(callback: () => void): void {
  settled.then(callback);
}
