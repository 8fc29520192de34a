import type { DriverMessage } from "./driver.js";

/**
 * Remembers which messages of a batch a failed `sendBatch` already stored on
 * the broker, so that its retry sends only the others: the portable layer
 * retries a batch by passing the same array of the same message objects, and
 * re-sending what the broker took would duplicate it.
 *
 * Only batches that failed part-way are remembered, by their array, and only
 * as long as that array lives: a batch that succeeds costs one lookup, not an
 * entry per message (a WeakSet of every sent message made garbage-collector
 * work on every send).
 *
 * Drivers whose send can fail part-way (several requests per batch, one
 * reply per message) use it; a driver must not keep a set of its own.
 */
export class StoredMessages {
  readonly #stored = new WeakMap<readonly DriverMessage[], Set<DriverMessage>>();

  /**
   * The messages of `batch` that no earlier attempt stored, in order:
   * `batch` itself when none did (the first attempt, always).
   */
  unstored(batch: DriverMessage[]): DriverMessage[] {
    const stored = this.#stored.get(batch);
    return stored === undefined ? batch : batch.filter((m) => !stored.has(m));
  }

  /**
   * Records that `messages`, of `batch`, reached the broker in an attempt
   * that is about to fail. Call it before throwing; what earlier attempts
   * recorded is kept.
   */
  record(batch: readonly DriverMessage[], messages: Iterable<DriverMessage>): void {
    let stored = this.#stored.get(batch);
    for (const message of messages) {
      if (stored === undefined) {
        stored = new Set();
        this.#stored.set(batch, stored);
      }
      stored.add(message);
    }
  }
}
