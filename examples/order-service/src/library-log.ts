import type { LogEvent, Logger as PubSubLogger } from "@portable-pubsub/core";
import type { Logger } from "./log.js";

/**
 * The subscription's `logger`: writes the library's events as the service's
 * own log lines, and counts the dead letters this instance sent.
 *
 * Why count the library's `pubsub.deadletter` events rather than subscribe to
 * the dead-letter topic: the event comes once per dead letter, only after
 * the broker confirmed the dead-letter send (and before the original is
 * acked), so each count is an order that really is in the dead-letter topic
 * and was sent by this instance. A subscription of our own to that topic
 * would take the dead letters away from whoever must look at them (or need a
 * queue of its own that fills up for ever), would count those of every
 * instance and of every earlier run, and, being at-least-once, could count
 * one twice. What it cannot tell is what is left in the topic after a
 * `pubsub redrive`: that is the broker's to say (`pubsub doctor` shows a
 * RabbitMQ queue's depth).
 */
export class LibraryLog implements PubSubLogger {
  readonly #log: Logger;
  #deadLettered = 0;
  #rejected = 0;
  #duplicates = 0;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Deliveries of messages that are not valid orders (they fail OrderSchema), which no handler saw. */
  get rejected(): number {
    return this.#rejected;
  }

  /** Deliveries the inbox acked without the handler: copies of orders already charged (by any instance). */
  get duplicates(): number {
    return this.#duplicates;
  }

  /** Orders this instance sent to the dead-letter topic since it started. */
  get deadLettered(): number {
    return this.#deadLettered;
  }

  info(event: LogEvent): void {
    this.#write("info", event);
  }

  warn(event: LogEvent): void {
    this.#write("warn", event);
  }

  error(event: LogEvent): void {
    this.#write("error", event);
  }

  #write(level: "info" | "warn" | "error", event: LogEvent): void {
    // Connection states are logged from the subscription's health already.
    if (event.event === "pubsub.state") return;
    const { event: name, message, ...fields } = event;
    if (name === "pubsub.invalid_message") this.#rejected++;
    if (name === "pubsub.duplicate") this.#duplicates++;
    if (name === "pubsub.deadletter") {
      this.#deadLettered++;
      this.#log.warn("order dead-lettered", { ...fields, deadLettered: this.#deadLettered });
      return;
    }
    this.#log[level](message, { event: name, ...fields });
  }
}
