import type { SubscriptionDriver } from "./driver/driver.js";
import { MAX_TIMER_MS } from "./portable-options.js";

/** Default of `maxExtensionMs`: an hour, as Google's Pub/Sub client has it. */
export const DEFAULT_MAX_EXTENSION_MS = 60 * 60 * 1000;

/** Extensions are never scheduled closer together than this, whatever lease a driver reports. */
const MIN_TICK_MS = 50;

/**
 * Keeps the leases of the messages a Subscription holds (in its receive
 * buffer, in a handler, or waiting out a redelivery delay) from running out,
 * for drivers with `extendLeases`: every half lease, one call extends all of
 * them. A message held longer than `maxExtensionMs` is no longer extended,
 * so that the broker delivers it again: a handler stuck for good must not
 * hold a message for ever.
 */
export class LeaseKeeper {
  readonly #driver: SubscriptionDriver & Required<Pick<SubscriptionDriver, "extendLeases">>;
  readonly #maxExtensionMs: number;
  readonly #signal: AbortSignal;
  readonly #onError: (err: unknown) => void;
  /** ackId → when it was received. Map order is arrival order, so the oldest come first. */
  readonly #held = new Map<unknown, number>();
  #timer: NodeJS.Timeout | undefined;
  #extending = false;

  private constructor(
    driver: SubscriptionDriver & Required<Pick<SubscriptionDriver, "extendLeases">>,
    maxExtensionMs: number,
    signal: AbortSignal,
    onError: (err: unknown) => void,
  ) {
    this.#driver = driver;
    this.#maxExtensionMs = maxExtensionMs;
    this.#signal = signal;
    this.#onError = onError;
  }

  /** A keeper for `driver`, or undefined if the driver cannot extend leases. */
  static for(
    driver: SubscriptionDriver,
    maxExtensionMs: number,
    signal: AbortSignal,
    onError: (err: unknown) => void,
  ): LeaseKeeper | undefined {
    if (typeof driver.extendLeases !== "function") return undefined;
    return new LeaseKeeper(driver as never, maxExtensionMs, signal, onError);
  }

  /** Starts keeping the lease of a message just received. */
  hold(ackId: unknown, now: number): void {
    this.#held.set(ackId, now);
    if (this.#timer === undefined) this.#schedule();
  }

  /** Stops keeping the lease of a message that was settled (acked, nacked, redelivered, dead-lettered). */
  release(ackId: unknown): void {
    this.#held.delete(ackId);
  }

  /** Stops all extensions (shutdown). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#held.clear();
  }

  #schedule(): void {
    const leaseMs = this.#driver.leaseMs;
    const every = Number.isFinite(leaseMs) && (leaseMs as number) > 0 ? (leaseMs as number) / 2 : 5000;
    this.#timer = setTimeout(() => this.#tick(), Math.min(Math.max(every, MIN_TICK_MS), MAX_TIMER_MS));
    // Leases never keep a process alive: the receive loop or the application does.
    this.#timer.unref();
  }

  #tick(): void {
    this.#timer = undefined;
    if (this.#held.size === 0 || this.#signal.aborted) return;
    const oldest = Date.now() - this.#maxExtensionMs;
    const ackIds: unknown[] = [];
    for (const [ackId, since] of this.#held) {
      if (since <= oldest) this.#held.delete(ackId);
      else ackIds.push(ackId);
    }
    if (ackIds.length > 0 && !this.#extending) {
      this.#extending = true;
      const chunk = this.#driver.ackBatchLimits?.maxItems ?? ackIds.length;
      const calls: Promise<void>[] = [];
      for (let i = 0; i < ackIds.length; i += chunk) {
        calls.push(this.#driver.extendLeases(ackIds.slice(i, i + chunk), this.#signal));
      }
      Promise.all(calls)
        .catch((err: unknown) => {
          if (!this.#signal.aborted) this.#onError(err);
        })
        .finally(() => {
          this.#extending = false;
        });
    }
    if (this.#held.size > 0) this.#schedule();
  }
}
