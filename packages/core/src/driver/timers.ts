/**
 * The longest delay a Node.js timer can hold, in ms (about 24.8 days). Node
 * fires a longer one after 1 ms, with a TimeoutOverflowWarning: drivers
 * refuse longer durations instead: give it as `param.duration({ maxMs: MAX_TIMER_MS })`
 * to a duration the driver hands to a timer.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
