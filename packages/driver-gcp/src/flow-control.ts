import { WakeUp } from "@portable-pubsub/core/driver";

/** Limits on what a subscription holds: received, neither acked nor nacked. */
export interface FlowControlLimits {
  /** Most messages outstanding. */
  maxMessages: number;
  /** Most body bytes outstanding; one pull may overshoot it, the next waits. */
  maxBytes: number;
}

interface Held {
  bytes: number;
  at: number;
}

/**
 * A message not settled or extended this long after it arrived (or its lease
 * was last extended) has surely passed its ack deadline (Pub/Sub allows at
 * most 600 s) and is the broker's again: it no longer counts, so that
 * forgotten messages cannot block receiving for good.
 */
const FORGET_AFTER_MS = 600_000;

/**
 * Flow control for pulling: counts outstanding messages by ackId, says how
 * many more may be pulled, and wakes a waiting receive when acks or nacks
 * make room. Acks of unknown ackIds (stale, or settled twice) change nothing.
 */
export class FlowControl {
  readonly #limits: FlowControlLimits;
  readonly #held = new Map<string, Held>();
  #bytes = 0;
  readonly #room = new WakeUp();

  constructor(limits: FlowControlLimits) {
    this.#limits = limits;
  }

  /** Messages outstanding. */
  get messages(): number {
    return this.#held.size;
  }

  /** Body bytes outstanding. */
  get bytes(): number {
    return this.#bytes;
  }

  /** How many of `wanted` messages may be pulled now: 0 while a limit is reached. */
  room(wanted: number): number {
    this.#forgetExpired();
    if (this.#bytes >= this.#limits.maxBytes) return 0;
    return Math.max(0, Math.min(wanted, this.#limits.maxMessages - this.#held.size));
  }

  /** Records a received message. */
  hold(ackId: string, bytes: number): void {
    if (this.#held.has(ackId)) return;
    this.#held.set(ackId, { bytes, at: Date.now() });
    this.#bytes += bytes;
  }

  /** Records that these messages were acked or nacked. */
  release(ackIds: readonly string[]): void {
    let freed = false;
    for (const ackId of ackIds) {
      const held = this.#held.get(ackId);
      if (!held) continue;
      this.#held.delete(ackId);
      this.#bytes -= held.bytes;
      freed = true;
    }
    if (freed) this.#room.wakeAll();
  }

  /**
   * Records that the leases of these messages were extended: they are still
   * held, however long ago they arrived. Unknown ackIds change nothing.
   */
  renew(ackIds: readonly string[]): void {
    const now = Date.now();
    for (const ackId of ackIds) {
      const held = this.#held.get(ackId);
      if (!held) continue;
      // Deleting first moves it to the end: the map stays in order of `at`.
      this.#held.delete(ackId);
      this.#held.set(ackId, { bytes: held.bytes, at: now });
    }
  }

  /**
   * Resolves when a release makes room, after `ms`, or when `signal` fires,
   * whichever is first. Its timer keeps the process alive, as a waiting
   * receive should: a service that only consumes must not exit while idle.
   */
  waitForRoom(ms: number, signal: AbortSignal): Promise<void> {
    return this.#room.wait(ms, signal);
  }

  #forgetExpired(): void {
    const horizon = Date.now() - FORGET_AFTER_MS;
    // Map order is the order of `at` (arrival or renewal), so the oldest come first.
    for (const [ackId, held] of this.#held) {
      if (held.at > horizon) break;
      this.#held.delete(ackId);
      this.#bytes -= held.bytes;
    }
  }
}
