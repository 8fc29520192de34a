/**
 * The longest delay a Node.js timer can hold, in ms (about 24.8 days). Node
 * fires a longer one after 1 ms, with a TimeoutOverflowWarning: drivers
 * refuse longer durations instead.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
