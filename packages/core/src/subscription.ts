import { ROOT_CONTEXT } from "@opentelemetry/api";
import type { Codec } from "./codecs/codec.js";
import { json } from "./codecs/json.js";
import type { SchemaOutput, StandardSchemaV1, Untyped } from "./codecs/schema.js";
import type { TypedMessage } from "./codecs/typed-message.js";
import { TypedDecoder } from "./codecs/typed-receive.js";
import { raceSignal } from "./driver/abort.js";
import type { DriverMessage, SubscriptionDriver } from "./driver/driver.js";
import { type RetryOptions, retryOptions, withRetry } from "./driver/retry.js";
import { canceledError, ErrorCode, invalidArgument, PubSubError } from "./errors.js";
import { type CallOptions, DriverHandle } from "./handle.js";
import { failMessage, Message, sourceOf } from "./message.js";
import { checkProcessOptions, checkSignal, checkSubscriptionOptions } from "./portable-options.js";
import { ReceiveBuffer } from "./receive-buffer.js";
import { ReceiveSizer } from "./receive-sizer.js";
import {
  type IdempotencyOptions,
  IdempotentConsumer,
  NO_TRANSACTION,
  type ProcessContext,
} from "./settling/idempotency.js";
import type { RedeliveryOptions } from "./settling/redelivery.js";
import { type AckBatching, Settlement } from "./settling/settlement.js";
import type { Logger } from "./telemetry/logger.js";
import { extractFrom } from "./telemetry/propagation.js";
import type { Topic } from "./topic.js";

/**
 * What a Subscription of schema `S` hands out: a {@link TypedMessage} whose
 * `data` is the schema's output type; on an untyped Subscription (`Untyped`,
 * the default, or undefined), a {@link Message}.
 */
export type MessageOf<S extends StandardSchemaV1 | undefined> = [S] extends [StandardSchemaV1]
  ? TypedMessage<SchemaOutput<S>>
  : Message;

/** Portable options of a Subscription. */
export interface SubscriptionOptions {
  /**
   * Makes the Subscription typed: each message is decoded by the codec and
   * validated with this schema (any Standard Schema v1) once, before anyone
   * sees it, and handed out as a `TypedMessage` whose `data` is the
   * schema's output. A message that is invalid (a content type not the
   * codec's, a body it cannot decode, data that fails the schema) never
   * reaches a handler: with `deadLetter` it is dead-lettered at once, without
   * retries, `deadletter.error` naming each issue's path; without, it is
   * delivered again under `redelivery`, never lost, and each time the logger
   * gets `pubsub.invalid_message`. Default: none, messages are bytes.
   */
  schema?: StandardSchemaV1;
  /**
   * How a body becomes data, and which content type it must have: `json()`
   * (the default when a schema is given), or any `Codec`. A codec
   * without a schema makes the Subscription typed too, with `data` unchecked.
   */
  codec?: Codec;
  /** The most messages one receive batch asks the driver for; batches are sized adaptively below it. Default 1000. */
  maxReceiveBatchSize?: number;
  /** Batching of acks and nacks. */
  ackBatching?: AckBatching;
  retry?: RetryOptions;
  /**
   * How long `shutdown()` without a signal (and `await using`) may take, in
   * ms. Past it, running handlers are no longer waited for, unsent acks are
   * dropped (the broker redelivers those messages), the driver is closed,
   * and shutdown resolves. A signal passed to `shutdown` replaces it.
   * Default 30,000.
   */
  shutdownTimeoutMs?: number;
  /** Tracing of received messages. */
  tracing?: SubscriptionTracing;
  /** Receives structured events: connection state changes, dead letters. Default: none. */
  logger?: Logger;
  /**
   * When a failed message (its handler threw, it was nacked, or its lease
   * was left to lapse) comes back: after a capped exponential backoff with
   * full jitter on its failures, never at once by default; and when it goes
   * to `deadLetter` instead; see `RedeliveryOptions`.
   */
  redelivery?: RedeliveryOptions;
  /**
   * Where a message goes after `redelivery.maxAttempts` failures, or when it
   * arrives past `redelivery.maxDeliveries` deliveries: a topic URL (opened
   * with the subscription and shut down with it) or an open Topic (left
   * open). A URL of the subscription's own scheme, opened through a URL mux,
   * is opened with the subscription's driver options (its `serverUrl`,
   * `connection`, `broker`); one of another scheme with none, so from the
   * environment. The message is sent with its body unchanged and its metadata plus
   * `deadletter.source`, `deadletter.attempts` (failures),
   * `deadletter.deliveries`, `deadletter.error` and `deadletter.time`; the
   * original is acked only after the broker confirmed that send.
   */
  deadLetter?: string | Topic;
  /**
   * How long the lease of a held message (in the receive buffer, in a
   * handler, or waiting out a redelivery delay) is extended, at most, in ms,
   * where the driver extends leases; after that the broker may deliver it
   * again. Default 3,600,000 (an hour).
   */
  maxExtensionMs?: number;
  /**
   * Runs each message id's handler once, through redeliveries and
   * duplicates: the ids of each received batch are claimed in `store`, with
   * a lease, before any handler sees them; a message is acked only after
   * its id was marked done; a failed one's claim is released, so its
   * redelivery runs again; a copy of an id that is done (within `windowMs`)
   * is acked without being handed out, and one whose id is being handled
   * elsewhere is delivered again later. With `receive()` and `for await`,
   * `ack()` marks done and `nack()` releases. See the README's "Delivery
   * guarantees". Default: none, at-least-once.
   */
  idempotency?: IdempotencyOptions;
}

/** Portable tracing options of a Subscription. */
export interface SubscriptionTracing {
  /**
   * Read the sender's trace context from each message's metadata, so that
   * `process` runs each handler in a span of the sender's trace. Default true.
   */
  propagate?: boolean;
  /** Leave the trace-context keys in `Message.metadata`. Default false: they are hidden. */
  keepContextMetadata?: boolean;
}

/** Options of `Subscription.process`. */
export interface ProcessOptions extends CallOptions {
  /** How many handlers run at once. Default 1. */
  concurrency?: number;
  /** Called with each error a handler throws (the message is then nacked, where the driver can). */
  onHandlerError?: (err: unknown, message: Message) => void;
}

/**
 * A Subscription receives messages from one subscription, queue or consumer
 * group. Receive with `receive()`, `for await (const m of sub)`, or
 * `process(handler)`; ack each message; shut it down once.
 */
export class Subscription<S extends StandardSchemaV1 | undefined = Untyped>
  extends DriverHandle<SubscriptionDriver>
  implements AsyncIterable<MessageOf<S>>
{
  readonly #retry: Required<RetryOptions>;
  readonly #receiveAbort = new AbortController();
  readonly #settlement: Settlement;
  readonly #handling = new Set<Promise<void>>();
  readonly #buffer: ReceiveBuffer;
  readonly #propagate: boolean;
  readonly #idempotency: IdempotentConsumer | undefined;

  constructor(driver: SubscriptionDriver, options: SubscriptionOptions = {}) {
    checkSubscriptionOptions(options);
    super(driver, "subscription", options);
    this.#retry = retryOptions(options.retry);
    this.#propagate = options.tracing?.propagate ?? true;
    this.#settlement = new Settlement(driver, options, {
      instruments: this.instruments,
      retry: this.#retry,
      isRetryable: this.isRetryable,
      wrap: (err, operation) => this.wrap(err, operation),
      track: (work) => this.#track(work),
    });
    const signal = this.#receiveAbort.signal;
    const settlement = this.#settlement;
    const idempotency = options.idempotency && this.#idempotent(options);
    this.#idempotency = idempotency;
    const sink = idempotency?.sink ?? settlement.sink;
    const { schema, codec } = options;
    const typed = schema || codec ? new TypedDecoder(codec ?? json(), schema) : undefined;
    const invalid = (message: DriverMessage, error: Error) => settlement.invalid(message, error);
    const admit = typed
      ? (arrived: DriverMessage[]) => typed.filter(settlement.admit(arrived), invalid)
      : (arrived: DriverMessage[]) => settlement.admit(arrived);
    this.#buffer = new ReceiveBuffer(
      {
        fetch: (max) =>
          this.instruments.receive(() =>
            withRetry(() => driver.receiveBatch(max, signal), this.isRetryable, this.#retry, signal, "receive"),
          ),
        admit: idempotency ? (arrived) => idempotency.admit(admit(arrived)) : admit,
        toMessage: typed ? (message) => typed.toMessage(message, sink) : (message) => new Message(message, sink),
        returnUnhanded: (messages) =>
          idempotency ? idempotency.returnUnhanded(messages) : settlement.returnUnhanded(messages),
        closed: () => this.closed,
        wrapFatal: (err) => this.wrap(err, "receive from"),
      },
      new ReceiveSizer(options.maxReceiveBatchSize ?? 1000),
    );
  }

  #idempotent(options: SubscriptionOptions): IdempotentConsumer {
    const settlement = this.#settlement;
    return new IdempotentConsumer(options.idempotency as IdempotencyOptions, options.ackBatching, {
      sink: settlement.sink,
      postpone: (message, delayMs) => settlement.postpone(message, delayMs),
      returnUnhanded: (messages) => settlement.returnUnhanded(messages),
      instruments: this.instruments,
      resource: this.driver.resource,
      logger: options.logger,
      retry: this.#retry,
      track: (work) => this.#track(work),
      closed: () => this.closed,
    });
  }

  /**
   * Resolves once the driver can do its work (see `Topic.ready`) and the
   * dead-letter topic, if given as a URL, is open.
   */
  override async ready(options?: CallOptions): Promise<void> {
    await super.ready(options);
    await raceSignal(this.#settlement.ready(), options?.signal, "open");
  }

  /**
   * Returns the next message, waiting for one. Rejects with FailedPrecondition
   * after shutdown, Canceled when `signal` fires, or the driver's error when
   * receiving has failed for good (a missing subscription: NotFound).
   */
  receive(options?: CallOptions): Promise<MessageOf<S>> {
    let signal: AbortSignal | undefined;
    try {
      signal = checkSignal(options, "receive");
      this.assertOpen("receive");
      if (this.#buffer.fatal) throw this.#buffer.fatal;
      if (signal?.aborted) throw canceledError("receive", signal);
    } catch (err) {
      return Promise.reject(err);
    }
    const next = this.#buffer.take();
    if (next) return Promise.resolve(next as MessageOf<S>);
    return this.#buffer.wait(signal) as Promise<MessageOf<S>>;
  }

  /**
   * Runs `handler` for each message, `concurrency` at a time: acks the message
   * when the handler resolves, nacks it when it throws (where the driver can
   * nack; otherwise the ack deadline brings it back), and goes on. Resolves
   * when the subscription is shut down (after the running handlers finish);
   * rejects with Canceled when `signal` fires, or with an error that receiving
   * cannot get past. The handler's second argument is a {@link ProcessContext}:
   * `ctx.tx` is the transaction of a transactional idempotency store.
   */
  async process(
    handler: (message: MessageOf<S>, ctx: ProcessContext) => unknown,
    options: ProcessOptions = {},
  ): Promise<void> {
    if (typeof handler !== "function") {
      throw invalidArgument(`process: the handler must be a function, got ${typeof handler}`);
    }
    checkProcessOptions(options);
    const { concurrency = 1, signal, onHandlerError } = options;
    this.assertOpen("process");
    const idempotency = this.#idempotency;
    const call = idempotency
      ? (message: MessageOf<S>) => idempotency.run(handler as (m: Message, ctx: ProcessContext) => unknown, message)
      : (message: MessageOf<S>) => handler(message, NO_TRANSACTION);
    const worker = async () => {
      let turnStarted = performance.now();
      for (let n = 1; ; n++) {
        if (signal?.aborted) throw canceledError("process", signal);
        // Handlers that settle at once, on messages that are already here, run in microtasks only:
        // let timers and I/O in every few ms, or a message failing in a loop would freeze the process.
        if (n % YIELD_CHECK_EVERY === 0 && performance.now() - turnStarted > MAX_TURN_MS) {
          await new Promise(setImmediate);
          turnStarted = performance.now();
        }
        // Take from the buffer without a promise when we can: the per-message cost dominates fast drivers.
        let message = this.#buffer.fatal ? undefined : this.#buffer.take();
        if (!message) {
          try {
            message = (await this.receive({ signal })) as Message;
          } catch (err) {
            if (this.closed && !signal?.aborted) return;
            throw err;
          }
        }
        let result: unknown;
        try {
          result = this.instruments.recording
            ? this.#processTraced(call, message as MessageOf<S>)
            : call(message as MessageOf<S>);
        } catch (err) {
          this.#handlerFailed(err, message, onHandlerError);
          continue;
        }
        if (!isPromiseLike(result)) {
          message.ack();
          continue;
        }
        const handled = this.#settleAsync(result, message, onHandlerError);
        this.#handling.add(handled);
        await handled;
        this.#handling.delete(handled);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  /** Runs `handler` in a `process` span whose parent is the context the message carries. */
  #processTraced(handler: (message: MessageOf<S>) => unknown, message: MessageOf<S>): unknown {
    const source = sourceOf(message);
    const parent = this.#propagate ? extractFrom(source.metadata) : ROOT_CONTEXT;
    return this.instruments.process(source, parent, () => handler(message));
  }

  async #settleAsync(
    result: PromiseLike<unknown>,
    message: Message,
    onHandlerError: ProcessOptions["onHandlerError"],
  ): Promise<void> {
    try {
      await result;
      message.ack();
    } catch (err) {
      this.#handlerFailed(err, message, onHandlerError);
    }
  }

  #handlerFailed(err: unknown, message: Message, onHandlerError: ProcessOptions["onHandlerError"]): void {
    try {
      onHandlerError?.(err, message);
    } catch {
      // The error hook's own failure must not stop processing.
    }
    failMessage(message, err);
  }

  /** Yields each message as `receive` returns it; the loop ends cleanly when the subscription shuts down. */
  [Symbol.asyncIterator](): AsyncIterator<MessageOf<S>> {
    const done = (err: unknown): IteratorResult<MessageOf<S>> => {
      if (this.closed) return { value: undefined, done: true };
      throw err;
    };
    return {
      next: () => {
        // A message already buffered is handed out without an async function's promises: on a fast
        // driver those were a good part of the cost per message.
        const ready = this.closed || this.#buffer.fatal ? undefined : this.#buffer.take();
        if (ready) return Promise.resolve({ value: ready as MessageOf<S>, done: false });
        return this.receive().then((value) => ({ value, done: false }), done);
      },
      // Leaving a for-await loop early leaves the subscription open: shut it down explicitly.
      return: async () => ({ value: undefined, done: true }),
    };
  }

  /**
   * Stops receiving, ends iteration and `process` (after their running
   * handlers), nacks messages fetched but not handed out, sends pending acks
   * and nacks, then releases the driver. Returns only after all that, or when
   * `signal` fires, in which case what is unsent is dropped (the broker
   * redelivers it) and the driver is closed all the same. Without a signal,
   * it is bounded by `shutdownTimeoutMs` (default 30 s) the same way, and
   * then resolves. Rejects with the first ack error, if sending acks failed.
   * Calling it again returns the first call's promise.
   */
  override shutdown(options?: CallOptions): Promise<void> {
    return super.shutdown(options);
  }

  protected async doShutdown(signal: AbortSignal): Promise<void> {
    this.markClosed();
    this.#receiveAbort.abort();
    const unhanded = this.#buffer.close(
      () => new PubSubError(ErrorCode.FailedPrecondition, "receive: the subscription was shut down"),
    );
    this.#settlement.returnUnhanded(unhanded);
    try {
      // A fetch the abort caught mid-way (a claim already made) gives its messages back before the driver closes.
      await raceSignal(Promise.all([...this.#handling, this.#buffer.fetched()]), signal, "shutdown");
      // Done-marks before acks: a handled message's ack waits for its id's done-mark.
      if (this.#idempotency) await raceSignal(this.#idempotency.flush(), signal, "shutdown");
      await raceSignal(this.#settlement.flush(), signal, "shutdown");
    } catch {
      this.#settlement.abort();
    }
    this.#idempotency?.stop();
    await this.#settlement.release(signal);
    await this.closeDriver(signal);
    if (signal.aborted) throw canceledError("shutdown", signal);
    const ackError = this.#settlement.error;
    if (ackError) throw ackError;
  }

  /** Shutdown waits for `work` (a running handler, a dead-letter send). */
  #track(work: Promise<void>): void {
    this.#handling.add(work);
    work.finally(() => this.#handling.delete(work)).catch(() => {});
  }
}

/** How long a `process` worker may keep the event loop before it lets timers and I/O run, and how often it checks. */
const MAX_TURN_MS = 4;
const YIELD_CHECK_EVERY = 32;

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}
