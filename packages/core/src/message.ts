import type { DriverMessage } from "./driver/driver.js";
import { ErrorCode, PubSubError } from "./errors.js";
import { checkNackOptions } from "./portable-options.js";
import { withoutContextKeys } from "./telemetry/propagation.js";

/** Where a Message's ack or nack goes: its Subscription. */
export interface AckSink {
  readonly canNack: boolean;
  /** The trace-context keys (traceparent, tracestate) to hide from `metadata`; none to keep them. */
  readonly contextKeys: readonly string[];
  ack(message: DriverMessage): void;
  /**
   * A failed message: `error` is what its handler threw (undefined for
   * `nack()`), `delayMs` the application's delay (undefined: the policy's).
   */
  fail(message: DriverMessage, error: unknown, delayMs: number | undefined): void;
}

/** Options of `Message.nack`. */
export interface NackOptions {
  /**
   * Deliver the message again after this many ms instead of the
   * subscription's `redelivery` delay; 0 means at once.
   */
  delayMs?: number;
}

const decoder = new TextDecoder();

/**
 * The id a received message goes by (`Message.id`, and what an idempotent
 * consumer deduplicates by): its portable id, or, from a driver that sets
 * none (a foreign message), its broker id; "" when it has neither.
 */
export function receivedId(message: DriverMessage): string {
  return message.id ?? message.loggableId ?? "";
}

/** The driver's message behind a Message, for the portable layer's tracing. */
export let sourceOf: (message: Message) => DriverMessage;

/** Settles `message` as failed with the handler's `error`, unless it was settled already. */
export let failMessage: (message: Message, error: unknown) => void;

/**
 * A received message. Call `ack()` once it is handled, or `nack()` to have it
 * delivered again after the subscription's redelivery delay.
 */
export class Message {
  /** The bytes that were sent, unchanged. */
  readonly body: Uint8Array;
  /**
   * The metadata that was sent. The trace context that tracing adds
   * (traceparent, tracestate) is not in it, unless the subscription was
   * opened with `tracing: { keepContextMetadata: true }`.
   */
  readonly metadata: Readonly<Record<string, string>>;
  /**
   * How many times this message has been delivered, 1 the first time;
   * undefined where the driver cannot tell. It counts every delivery, also
   * those handed back unhandled at a shutdown, so it is not how often the
   * message failed: `redelivery.maxAttempts` counts failures.
   */
  readonly deliveryAttempt: number | undefined;
  readonly #sink: AckSink;
  /** What the driver delivered, trace-context keys included. */
  readonly #source: DriverMessage;
  /** `id`, once read: a driver may make its text only when asked (mem:// does), and most handlers never ask. */
  #id: string | undefined;
  #settled = false;

  static {
    sourceOf = (message) => message.#source;
    failMessage = (message, error) => {
      if (message.#settled) return;
      message.#settled = true;
      message.#sink.fail(message.#source, error, undefined);
    };
  }

  constructor(message: DriverMessage, sink: AckSink) {
    this.body = message.body;
    this.metadata = withoutContextKeys(message.metadata, sink.contextKeys) ?? message.metadata;
    this.deliveryAttempt = message.deliveryAttempt;
    this.#source = message;
    this.#sink = sink;
  }

  /**
   * The message's id: the one it was sent with (`send({ id })`), or the one
   * generated at send; the same on every delivery of the message, through
   * redeliveries, resends, delays and dead letters. A message that another
   * program published has the broker's own id instead, as the driver's
   * README says.
   */
  get id(): string {
    if (this.#id === undefined) {
      this.#id = receivedId(this.#source);
    }
    return this.#id;
  }

  /**
   * An id safe to log (broker message id or delivery tag); not unique across brokers.
   * @deprecated Use `id`, the message's portable id, where they differ; this one stays the broker's.
   */
  get loggableId(): string {
    // Read from the driver's message when asked, not at arrival: a driver may make it only then (mem:// does).
    return this.#source.loggableId ?? "";
  }

  /** True if `nack()` is supported by this message's driver. */
  get nackable(): boolean {
    return this.#sink.canNack;
  }

  /** The body decoded as UTF-8. */
  text(): string {
    return decoder.decode(this.body);
  }

  /**
   * Acknowledges the message: it will not be delivered again. Acks are
   * batched; the call does not wait. A second ack or nack is a no-op, and so
   * is an ack after the subscription was shut down (the broker delivers the
   * message again).
   */
  ack(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#sink.ack(this.#source);
  }

  /**
   * Reports that the message could not be handled: it is delivered again
   * after the subscription's `redelivery` delay (capped exponential backoff
   * by its failures), or after `delayMs` if given (0: at once); once it has
   * failed `redelivery.maxAttempts` times it goes to the dead-letter topic
   * instead. The
   * call does not wait. Throws Unimplemented where the driver cannot nack
   * (see `nackable`), InvalidArgument for a bad `delayMs`. A second ack or
   * nack is a no-op.
   */
  nack(options?: NackOptions): void {
    if (!this.#sink.canNack) {
      throw new PubSubError(
        ErrorCode.Unimplemented,
        "nack: this driver cannot nack; let the ack deadline pass instead",
      );
    }
    const delayMs = checkNackOptions(options);
    if (this.#settled) return;
    this.#settled = true;
    this.#sink.fail(this.#source, undefined, delayMs);
  }

  /** The driver's own message object (an amqplib message, a Pub/Sub Message, a stream entry), typed by the caller. */
  as<T>(): T {
    return this.#source.native as T;
  }
}
