import type { DriverMessage } from "./driver/driver.js";
import { ErrorCode, PubSubError } from "./errors.js";
import { withoutContextKeys } from "./telemetry/propagation.js";

/** Where a Message's ack or nack goes: its Subscription. */
export interface AckSink {
  readonly canNack: boolean;
  /** The trace-context keys (traceparent, tracestate) to hide from `metadata`; none to keep them. */
  readonly contextKeys: readonly string[];
  ack(ackId: unknown): void;
  nack(ackId: unknown): void;
}

const decoder = new TextDecoder();

/** The driver's message behind a Message, for the portable layer's tracing. */
export let sourceOf: (message: Message) => DriverMessage;

/** A received message. Call `ack()` once it is handled, or `nack()` to have it redelivered at once. */
export class Message {
  /** The bytes that were sent, unchanged. */
  readonly body: Uint8Array;
  /**
   * The metadata that was sent. The trace context that tracing adds
   * (traceparent, tracestate) is not in it, unless the subscription was
   * opened with `tracing: { keepContextMetadata: true }`.
   */
  readonly metadata: Readonly<Record<string, string>>;
  /** An id safe to log (broker message id or delivery tag); not unique across brokers. */
  readonly loggableId: string;
  /** How many times this message has been delivered, 1 the first time; undefined where the driver cannot tell. */
  readonly deliveryAttempt: number | undefined;
  readonly #sink: AckSink;
  /** What the driver delivered, trace-context keys included. */
  readonly #source: DriverMessage;
  #settled = false;

  static {
    sourceOf = (message) => message.#source;
  }

  constructor(message: DriverMessage, sink: AckSink) {
    this.body = message.body;
    this.metadata = withoutContextKeys(message.metadata, sink.contextKeys) ?? message.metadata;
    this.loggableId = message.loggableId ?? "";
    this.deliveryAttempt = message.deliveryAttempt;
    this.#source = message;
    this.#sink = sink;
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
    this.#sink.ack(this.#source.ackId);
  }

  /**
   * Asks the broker to deliver the message again at once. Throws Unimplemented
   * where the driver cannot nack (see `nackable`). A second ack or nack is a no-op.
   */
  nack(): void {
    if (!this.#sink.canNack) {
      throw new PubSubError(
        ErrorCode.Unimplemented,
        "nack: this driver cannot nack; let the ack deadline pass instead",
      );
    }
    if (this.#settled) return;
    this.#settled = true;
    this.#sink.nack(this.#source.ackId);
  }

  /** The driver's own message object (an amqplib message, a Pub/Sub Message, a stream entry), typed by the caller. */
  as<T>(): T {
    return this.#source.native as T;
  }
}
