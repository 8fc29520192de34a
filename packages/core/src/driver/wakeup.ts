/**
 * A place for drivers to wait "until something changes, at most `ms`, or
 * until the signal fires", as receiveBatch must when nothing is available.
 * The timer keeps the process alive: a service that only consumes must not
 * exit while it waits.
 */
export class WakeUp {
  #waiters: (() => void)[] = [];

  /** Resolves on the next `wakeAll()`, after `ms`, or when `signal` fires, whichever is first. Never rejects. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.#waiters = this.#waiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.#waiters.push(done);
    });
  }

  /** Wakes every current waiter. */
  wakeAll(): void {
    const waiters = this.#waiters;
    if (waiters.length === 0) return;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
