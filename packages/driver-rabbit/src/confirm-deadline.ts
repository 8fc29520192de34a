/**
 * The confirm deadline of a ConfirmPublisher. Heartbeats keep a connection
 * healthy while one confirm never comes (a lost frame, a broker that skipped
 * one delivery tag and confirmed later ones singly); without a deadline its
 * send would stay pending for ever. This watches the oldest unconfirmed
 * message and reports it once it has waited `timeoutMs`; the publisher then
 * treats the channel as dead. Time while the broker blocks publishing does
 * not count: a blocked connection confirms nothing (the broker stops reading
 * it), and giving up its channel would only publish everything twice.
 */
import type { HealthSource } from "@portable-pubsub/core/driver";

/**
 * Far above a healthy confirm (milliseconds; seconds while a quorum queue
 * elects a leader, which RabbitMQ answers with nacks anyway), so that a
 * republish, which a consumer may see twice (with the same message id), is
 * rare; and below the outbox relay's 30 s send timeout, so that a relayed
 * send is republished before the relay gives up on it.
 */
export const DEFAULT_CONFIRM_TIMEOUT_MS = 20_000;

/** See the module comment. */
export class ConfirmDeadline {
  readonly #timeoutMs: number;
  /** When the oldest unconfirmed message was written (Date.now()), or undefined when nothing is in flight. */
  readonly #oldestSentAt: () => number | undefined;
  readonly #overdue: () => void;
  readonly #unwatchHealth: () => void;
  #timer: NodeJS.Timeout | undefined;
  #blocked = false;
  /** When the broker last blocked or unblocked publishing (Date.now()): deadlines count from here at the earliest. */
  #blockedChangedAt = 0;

  constructor(timeoutMs: number, health: HealthSource, oldestSentAt: () => number | undefined, overdue: () => void) {
    this.#timeoutMs = timeoutMs;
    this.#oldestSentAt = oldestSentAt;
    this.#overdue = overdue;
    this.#unwatchHealth = health.onChange(({ blocked }) => {
      if (this.#blocked === (blocked !== undefined)) return;
      this.#blocked = !this.#blocked;
      this.#blockedChangedAt = Date.now();
      if (!this.#blocked) this.watch();
    });
  }

  /** Arms the deadline of the oldest message in flight, unless it is armed, nothing is in flight, or publishing is blocked. */
  watch(): void {
    const due = this.#due();
    if (this.#timer !== undefined || due === undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // The message it was armed for may have been confirmed since: only an oldest one overdue now counts.
      const now = this.#due();
      if (now === undefined) return;
      if (Date.now() >= now) this.#overdue();
      else this.watch();
    }, due - Date.now());
    this.#timer.unref();
  }

  /** Stops watching for good. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#unwatchHealth();
  }

  #due(): number | undefined {
    const sentAt = this.#oldestSentAt();
    if (sentAt === undefined || this.#blocked) return undefined;
    return Math.max(sentAt, this.#blockedChangedAt) + this.#timeoutMs;
  }
}
