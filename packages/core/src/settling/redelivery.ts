import type { DriverMessage, Redelivery, SubscriptionDriver } from "../driver/driver.js";
import { backoffDelay } from "../driver/retry.js";
import { redactUrl } from "../errors.js";
import { sendableMessageId } from "../message-id.js";
import type { Logger } from "../telemetry/logger.js";
import { writeLog } from "../telemetry/logger.js";
import type { Topic } from "../topic.js";
import { type DeadLetterOpener, DeadLetterTarget, deadLetterMetadata } from "./dead-letter.js";
import { FailureCounts } from "./failure-counts.js";

/** When a failed message comes back: a Subscription's `redelivery` option. */
export interface RedeliveryOptions {
  /** The first redelivery's delay is a uniform random time up to this, in ms. Default 100. */
  initialDelayMs?: number;
  /** The cap on any redelivery delay, in ms. Default 60,000. */
  maxDelayMs?: number;
  /**
   * How many times a message may fail: one that failed this many times (its
   * handler threw, it was nacked, or its lease was left to lapse past
   * `maxExtensionMs`) is sent to `deadLetter` (which it then requires) and
   * acked. Deliveries handed back unprocessed (at shutdown) are not
   * failures. Default: unlimited.
   */
  maxAttempts?: number;
  /**
   * How many deliveries a message may have, whatever ended them: one that
   * arrives for a later delivery is sent to `deadLetter` (which it then
   * requires) without running its handler. It ends crash loops, where a
   * message kills the process in its handler and so never fails as such;
   * it counts what the driver's `deliveryAttempt` counts (see each driver's
   * README for how far that survives). Must be at least `maxAttempts`.
   * Default: `maxAttempts + 20` when `maxAttempts` is finite (so a message
   * held through many graceful restarts does not reach it), else unlimited.
   */
  maxDeliveries?: number;
}

/** How many deliveries beyond `maxAttempts` the default `maxDeliveries` allows: hand-backs at restarts. */
export const SPARE_DELIVERIES = 20;

type Policy = Required<RedeliveryOptions>;

/** The policy `options` give, with the defaults filled in. */
export function redeliveryPolicy(options: RedeliveryOptions | undefined): Policy {
  const maxAttempts = options?.maxAttempts ?? Number.POSITIVE_INFINITY;
  return {
    initialDelayMs: options?.initialDelayMs ?? 100,
    maxDelayMs: options?.maxDelayMs ?? 60_000,
    maxAttempts,
    maxDeliveries: options?.maxDeliveries ?? maxAttempts + SPARE_DELIVERIES,
  };
}

/**
 * The delay before a message that failed for the `failures`th time (1 for
 * the first) comes back: capped exponential backoff with full jitter, a
 * uniform random time in [0, min(maxDelayMs, initialDelayMs·2^(failures−1))].
 */
export function redeliveryDelay(failures: number, policy: Pick<Policy, "initialDelayMs" | "maxDelayMs">): number {
  return backoffDelay(Math.max(failures, 1) - 1, policy.initialDelayMs, policy.maxDelayMs);
}

/** What a FailureRouter borrows from its host, the Settlement that owns it (as a Settlement borrows its {@link SettlementHost} from its Subscription). */
export interface FailureRouterHost {
  /** Queues an ack. */
  ack(ackId: unknown): void;
  /** Queues a nack (at once). */
  nack(ackId: unknown): void;
  /** Queues a `releaseFailed` call (drivers that cannot nack but have it). */
  releaseFailed(ackId: unknown): void;
  /** Queues a `redeliver` call (drivers that have it). */
  redeliver(redelivery: Redelivery): void;
  /** Stops extending the message's lease. */
  release(message: DriverMessage): void;
  /** Work that shutdown must wait for (dead-letter sends). */
  track(work: Promise<void>): void;
  /** The signal that aborts in-flight work when shutdown gives up. */
  readonly abort: AbortSignal;
}

/**
 * What happens to a message that failed (its handler threw, the application
 * nacked it, or its lease was left to lapse): redelivered after a delay, by
 * the driver where it can delay (`redeliver`), else held here and nacked
 * when the delay has passed; or, once it has failed `maxAttempts` times,
 * sent to the dead-letter topic and acked once that send was confirmed.
 * Where the driver cannot nack, a failed message is held for its delay the
 * same way and then given to the driver's `releaseFailed`, or, without one,
 * left to its ack deadline. Failures are the driver's count (`failedAttempts`) where it
 * keeps one, else this process's, by `loggableId`.
 */
export class FailureRouter {
  readonly #driver: SubscriptionDriver;
  readonly #policy: Policy;
  readonly #deadLetter: DeadLetterTarget | undefined;
  readonly #host: FailureRouterHost;
  readonly #logger: Logger | undefined;
  /** What `deadletter.source` says: the subscription's URL. */
  readonly #source: string;
  readonly #failures = new FailureCounts();
  /** Messages held here for their delay (drivers without `redeliver`), with their timers. */
  readonly #held = new Map<DriverMessage, NodeJS.Timeout>();

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
    host: FailureRouterHost,
  ) {
    this.#driver = driver;
    this.#policy = redeliveryPolicy(options.redelivery);
    this.#deadLetter =
      options.deadLetter === undefined ? undefined : new DeadLetterTarget(options.deadLetter, options.opener);
    this.#host = host;
    this.#logger = options.logger;
    this.#source = options.source ?? driver.resource;
  }

  /** True when there is a dead-letter topic. */
  get hasDeadLetter(): boolean {
    return this.#deadLetter !== undefined;
  }

  /** Resolves once the dead-letter topic, if any, is open. */
  async ready(): Promise<void> {
    await this.#deadLetter?.ready();
  }

  /**
   * Why `message` must be dead-lettered as it arrives, without running a
   * handler again, or undefined: it failed `maxAttempts` times already (an
   * earlier dead-letter send failed), or it was delivered more than
   * `maxDeliveries` times (a process that died in its handler, again and
   * again).
   */
  spentOnArrival(message: DriverMessage): Error | undefined {
    if (!this.#deadLetter) return undefined;
    const failures = this.#failures.of(message);
    if (failures >= this.#policy.maxAttempts) {
      return new Error(`failed ${failures} times, and its dead-letter send had not succeeded`);
    }
    const deliveries = message.deliveryAttempt;
    if (deliveries !== undefined && deliveries > this.#policy.maxDeliveries) {
      return new Error(
        `delivered ${deliveries} times without an ack or a failure, past redelivery.maxDeliveries (${this.#policy.maxDeliveries}): did the process die in its handler?`,
      );
    }
    return undefined;
  }

  /** Dead-letters a message that arrived spent, with the reason `spentOnArrival` gave. */
  deadLetterArrived(message: DriverMessage, reason: Error): void {
    this.#toDeadLetter(message, this.#failures.of(message), reason);
  }

  /**
   * Handles a failed message. `delayMs` is the application's (`nack({ delayMs })`);
   * undefined follows the policy.
   */
  fail(message: DriverMessage, error: unknown, delayMs: number | undefined): void {
    const failures = this.#failures.add(message);
    if (this.#deadLetter && failures >= this.#policy.maxAttempts) {
      this.#toDeadLetter(message, failures, error);
      return;
    }
    this.#redeliverAfter(message, delayMs ?? redeliveryDelay(failures, this.#policy));
  }

  /**
   * Handles a message that can never be handled (undecodable, or failing
   * the schema): dead-lettered at once, without retries, where there is a
   * dead-letter topic; otherwise delivered again under the policy, so that
   * it is never lost (a fixed codec or schema may read it).
   */
  invalid(message: DriverMessage, error: Error): void {
    const failures = this.#failures.add(message);
    if (this.#deadLetter) this.#toDeadLetter(message, failures, error);
    else this.#redeliverAfter(message, redeliveryDelay(failures, this.#policy));
  }

  /**
   * Has a message that did not fail delivered again after `delayMs`, without
   * counting a failure: a duplicate whose id another consumer is handling.
   */
  postpone(message: DriverMessage, delayMs: number): void {
    this.#redeliverAfter(message, delayMs);
  }

  /** Counts a failure of a message whose lease was left to lapse: the broker delivers it again. */
  lapsed(message: DriverMessage): void {
    this.#failures.add(message);
  }

  /** Forgets the failures counted for `message`: it was acked. */
  settled(message: DriverMessage): void {
    this.#failures.forget(message);
  }

  #redeliverAfter(message: DriverMessage, delayMs: number): void {
    const ackId = message.ackId;
    const driver = this.#driver;
    if (!driver.canNack && !driver.releaseFailed) {
      // Without a nack, the ack deadline brings it back: stop extending its lease.
      this.#host.release(message);
    } else if (driver.canNack && driver.redeliver) {
      this.#host.release(message);
      this.#host.redeliver({ ackId, delayMs, message });
    } else if (delayMs === 0) {
      this.#handBack(message);
    } else {
      const timer = setTimeout(() => {
        this.#held.delete(message);
        this.#handBack(message);
      }, delayMs);
      this.#held.set(message, timer);
    }
  }

  /** Ends this process's hold on a failed message: nacks it, or, where the driver cannot nack, releases it. */
  #handBack(message: DriverMessage): void {
    this.#host.release(message);
    if (this.#driver.canNack) this.#host.nack(message.ackId);
    else this.#host.releaseFailed(message.ackId);
  }

  #toDeadLetter(message: DriverMessage, failures: number, error: unknown): void {
    const target = this.#deadLetter as DeadLetterTarget;
    const resource = this.#driver.resource;
    const deliveries = message.deliveryAttempt;
    const metadata = deadLetterMetadata(message.metadata, this.#source, failures, error, new Date(), deliveries);
    const id = message.loggableId ?? "";
    const work = target
      .send({ id: sendableMessageId(message.id), body: message.body, metadata }, this.#host.abort)
      .then(
        () => {
          this.#failures.forget(message);
          this.#host.release(message);
          this.#host.ack(message.ackId);
          writeLog(this.#logger, "warn", {
            event: "pubsub.deadletter",
            resource,
            message: `${resource}: message ${id} sent to the dead-letter topic after ${failures} failed attempts${deliveries === undefined ? "" : ` in ${deliveries} deliveries`}`,
            messageId: id,
            attempts: failures,
            deliveries,
            error: metadata["deadletter.error"],
          });
        },
        (err: unknown) => {
          if (this.#host.abort.aborted) return; // Shutting down: the broker delivers it again.
          const reason = redactUrl(err instanceof Error ? err.message : String(err));
          writeLog(this.#logger, "error", {
            event: "pubsub.deadletter_failed",
            resource,
            message: `${resource}: message ${id} could not be dead-lettered, it will be delivered again (${reason})`,
            messageId: id,
            attempts: failures,
            deliveries,
            error: reason,
          });
          // Not acked, so not lost: it comes back, spent, and is dead-lettered again. After maxDelayMs, without
          // jitter: a target that refuses every send (a misconfiguration) then costs one delivery per maxDelayMs,
          // and a driver that parks delayed messages in per-delay queues uses one.
          this.#redeliverAfter(message, this.#policy.maxDelayMs);
        },
      );
    this.#host.track(work);
  }

  /** Hands back at once what is held for a delay, so another consumer can have it. */
  releaseHeld(): void {
    for (const [message, timer] of this.#held) {
      clearTimeout(timer);
      this.#handBack(message);
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
