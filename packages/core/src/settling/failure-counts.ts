import type { DriverMessage } from "../driver/driver.js";

/** How many messages' failures a Subscription remembers, at most; the oldest is forgotten first. */
export const MAX_COUNTED_MESSAGES = 10_000;

/**
 * The failures of messages whose driver does not count them
 * (`DriverMessage.failedAttempts` undefined), counted by one Subscription
 * while it is open, by `loggableId`: a handler that threw, a nack, a lease
 * left to lapse. A
 * message's count is dropped once it is acked or dead-lettered; past
 * `MAX_COUNTED_MESSAGES` counts, the one that changed least recently goes,
 * so memory stays bounded whatever fails.
 */
export class FailureCounts {
  readonly #counts = new Map<string, number>();
  readonly #limit: number;

  constructor(limit = MAX_COUNTED_MESSAGES) {
    this.#limit = limit;
  }

  /** How many messages have a count. */
  get size(): number {
    return this.#counts.size;
  }

  /** The earlier failures of `message`: the driver's count where it gives one, else this process's. */
  of(message: DriverMessage): number {
    if (message.failedAttempts !== undefined) return message.failedAttempts;
    if (this.#counts.size === 0 || message.loggableId === undefined) return 0;
    return this.#counts.get(message.loggableId) ?? 0;
  }

  /** Counts one more failure of `message` (where its driver does not) and returns its failures so far. */
  add(message: DriverMessage): number {
    const failures = this.of(message) + 1;
    const id = message.loggableId;
    if (message.failedAttempts !== undefined || id === undefined) return failures;
    // Deleted first, so that Map order is the order of the last change: the first entry is the stalest.
    this.#counts.delete(id);
    this.#counts.set(id, failures);
    if (this.#counts.size > this.#limit) this.#counts.delete(this.#counts.keys().next().value as string);
    return failures;
  }

  /** Forgets the count of `message`: it was acked or dead-lettered. */
  forget(message: DriverMessage): void {
    if (this.#counts.size > 0 && message.loggableId !== undefined) this.#counts.delete(message.loggableId);
  }
}
