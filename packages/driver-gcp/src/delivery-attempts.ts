/** How many message ids a subscription driver counts delivery attempts for, by default. */
export const DEFAULT_COUNTED_MESSAGES = 10_000;

/**
 * Delivery attempts counted in this process, for subscriptions on which
 * Pub/Sub does not count them (those without a dead-letter policy). A message
 * id seen for the first time is attempt 1, each later delivery of it one
 * more, whatever brought it back (a nack, a delayed redelivery, a lease that
 * ran out), as Pub/Sub's own count does.
 *
 * Bounded: at most `capacity` message ids are remembered; the one delivered
 * longest ago is forgotten first (its next delivery, if any, counts from 1
 * again). An acked message's id is forgotten at once, whichever of its
 * deliveries' ackIds the ack names. So is the count of
 * every message when the process ends: the count survives only as long as
 * this driver.
 */
export class DeliveryAttempts {
  readonly #capacity: number;
  /** Message id to attempts so far, least recently delivered first. */
  readonly #attempts = new Map<string, number>();
  /** The ackIds of counted messages' deliveries, not yet acked or returned, to forget them on ack. */
  readonly #messageIds = new Map<string, string>();

  constructor(capacity = DEFAULT_COUNTED_MESSAGES) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be a positive integer");
    this.#capacity = capacity;
  }

  /** How many message ids are remembered now. */
  get size(): number {
    return this.#attempts.size;
  }

  /** Records one delivery of `messageId` under `ackId` and returns its attempt number, 1 on first delivery. */
  delivered(messageId: string, ackId: string): number {
    const attempt = (this.#attempts.get(messageId) ?? 0) + 1;
    // Deleting first moves the id to the end: the map stays in order of latest delivery.
    this.#attempts.delete(messageId);
    this.#attempts.set(messageId, attempt);
    this.#messageIds.set(ackId, messageId);
    evictOldest(this.#attempts, this.#capacity);
    evictOldest(this.#messageIds, this.#capacity);
    return attempt;
  }

  /** Forgets the messages acked under these ackIds; unknown ackIds change nothing. */
  acked(ackIds: readonly string[]): void {
    for (const ackId of ackIds) {
      const messageId = this.#messageIds.get(ackId);
      if (messageId === undefined) continue;
      this.#messageIds.delete(ackId);
      this.#attempts.delete(messageId);
    }
  }

  /**
   * Forgets these ackIds but keeps their messages' counts: the messages were
   * handed back and their next delivery comes with a new ackId.
   */
  returned(ackIds: readonly string[]): void {
    for (const ackId of ackIds) this.#messageIds.delete(ackId);
  }
}

function evictOldest(map: Map<string, unknown>, capacity: number): void {
  for (const key of map.keys()) {
    if (map.size <= capacity) return;
    map.delete(key);
  }
}
