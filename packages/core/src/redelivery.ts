import { type DeadLetterOpener, DeadLetterTarget, deadLetterMetadata } from "./dead-letter.js";
import type { DriverMessage, Redelivery, SubscriptionDriver } from "./driver/driver.js";
import { redactUrl } from "./errors.js";
import { backoffDelay } from "./retry.js";
import type { Logger } from "./telemetry/logger.js";
import { writeLog } from "./telemetry/logger.js";
import type { Topic } from "./topic.js";

/** When a failed message comes back: a Subscription's `redelivery` option. */
export interface RedeliveryOptions {
  /** The first redelivery's delay is a uniform random time up to this, in ms. Default 100. */
  initialDelayMs?: number;
  /** The cap on any redelivery delay, in ms. Default 60,000. */
  maxDelayMs?: number;
  /**
   * How many deliveries a message gets: one that failed this many times is
   * sent to `deadLetter` (which it then requires) and acked. Default:
   * unlimited.
   */
  maxAttempts?: number;
}

const DEFAULTS: Required<RedeliveryOptions> = {
  initialDelayMs: 100,
  maxDelayMs: 60_000,
  maxAttempts: Number.POSITIVE_INFINITY,
};

/**
 * The delay before a message that failed on delivery `attempt` (1 for the
 * first) comes back: capped exponential backoff with full jitter, a uniform
 * random time in [0, min(maxDelayMs, initialDelayMs·2^(attempt−1))].
 */
export function redeliveryDelay(attempt: number, policy: Required<RedeliveryOptions>): number {
  return backoffDelay(Math.max(attempt, 1) - 1, policy.initialDelayMs, policy.maxDelayMs);
}

/** What Redeliveries needs from its Subscription. */
export interface SettlePorts {
  /** Queues an ack. */
  ack(ackId: unknown): void;
  /** Queues a nack (at once). */
  nack(ackId: unknown): void;
  /** Queues a `redeliver` call (drivers that have it). */
  redeliver(redelivery: Redelivery): void;
  /** Stops extending the message's lease. */
  release(ackId: unknown): void;
  /** Work that shutdown must wait for (dead-letter sends). */
  track(work: Promise<void>): void;
  /** The signal that aborts in-flight work when shutdown gives up. */
  readonly abort: AbortSignal;
}

/**
 * What happens to a message that failed (its handler threw, or the
 * application nacked it): redelivered after a delay, by the driver where it
 * can delay (`redeliver`), else held here and nacked when the delay has
 * passed; or, after `maxAttempts`, sent to the dead-letter topic and acked
 * once that send was confirmed. Where the driver cannot nack at all, a
 * failed message is left to its ack deadline.
 */
export class Redeliveries {
  readonly #driver: SubscriptionDriver;
  readonly #policy: Required<RedeliveryOptions>;
  readonly #deadLetter: DeadLetterTarget | undefined;
  readonly #ports: SettlePorts;
  readonly #logger: Logger | undefined;
  /** What `deadletter.source` says: the subscription's URL. */
  readonly #source: string;
  /** Messages held here for their delay (drivers without `redeliver`): ackId → timer. */
  readonly #held = new Map<unknown, NodeJS.Timeout>();

  constructor(
    driver: SubscriptionDriver,
    options: {
      redelivery?: RedeliveryOptions;
      deadLetter?: string | Topic;
      logger?: Logger;
      opener?: DeadLetterOpener;
      /** What `deadletter.source` says; default: the driver's resource. */
      source?: string;
    },
    ports: SettlePorts,
  ) {
    this.#driver = driver;
    this.#policy = {
      initialDelayMs: options.redelivery?.initialDelayMs ?? DEFAULTS.initialDelayMs,
      maxDelayMs: options.redelivery?.maxDelayMs ?? DEFAULTS.maxDelayMs,
      maxAttempts: options.redelivery?.maxAttempts ?? DEFAULTS.maxAttempts,
    };
    this.#deadLetter =
      options.deadLetter === undefined ? undefined : new DeadLetterTarget(options.deadLetter, options.opener);
    this.#ports = ports;
    this.#logger = options.logger;
    this.#source = options.source ?? driver.resource;
  }

  /** Resolves once the dead-letter topic, if any, is open. */
  async ready(): Promise<void> {
    await this.#deadLetter?.ready();
  }

  /**
   * True if `message` arrived after its last attempt (a process that
   * crashed in its handler, a dead-letter send that failed): it is then
   * dead-lettered without running a handler again.
   */
  pastLastAttempt(message: DriverMessage): boolean {
    const attempt = message.deliveryAttempt;
    return attempt !== undefined && attempt > this.#policy.maxAttempts;
  }

  /** Dead-letters a message that arrived past its last attempt. */
  deadLetterArrived(message: DriverMessage): void {
    this.#toDeadLetter(message, message.deliveryAttempt ?? 1, new Error("delivered after its last attempt"));
  }

  /**
   * Handles a failed message. `delayMs` is the application's (`nack({ delayMs })`);
   * undefined follows the policy.
   */
  fail(message: DriverMessage, error: unknown, delayMs: number | undefined): void {
    const attempt = message.deliveryAttempt ?? 1;
    if (this.#deadLetter && attempt >= this.#policy.maxAttempts) {
      this.#toDeadLetter(message, attempt, error);
      return;
    }
    this.#redeliverAfter(message, delayMs ?? redeliveryDelay(attempt, this.#policy));
  }

  #redeliverAfter(message: DriverMessage, delayMs: number): void {
    const ackId = message.ackId;
    const driver = this.#driver;
    if (!driver.canNack) {
      // Without a nack, the ack deadline brings it back: stop extending its lease.
      this.#ports.release(ackId);
    } else if (driver.redeliver) {
      this.#ports.release(ackId);
      this.#ports.redeliver({ ackId, delayMs, message });
    } else if (delayMs === 0) {
      this.#ports.release(ackId);
      this.#ports.nack(ackId);
    } else {
      const timer = setTimeout(() => {
        this.#held.delete(ackId);
        this.#ports.release(ackId);
        this.#ports.nack(ackId);
      }, delayMs);
      this.#held.set(ackId, timer);
    }
  }

  #toDeadLetter(message: DriverMessage, attempt: number, error: unknown): void {
    const target = this.#deadLetter as DeadLetterTarget;
    const resource = this.#driver.resource;
    const metadata = deadLetterMetadata(message.metadata, this.#source, attempt, error, new Date());
    const id = message.loggableId ?? "";
    const work = target.send({ body: message.body, metadata }, this.#ports.abort).then(
      () => {
        this.#ports.release(message.ackId);
        this.#ports.ack(message.ackId);
        writeLog(this.#logger, "warn", {
          event: "pubsub.deadletter",
          resource,
          message: `${resource}: message ${id} sent to the dead-letter topic after ${attempt} attempts`,
          messageId: id,
          attempts: attempt,
          error: metadata["deadletter.error"],
        });
      },
      (err: unknown) => {
        if (this.#ports.abort.aborted) return; // Shutting down: the broker delivers it again.
        const reason = redactUrl(err instanceof Error ? err.message : String(err));
        writeLog(this.#logger, "error", {
          event: "pubsub.deadletter_failed",
          resource,
          message: `${resource}: message ${id} could not be dead-lettered, it will be delivered again (${reason})`,
          messageId: id,
          attempts: attempt,
          error: reason,
        });
        // Not acked, so not lost: it comes back, past its last attempt, and is dead-lettered again. After
        // maxDelayMs, without jitter: a target that refuses every send (a misconfiguration) then costs one
        // delivery per maxDelayMs, and a driver that parks delayed messages in per-delay queues uses one.
        this.#redeliverAfter(message, this.#policy.maxDelayMs);
      },
    );
    this.#ports.track(work);
  }

  /** Hands back at once what is held for a delay, so another consumer can have it. */
  releaseHeld(): void {
    for (const [ackId, timer] of this.#held) {
      clearTimeout(timer);
      this.#ports.release(ackId);
      this.#ports.nack(ackId);
    }
    this.#held.clear();
  }

  /** Forgets what is held without handing it back (a shutdown past its deadline): the broker redelivers it. */
  dropHeld(): void {
    for (const timer of this.#held.values()) clearTimeout(timer);
    this.#held.clear();
  }

  /** Shuts the dead-letter topic down, if the subscription opened it. */
  async shutdown(signal: AbortSignal): Promise<void> {
    await this.#deadLetter?.shutdown(signal);
  }
}
