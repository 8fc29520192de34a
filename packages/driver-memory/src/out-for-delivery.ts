import { PlacedList } from "@portable-pubsub/core/driver";
import type { StoredMessage } from "./stored.js";

/** One delivery of a stored message: what a mem:// ackId names. */
export interface DeliveryRef {
  readonly native: StoredMessage;
  /** Which delivery of the message this is: settling an earlier one is stale. */
  readonly delivery: number;
}

/**
 * One subscription's messages out for delivery, in deadline order: every
 * deadline is a delivery or extension time plus the subscription's one ack
 * deadline, so appending keeps the order. Each message keeps its place in
 * the kit's `PlacedList` in `outAt`, and an ackId names the message itself
 * (see `DeliveryRef`): a Map keyed by delivery id cost two hash operations
 * per message, a tenth of mem:// end to end.
 */
export class OutForDelivery {
  readonly #out = new PlacedList<StoredMessage>((message, at) => {
    message.outAt = at;
  });

  get size(): number {
    return this.#out.size;
  }

  /** Adds `message`, whose deadline is the latest. */
  add(message: StoredMessage): void {
    this.#out.push(message);
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
    return this.#out.at(native.outAt) === native ? native : undefined;
  }

  /** Removes `message`, which `find` or `first` just returned. */
  remove(message: StoredMessage): void {
    this.#out.removeAt(message.outAt);
    message.outAt = -1;
  }

  /** The message whose deadline comes first, if any. */
  first(): StoredMessage | undefined {
    return this.#out.first();
  }

  clear(): void {
    this.#out.clear();
  }
}
