import { MAX_TIMER_MS } from "./timers.js";

interface Waiter {
  readonly resolve: () => void;
  /** When its wait ends without a wake-up, in ms of `performance.now()`. */
  readonly deadline: number;
  readonly signal: AbortSignal;
}

/**
 * A place for drivers to wait "until something changes, at most `ms`, or
 * until the signal fires", as receiveBatch must when nothing is available.
 * The timer keeps the process alive while someone waits: a service that
 * only consumes must not exit while it waits.
 *
 * A driver waits here once per empty receive, hundreds of times a second,
 * so a wait costs no timer and no abort listener of its own: one timer,
 * re-armed only when a wait must end sooner than it fires and left to
 * fire (unreferenced) when everyone was woken first, and one listener per
 * signal, kept until it fires (a driver passes the same long-lived signal
 * to every wait). A timer and a listener per wait were a tenth of core's
 * CPU per message on rabbit://.
 */
export class WakeUp {
  #waiters: Waiter[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** When `#timer` fires; Infinity when none is armed. */
  #timerAt = Number.POSITIVE_INFINITY;
  /** Signals this WakeUp listens to already. */
  readonly #watched = new WeakSet<AbortSignal>();

  /**
   * Resolves on the next `wakeAll()`, after `ms`, or when `signal` fires,
   * whichever is first. Never rejects. A listener stays on `signal` until it
   * fires: give every wait the same long-lived signal (a subscription's),
   * not one that outlives many WakeUps.
   */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    if (!this.#watched.has(signal)) {
      this.#watched.add(signal);
      signal.addEventListener("abort", () => this.#wake((waiter) => waiter.signal === signal), { once: true });
    }
    return new Promise((resolve) => {
      // Capped where Node would fire a longer timeout after 1 ms instead; NaN or less than 0 is 0.
      const deadline = performance.now() + (ms > 0 ? Math.min(ms, MAX_TIMER_MS) : 0);
      this.#waiters.push({ resolve, deadline, signal });
      if (deadline < this.#timerAt) this.#arm(deadline);
      else this.#timer?.ref();
    });
  }

  /** Wakes every current waiter. */
  wakeAll(): void {
    const waiters = this.#waiters;
    if (waiters.length === 0) return;
    this.#waiters = [];
    // The timer may fire for nobody now; armed again only when a wait needs it sooner.
    this.#timer?.unref();
    for (const waiter of waiters) waiter.resolve();
  }

  #arm(deadline: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = deadline;
    this.#timer = setTimeout(() => this.#fired(), Math.max(0, deadline - performance.now()));
  }

  #fired(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    // A timer counts from the event loop's cached time, which may be a little behind performance.now():
    // a wait due within the millisecond ends now, one due later gets the timer again.
    this.#wake((waiter) => waiter.deadline <= now + 1);
    let next = Number.POSITIVE_INFINITY;
    for (const waiter of this.#waiters) next = Math.min(next, waiter.deadline);
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
  }

  /** Resolves the waiters `due` picks, keeping the rest waiting. */
  #wake(due: (waiter: Waiter) => boolean): void {
    const waiters = this.#waiters;
    const kept: Waiter[] = [];
    const woken: Waiter[] = [];
    for (const waiter of waiters) (due(waiter) ? woken : kept).push(waiter);
    if (woken.length === 0) return;
    this.#waiters = kept;
    if (kept.length === 0) this.#timer?.unref();
    for (const waiter of woken) waiter.resolve();
  }
}
