import type { Codec } from "./codecs/codec.js";
import { json } from "./codecs/json.js";
import type { SchemaInput, StandardSchemaV1, Untyped } from "./codecs/schema.js";
import { TypedEncoder, type TypedOutgoingMessage } from "./codecs/typed-send.js";
import { raceSignal } from "./driver/abort.js";
import { Batcher, type BatcherOptions, batcherOptions, type SendBatching } from "./driver/batcher.js";
import type { DriverMessage, TopicDriver } from "./driver/driver.js";
import { type RetryOptions, retryOptions, withRetry } from "./driver/retry.js";
import { canceledError, ErrorCode, PubSubError } from "./errors.js";
import { type CallOptions, DriverHandle } from "./handle.js";
import { type OutgoingMessage, toDriverMessage } from "./outgoing-message.js";
import { checkSignal, checkTopicOptions } from "./portable-options.js";
import type { Logger } from "./telemetry/logger.js";
import { SendTracing, type TopicTracing } from "./telemetry/producer.js";

export type { SendBatching };

/**
 * What `send` takes on a Topic of schema `S`: `{ data, metadata?, event? }`
 * with `data` of the schema's input type; on an untyped Topic (`Untyped`,
 * the default, or undefined), `{ body, metadata? }`.
 */
export type SendMessageOf<S extends StandardSchemaV1 | undefined> = [S] extends [StandardSchemaV1]
  ? TypedOutgoingMessage<SchemaInput<S>>
  : OutgoingMessage;

/** Portable options of a Topic. */
export interface TopicOptions {
  /**
   * Makes the Topic typed: `send({ data })` validates `data` with this
   * schema (any Standard Schema v1: zod 4, valibot, arktype...) first, and a
   * failure is InvalidArgument listing each issue's path and message, with
   * nothing sent; then the codec encodes it. Default: none, `send` takes
   * bytes.
   */
  schema?: StandardSchemaV1;
  /**
   * How `data` becomes a body, and the content type written with it: `json()`
   * (the default when a schema is given), or any `Codec`. A codec
   * without a schema makes the Topic typed too, with `data` unchecked.
   */
  codec?: Codec;
  batching?: SendBatching;
  retry?: RetryOptions;
  /**
   * Most sends waiting for a batch at once. Past it, `send` fails at once with
   * ResourceExhausted instead of holding ever more messages in memory while
   * the broker is slow or unreachable. Default 100,000.
   */
  maxPendingSends?: number;
  /**
   * How long `shutdown()` without a signal (and `await using`) may take, in
   * ms. Past it, sends still pending fail with DeadlineExceeded, the driver
   * is closed, and shutdown resolves. A signal passed to `shutdown` replaces
   * it. Default 30,000.
   */
  shutdownTimeoutMs?: number;
  /** Tracing: whether the sender's trace context travels with each message. */
  tracing?: TopicTracing;
  /** Receives structured events: connection state changes, a broker's block. Default: none. */
  logger?: Logger;
  /**
   * This topic receives dead letters, so every message sent to it must be
   * kept where a subscription can read it. A driver must then make sure of
   * that at open, or fail the open with FailedPrecondition saying why: a
   * dead letter that the topic drops is lost, and one it refuses at every
   * send loops. rabbit:// with `declare=true` also declares a durable queue
   * of the exchange's name, bound to receive every message. A `deadLetter`
   * URL is opened with it set; set it yourself on a Topic you pass as
   * `deadLetter`. Drivers whose topics always keep what they get ignore it.
   * Default false.
   */
  deadLetterTarget?: boolean;
}

/**
 * Sends bytes on any Topic, typed or not: for dead letters, which keep the
 * failed message's body as it was, whatever the dead-letter topic's schema.
 */
export let sendBytes: (topic: Topic<Untyped>, message: OutgoingMessage, options: CallOptions) => Promise<void>;

const SEND_DEFAULTS: BatcherOptions = { maxItems: 1000, maxBytes: 4 << 20, maxConcurrency: 8, lingerMs: 0 };

/**
 * A Topic sends messages to one topic, exchange or stream of a broker. Open
 * one with `openTopic(url)` or a driver's constructor; share it, it is safe to
 * call from many places at once; shut it down once.
 */
export class Topic<S extends StandardSchemaV1 | undefined = Untyped> extends DriverHandle<TopicDriver> {
  readonly #batcher: Batcher<DriverMessage>;
  readonly #retry: Required<RetryOptions>;
  readonly #abort = new AbortController();
  readonly #maxPending: number;
  readonly #tracing: SendTracing;
  readonly #typed: TypedEncoder | undefined;

  static {
    sendBytes = (topic, message, options) => topic.#send(message, options);
  }

  constructor(driver: TopicDriver, options: TopicOptions = {}) {
    checkTopicOptions(options);
    super(driver, "topic", options);
    const { schema, codec } = options;
    this.#typed = schema || codec ? new TypedEncoder(codec ?? json(), schema) : undefined;
    this.#maxPending = options.maxPendingSends ?? 100_000;
    this.#tracing = new SendTracing(this.instruments, options.tracing);
    this.#retry = retryOptions(options.retry);
    const batching = batcherOptions(options.batching, driver.batchLimits, SEND_DEFAULTS);
    this.#batcher = new Batcher(
      (batch) => this.#sendBatch(batch),
      batching,
      (m) => m.body.byteLength,
    );
  }

  /**
   * Sends `message`. Resolves once the broker has accepted it (publisher
   * confirm, publish RPC, XADD reply); rejects with a PubSubError otherwise:
   * InvalidArgument for a bad message (on a typed Topic, also data that
   * fails the schema, each issue named, or that the codec cannot encode;
   * nothing is sent), FailedPrecondition after shutdown, Canceled when
   * `signal` fires first (the message may still be sent if its batch had
   * already left), or the driver's error mapped to a portable code.
   */
  send(message: SendMessageOf<S>, options?: CallOptions): Promise<void> {
    if (this.#typed === undefined) return this.#send(message as OutgoingMessage, options);
    let encoded: OutgoingMessage | Promise<OutgoingMessage>;
    try {
      this.assertOpen("send");
      encoded = this.#typed.encode(message);
    } catch (err) {
      return Promise.reject(err);
    }
    return encoded instanceof Promise
      ? encoded.then((ready) => this.#send(ready, options))
      : this.#send(encoded, options);
  }

  #send(message: OutgoingMessage, options: CallOptions | undefined): Promise<void> {
    try {
      this.assertOpen("send");
      const signal = options === undefined ? undefined : checkSignal(options, "send");
      if (signal?.aborted) throw canceledError("send", signal);
      if (this.#batcher.pending >= this.#maxPending) {
        throw new PubSubError(
          ErrorCode.ResourceExhausted,
          `send to ${this.driver.resource}: ${this.#maxPending} sends are already waiting (the broker is slow or unreachable); ` +
            "wait for some to settle, or raise maxPendingSends",
        );
      }
      let outgoing = toDriverMessage(message);
      if (this.instruments.tracing) outgoing = this.#tracing.prepare(outgoing, this.driver);
      else this.driver.checkMessage?.(outgoing);
      const pending = this.#batcher.add(outgoing, signal);
      return signal ? raceSignal(pending, signal, "send") : pending;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Sends what is pending, then releases the driver. Returns only after both,
   * or when `signal` fires: sends still pending then fail with Canceled (or
   * DeadlineExceeded for a timeout signal) and the driver is closed all the
   * same, and shutdown rejects with that error. Without a signal, it is
   * bounded by `shutdownTimeoutMs` (default 30 s): past it, pending sends fail
   * with DeadlineExceeded, the driver is closed, and shutdown resolves. Later
   * sends fail with FailedPrecondition. Calling it again returns the first
   * call's promise.
   */
  override shutdown(options?: CallOptions): Promise<void> {
    return super.shutdown(options);
  }

  protected async doShutdown(signal: AbortSignal): Promise<void> {
    this.markClosed();
    try {
      await raceSignal(this.#batcher.flush(), signal, "shutdown");
    } catch (err) {
      this.#abort.abort(err);
      this.#batcher.failAll(err);
    }
    await this.closeDriver(signal);
    if (signal.aborted) throw canceledError("shutdown", signal);
  }

  #sendBatch(batch: DriverMessage[]): Promise<void> {
    const driver = this.driver;
    const signal = this.#abort.signal;
    return this.instruments
      .send(batch, this.#tracing.created, () =>
        withRetry(() => driver.sendBatch(batch, signal), this.isRetryable, this.#retry, signal, "send"),
      )
      .catch((err: unknown) => {
        throw err instanceof PubSubError && err.code === ErrorCode.Canceled ? err : this.wrap(err, "send to");
      });
  }
}
