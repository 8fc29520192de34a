import type { DriverMessage } from "./driver/driver.js";
import { ErrorCode, PubSubError } from "./errors.js";

/** Where a Message's ack or nack goes: its Subscription. */
export interface AckSink {
  readonly canNack: boolean;
  ack(ackId: unknown): void;
  nack(ackId: unknown): void;
}

const decoder = new TextDecoder();

/** A received message. Call `ack()` once it is handled, or `nack()` to have it redelivered at once. */
export class Message {
  /** The bytes that were sent, unchanged. */
  readonly body: Uint8Array;
  /** The metadata that was sent. */
  readonly metadata: Readonly<Record<string, string>>;
  /** An id safe to log (broker message id or delivery tag); not unique across brokers. */
  readonly loggableId: string;
  /** How many times this message has been delivered, 1 the first time; undefined where the driver cannot tell. */
  readonly deliveryAttempt: number | undefined;
  readonly #sink: AckSink;
  readonly #ackId: unknown;
  readonly #native: unknown;
  #settled = false;

  constructor(message: DriverMessage, sink: AckSink) {
    this.body = message.body;
    this.metadata = message.metadata;
    this.loggableId = message.loggableId ?? "";
    this.deliveryAttempt = message.deliveryAttempt;
    this.#ackId = message.ackId;
    this.#native = message.native;
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
   * batched; the call does not wait. A second ack or nack is a no-op.
   */
  ack(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#sink.ack(this.#ackId);
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
    this.#sink.nack(this.#ackId);
  }

  /** The driver's own message object (an amqplib message, a Pub/Sub Message, a stream entry), typed by the caller. */
  as<T>(): T {
    return this.#native as T;
  }
}
