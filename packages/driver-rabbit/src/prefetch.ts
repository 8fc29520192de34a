/**
 * The default prefetch: large enough for throughput with small messages,
 * small enough that large ones cannot fill memory. RabbitMQ limits unacked
 * deliveries by count only, so the consumer follows the average size of
 * what it receives and keeps prefetch × average size near
 * {@link PREFETCH_BYTES}: 500 messages of 256 bytes (the most), 32 of 1 MiB,
 * 1 of 32 MiB or more. It starts at {@link INITIAL_PREFETCH}, before any
 * size is known; it shrinks once the target is 20% below the current value
 * and grows only when the target is twice it, so that it does not churn.
 *
 * 500 is where throughput stops growing for a consumer that acks soon. One
 * that holds its messages longer (an idempotency store's round trips before
 * each ack, acks batched late) fills its window and waits with nothing to
 * do: the consumer reports that (`starved`), and the ceiling doubles, up to
 * {@link MAX_STARVED_PREFETCH}, still within {@link PREFETCH_BYTES}.
 */

/** Unacked bytes the automatic prefetch aims for. */
export const PREFETCH_BYTES = 32 * 1024 * 1024;
/** The automatic prefetch's ceiling: where end-to-end throughput stops growing. */
export const MAX_AUTO_PREFETCH = 500;
/** The highest a starved consumer (see the module comment) raises the automatic prefetch's ceiling. */
export const MAX_STARVED_PREFETCH = 2000;
/** The automatic prefetch before any delivery was seen. */
export const INITIAL_PREFETCH = 50;
/** Deliveries between two looks at the average size. */
const CHECK_EVERY = 32;

/** See the module comment. */
export class AutoPrefetch {
  #current = INITIAL_PREFETCH;
  #ceiling = MAX_AUTO_PREFETCH;
  #averageBytes = 0;
  #seen = 0;

  /** The prefetch to consume with now. */
  get current(): number {
    return this.#current;
  }

  /** Records one delivery of `bytes`; returns a new prefetch when it should change, else undefined. */
  observe(bytes: number): number | undefined {
    this.#seen++;
    // An exponential moving average over about the last 32 deliveries.
    this.#averageBytes += (bytes - this.#averageBytes) / Math.min(this.#seen, CHECK_EVERY);
    if (this.#seen % CHECK_EVERY !== 0) return undefined;
    const target = this.#target();
    // Shrink soon (memory), grow only by a doubling (throughput is flat near the top).
    if (target < this.#current * 2 && target > this.#current * 0.8) return undefined;
    this.#current = target;
    return target;
  }

  /**
   * Records that the application waited for deliveries while `current` were
   * unacked: the window, not the broker, held it back. Returns a new, larger
   * prefetch, or undefined when the ceiling or the byte target allows none.
   */
  starved(): number | undefined {
    const bySize = this.#bySize();
    const next = Math.min(MAX_STARVED_PREFETCH, this.#current * 2, bySize);
    if (next <= this.#current) return undefined;
    // Kept as the ceiling, so that the size checks do not take it back.
    this.#ceiling = Math.max(this.#ceiling, next);
    this.#current = next;
    return next;
  }

  #target(): number {
    return Math.max(1, Math.min(this.#ceiling, this.#bySize()));
  }

  #bySize(): number {
    return Math.floor(PREFETCH_BYTES / Math.max(1, this.#averageBytes + 512));
  }
}
