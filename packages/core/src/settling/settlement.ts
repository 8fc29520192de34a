import { Batcher, type BatcherOptions, batcherOptions } from "../driver/batcher.js";
import type { DriverMessage, Redelivery, SubscriptionDriver } from "../driver/driver.js";
import { type RetryOptions, withRetry } from "../driver/retry.js";
import type { PubSubError } from "../errors.js";
import type { AckSink } from "../message.js";
import type { Instruments } from "../telemetry/instruments.js";
import { type Logger, writeLog } from "../telemetry/logger.js";
import type { Topic } from "../topic.js";
import { DEAD_LETTER_OPENER, type DeadLetterOpener, deadLetterSource } from "./dead-letter.js";
import { DEFAULT_MAX_EXTENSION_MS, LeaseKeeper } from "./lease-keeper.js";
import { FailureRouter, type RedeliveryOptions } from "./redelivery.js";

const ACK_DEFAULTS: BatcherOptions = {
  maxItems: 1000,
  maxBytes: Number.POSITIVE_INFINITY,
  maxConcurrency: 4,
  lingerMs: 0,
};

/**
 * Batching of a Subscription's acks and nacks (and of `redeliver` calls, where
 * the driver has it): each kind goes in batches of its own, with these
 * limits, each further capped by the driver's own (`ackBatchLimits`).
 */
export interface AckBatching {
  /** Most acks (or nacks) in one batch. Default 1000. */
  maxBatchSize?: number;
  /** Most batches of one kind in flight at once. Default 4. */
  maxConcurrentBatches?: number;
  /** How long a batch that is not full may wait for more, in ms. Default 0: the end of the current tick. */
  lingerMs?: number;
  /**
   * Not used: an ack carries no body, so no ack batch is limited by bytes.
   * Accepted so that options written as a `SendBatching` still type-check.
   *
   * @deprecated Has no effect on acks; leave it out.
   */
  maxBatchBytes?: number;
}

/** The options of a Subscription that settling messages reads. */
export interface SettlementOptions {
  ackBatching?: AckBatching;
  redelivery?: RedeliveryOptions;
  deadLetter?: string | Topic;
  maxExtensionMs?: number;
  logger?: Logger;
  tracing?: { keepContextMetadata?: boolean };
}

/** What a Settlement borrows from its host, the Subscription that owns it. */
export interface SettlementHost {
  readonly instruments: Instruments;
  readonly retry: Required<RetryOptions>;
  isRetryable(err: unknown): boolean;
  wrap(err: unknown, operation: string): PubSubError;
  /** Work that shutdown must wait for. */
  track(work: Promise<void>): void;
}

/**
 * Everything that happens to a message after it arrived, for one
 * Subscription: its lease kept while it is held, its ack or nack batched to
 * the driver, and, when it failed, its redelivery or dead letter. Messages
 * reach it through `sink`.
 */
export class Settlement {
  /** Where each Message's ack, nack or failure goes. */
  readonly sink: AckSink;
  readonly #driver: SubscriptionDriver;
  readonly #host: SettlementHost;
  readonly #acks: Batcher<unknown>;
  readonly #nacks: Batcher<unknown>;
  readonly #redeliverBatches: Batcher<Redelivery> | undefined;
  /** `releaseFailed` calls, for drivers that cannot nack but have it. */
  readonly #releases: Batcher<unknown> | undefined;
  readonly #abort = new AbortController();
  readonly #leases: LeaseKeeper | undefined;
  readonly #failureRouter: FailureRouter;
  readonly #logger: Logger | undefined;
  #error: PubSubError | undefined;
  #released = false;

  constructor(driver: SubscriptionDriver, options: SettlementOptions, host: SettlementHost) {
    this.#driver = driver;
    this.#host = host;
    this.#logger = options.logger;
    const batching = batcherOptions(options.ackBatching, driver.ackBatchLimits, ACK_DEFAULTS);
    const onError = (err: unknown) => {
      this.#error ??= host.wrap(err, "ack");
    };
    this.#acks = new Batcher((ids) => this.#sendAckBatch(ids, "ack"), batching, undefined, onError);
    this.#nacks = new Batcher((ids) => this.#sendAckBatch(ids, "nack"), batching, undefined, onError);
    this.#releases =
      !driver.canNack && driver.releaseFailed
        ? new Batcher((ids) => this.#sendAckBatch(ids, "release"), batching, undefined, onError)
        : undefined;
    this.#redeliverBatches = driver.redeliver
      ? new Batcher((items) => this.#sendRedeliveries(items), batching, undefined, onError)
      : undefined;
    this.#leases = LeaseKeeper.for(driver, options.maxExtensionMs ?? DEFAULT_MAX_EXTENSION_MS, this.#abort.signal, {
      onError: (err) => this.#warn("pubsub.lease_failed", host.wrap(err, "extend leases of").message),
      onLapse: (message) => this.#failureRouter.lapsed(message),
    });
    this.#failureRouter = new FailureRouter(
      driver,
      {
        redelivery: options.redelivery,
        deadLetter: options.deadLetter,
        logger: options.logger,
        opener: (options as { [DEAD_LETTER_OPENER]?: DeadLetterOpener })[DEAD_LETTER_OPENER],
        source: deadLetterSource(options, driver),
      },
      {
        ack: (id) => this.#acks.addNoWait(id),
        nack: (id) => this.#nacks.addNoWait(id),
        releaseFailed: (id) => this.#releases?.addNoWait(id),
        redeliver: (item) => this.#redeliverBatches?.addNoWait(item),
        release: (message) => this.#leases?.release(message),
        track: (work) => host.track(work),
        abort: this.#abort.signal,
      },
    );
    const instruments = host.instruments;
    const keepContextMetadata = options.tracing?.keepContextMetadata ?? false;
    this.sink = {
      canNack: driver.canNack,
      get contextKeys() {
        return keepContextMetadata ? [] : instruments.contextKeys;
      },
      ack: (message) => {
        if (this.#released) return;
        this.#leases?.release(message);
        this.#failureRouter.settled(message);
        this.#acks.addNoWait(message.ackId);
      },
      fail: (message, error, delayMs) => {
        if (!this.#released) this.#failureRouter.fail(message, error, delayMs);
      },
    };
  }

  /** Resolves once the dead-letter topic, if given as a URL, is open. */
  ready(): Promise<void> {
    return this.#failureRouter.ready();
  }

  /** The first error sending acks met, if any. */
  get error(): PubSubError | undefined {
    return this.#error;
  }

  /** Starts keeping the leases of arrived messages; dead-letters those that arrive spent and leaves them out. */
  admit(messages: DriverMessage[]): DriverMessage[] {
    const leases = this.#leases;
    if (leases) {
      const now = Date.now();
      for (const message of messages) leases.hold(message, now);
    }
    const redeliveries = this.#failureRouter;
    let admitted: DriverMessage[] | undefined;
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i] as DriverMessage;
      const spent = redeliveries.spentOnArrival(message);
      if (spent) {
        admitted ??= messages.slice(0, i);
        redeliveries.deadLetterArrived(message, spent);
      } else admitted?.push(message);
    }
    return admitted ?? messages;
  }

  /**
   * Settles an arrived message that is invalid (see `InvalidMessageError`):
   * logs `pubsub.invalid_message`, then dead-letters it at once, or, without
   * a dead-letter topic, has it delivered again under the redelivery policy.
   */
  invalid(message: DriverMessage, error: Error): void {
    const id = message.loggableId ?? "";
    const deadLetter = this.#failureRouter.hasDeadLetter;
    this.#warn(
      "pubsub.invalid_message",
      `${this.#driver.resource}: message ${id} is invalid, ${deadLetter ? "dead-lettered" : "kept for redelivery (set deadLetter to move such messages aside)"}: ${error.message}`,
      { messageId: id, error: error.message, deadLettered: deadLetter },
    );
    if (!this.#released) this.#failureRouter.invalid(message, error);
  }

  /** Has `message` delivered again after `delayMs` without counting a failure (see `FailureRouter.postpone`). */
  postpone(message: DriverMessage, delayMs: number): void {
    if (!this.#released) this.#failureRouter.postpone(message, delayMs);
  }

  /** Hands back at once, where the driver can nack, messages fetched but never handed out. */
  returnUnhanded(messages: DriverMessage[]): void {
    for (const message of messages) this.#leases?.release(message);
    if (!this.#driver.canNack) return;
    for (const message of messages) this.#nacks.addNoWait(message.ackId);
  }

  /** Hands back what waits out a delay, then sends every pending ack, nack and redelivery. */
  async flush(): Promise<void> {
    this.#failureRouter.releaseHeld();
    await Promise.all([
      this.#acks.flush(),
      this.#nacks.flush(),
      this.#redeliverBatches?.flush(),
      this.#releases?.flush(),
    ]);
  }

  /** Aborts what is being sent (a shutdown past its deadline): the broker redelivers those messages. */
  abort(): void {
    this.#abort.abort();
  }

  /** Stops settling for good: later acks are ignored, held messages forgotten, the dead-letter topic shut down. */
  async release(signal: AbortSignal): Promise<void> {
    this.#released = true;
    this.#failureRouter.dropHeld();
    this.#leases?.stop();
    await this.#failureRouter.shutdown(signal).catch(() => {});
  }

  /** Sends one batch of acks, nacks or (drivers that cannot nack) releases of failed messages, with retries. */
  #sendAckBatch(ids: unknown[], kind: "ack" | "nack" | "release"): Promise<void> {
    const driver = this.#driver;
    const signal = this.#abort.signal;
    const attempt =
      kind === "ack"
        ? () => driver.sendAcks(ids, signal)
        : kind === "nack"
          ? () => driver.sendNacks(ids, signal)
          : () => (driver.releaseFailed as NonNullable<SubscriptionDriver["releaseFailed"]>)(ids, signal);
    const { instruments, isRetryable, retry } = this.#host;
    // A release ends a failed delivery as a nack does: it is counted as one.
    const operation = kind === "ack" ? "ack" : "nack";
    return instruments.settle(kind !== "ack", () => withRetry(attempt, isRetryable, retry, signal, operation));
  }

  /**
   * Sends redeliveries to the driver. If that fails for good (a delay queue
   * declared with other arguments, a permission missing), the messages are
   * nacked at once instead: held unacked, they would block a prefetch window.
   */
  async #sendRedeliveries(items: Redelivery[]): Promise<void> {
    const driver = this.#driver as Required<Pick<SubscriptionDriver, "redeliver">>;
    const signal = this.#abort.signal;
    const { instruments, isRetryable, retry } = this.#host;
    try {
      await instruments.settle(true, () =>
        withRetry(() => driver.redeliver(items, signal), isRetryable, retry, signal, "nack"),
      );
    } catch (err) {
      if (signal.aborted) throw err;
      const error = this.#host.wrap(err, "redeliver").message;
      this.#warn("pubsub.redeliver_failed", `${error}; ${items.length} messages returned at once instead`, {
        count: items.length,
        error,
      });
      for (const item of items) this.#nacks.addNoWait(item.ackId);
    }
  }

  #warn(event: string, message: string, fields: Record<string, unknown> = { error: message }): void {
    writeLog(this.#logger, "warn", { event, resource: this.#driver.resource, message, ...fields });
  }
}
