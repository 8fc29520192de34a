import type { StoredMessage } from "./stored.js";

/** One delivery of a stored message: what a mem:// ackId names. */
export interface DeliveryRef {
  readonly native: StoredMessage;
  /** Which delivery of the message this is: settling an earlier one is stale. */
  readonly delivery: number;
}

/** Places past which the array is copied without its freed ones, once three in four are freed. */
const COMPACT_AFTER = 1024;

/**
 * One subscription's messages out for delivery, in deadline order: every
 * deadline is a delivery or extension time plus the subscription's one ack
 * deadline, so appending keeps the order. Each message keeps its place in
 * `outAt`, and an ackId names the message itself (see `DeliveryRef`): a Map
 * keyed by delivery id cost two hash operations per message, a tenth of
 * mem:// end to end.
 */
export class OutForDelivery {
  #out: (StoredMessage | undefined)[] = [];
  #head = 0;
  #count = 0;

  get size(): number {
    return this.#count;
  }

  /** Adds `message`, whose deadline is the latest. */
  add(message: StoredMessage): void {
    message.outAt = this.#out.length;
    this.#out.push(message);
    this.#count++;
  }

  /**
   * The message of the delivery `ackId` names, while that delivery is out
   * here; undefined for a stale one (settled, expired, delivered again) and
   * for anything that is no ackId of this subscription.
   */
  find(ackId: unknown): StoredMessage | undefined {
    if (typeof ackId !== "object" || ackId === null) return undefined;
    const { native, delivery } = ackId as Partial<DeliveryRef>;
    if (native === undefined || native.delivery !== delivery || native.outAt < 0) return undefined;
    return this.#out[native.outAt] === native ? native : undefined;
  }

  remove(message: StoredMessage): void {
    this.#out[message.outAt] = undefined;
    message.outAt = -1;
    if (--this.#count === 0) this.clear();
    // Freed places anywhere (one message held long keeps the head where it is): compacted by count.
    else if (this.#out.length >= COMPACT_AFTER && this.#count * 4 < this.#out.length) this.#compact();
  }

  /** The message whose deadline comes first, if any. */
  first(): StoredMessage | undefined {
    while (this.#head < this.#out.length && this.#out[this.#head] === undefined) this.#head++;
    return this.#out[this.#head];
  }

  clear(): void {
    this.#out = [];
    this.#head = 0;
    this.#count = 0;
  }

  #compact(): void {
    const out: StoredMessage[] = [];
    for (let i = this.#head; i < this.#out.length; i++) {
      const message = this.#out[i];
      if (message === undefined) continue;
      message.outAt = out.length;
      out.push(message);
    }
    this.#out = out;
    this.#head = 0;
  }
}
