import {
  type DriverMessage,
  type DriverTelemetry,
  MAX_TIMER_MS,
  param,
  parseOptions,
  type Redelivery,
  resourceUrl,
  Subscription,
  type SubscriptionDriver,
  type SubscriptionOptions,
} from "@portable-pubsub/core/driver";
import { z } from "zod";
import { defaultMemBroker, MEM_SYSTEM, MemBroker, type SubscriptionState } from "./broker.js";
import type { DeliveryRef } from "./out-for-delivery.js";
import type { StoredMessage } from "./stored.js";

/** The driver's own options of {@link openMemSubscription}; the portable ones are checked by Subscription. */
const subscriptionSettings = z.object({
  broker: z.instanceof(MemBroker).optional(),
  subscription: param.name().optional(),
  ackDeadlineMs: param.duration({ maxMs: MAX_TIMER_MS }).optional(),
  mustExist: z.boolean().optional(),
  maxWaitMs: param.duration({ maxMs: MAX_TIMER_MS }).optional(),
});

/** Options of {@link openMemSubscription}. */
export interface MemSubscriptionOptions extends SubscriptionOptions {
  /** The broker; default: the one behind `mem://` URLs. */
  broker?: MemBroker;
  /**
   * Join this named subscription, whose consumers compete for its messages;
   * it is created if missing. Without it, a fresh subscription receives
   * every message sent after it opened, and disappears at shutdown.
   */
  subscription?: string;
  /** A message not acked this long after delivery is delivered again. Default 30000 ms; at most 2^31-1 ms (24.8 days). */
  ackDeadlineMs?: number;
  /** Fail with NotFound instead of creating a missing named subscription. Default false. */
  mustExist?: boolean;
  /** How long one receive waits for a message when none is ready. Default 1000 ms; at most 2^31-1 ms. */
  maxWaitMs?: number;
}

/**
 * One delivery of a stored message, as core gets it. It is its own ackId:
 * it names the message and which delivery of it this is, so settling it
 * finds the message without a lookup (see `OutForDelivery`).
 */
class MemDelivery implements DriverMessage, DeliveryRef {
  readonly body: Uint8Array;
  readonly metadata: Record<string, string>;
  readonly ackId: MemDelivery;
  readonly deliveryAttempt: number;
  readonly failedAttempts: number;
  readonly native: StoredMessage;
  readonly delivery: number;

  constructor(message: StoredMessage) {
    this.body = message.body;
    this.metadata = message.metadata;
    this.ackId = this;
    this.deliveryAttempt = message.attempts;
    this.failedAttempts = message.failures;
    this.native = message;
    this.delivery = message.delivery;
  }

  /** The message's id: its text is made when asked (see StoredRecord). */
  get id(): string {
    return this.native.messageId;
  }

  /** The broker's number of the message, as text: made when asked, as few messages are logged. */
  get loggableId(): string {
    return String(this.native.id);
  }
}

/**
 * Receives from one subscription of a MemBroker. Its only errors are the
 * broker's own PubSubErrors (NotFound), so it needs no error classifier.
 */
export class MemSubscriptionDriver implements SubscriptionDriver {
  readonly resource: string;
  /** `mem://TOPIC?subscription=NAME` for a named subscription; none for an anonymous one, which no URL reopens. */
  readonly url: string | undefined;
  readonly telemetry: DriverTelemetry;
  readonly canNack = true;
  readonly #broker: MemBroker;
  readonly #topic: string;
  readonly #name: string;
  readonly #create: { ackDeadlineMs: number } | undefined;
  readonly #maxWaitMs: number;
  readonly #anonymous: boolean;
  #state: SubscriptionState | undefined;

  constructor(
    broker: MemBroker,
    topic: string,
    name: string,
    settings: { create: { ackDeadlineMs: number } | undefined; maxWaitMs: number; anonymous: boolean },
  ) {
    this.#broker = broker;
    this.#topic = topic;
    this.#name = name;
    this.#create = settings.create;
    this.#maxWaitMs = settings.maxWaitMs;
    this.#anonymous = settings.anonymous;
    this.resource = settings.anonymous
      ? `mem subscription to topic "${topic}"`
      : `mem subscription "${name}" of topic "${topic}"`;
    this.url = settings.anonymous ? undefined : `${resourceUrl("mem", topic)}?subscription=${encodeURIComponent(name)}`;
    this.telemetry = {
      system: MEM_SYSTEM,
      destination: topic,
      ...(settings.anonymous ? {} : { subscription: name }),
    };
  }

  /** Looks the subscription up (and creates it, if asked), so that a missing one fails each call with NotFound. */
  state(): SubscriptionState {
    if (!this.#state || this.#state.deleted)
      this.#state = this.#broker.subscription(this.#topic, this.#name, this.#create);
    return this.#state;
  }

  /** Looks the subscription up, so that one opened with `mustExist` that does not exist fails at open with NotFound. */
  async ready(): Promise<void> {
    this.state();
  }

  async receiveBatch(maxMessages: number, signal: AbortSignal): Promise<DriverMessage[]> {
    let state = this.state();
    if (state.available === 0) {
      await state.waitForMessages(this.#maxWaitMs, signal);
      state = this.state();
    }
    return state.take(maxMessages).map((message) => new MemDelivery(message));
  }

  async sendAcks(ackIds: unknown[]): Promise<void> {
    const state = this.state();
    for (const ackId of ackIds) state.ack(ackId);
  }

  async sendNacks(ackIds: unknown[]): Promise<void> {
    const state = this.state();
    for (const ackId of ackIds) state.nack(ackId);
  }

  /**
   * Native delayed redelivery: the broker holds each message until its delay
   * has passed (even a delay of 0 waits for a 1 ms timer), then
   * delivers it again ahead of new messages, with `deliveryAttempt` and
   * `failedAttempts` one higher.
   */
  async redeliver(redeliveries: Redelivery[]): Promise<void> {
    const state = this.state();
    for (const { ackId, delayMs } of redeliveries) state.redeliver(ackId, delayMs);
  }

  /** The subscription's ack deadline: how long a delivered message stays with its consumer. */
  get leaseMs(): number | undefined {
    return this.#state?.ackDeadlineMs ?? this.#create?.ackDeadlineMs;
  }

  /** Restarts the ack deadline of each message from now. */
  async extendLeases(ackIds: unknown[]): Promise<void> {
    this.state().extend(ackIds);
  }

  native(): MemBroker {
    return this.#broker;
  }

  async close(): Promise<void> {
    if (this.#anonymous) this.#broker.deleteSubscription(this.#topic, this.#name);
  }
}

/** Opens a subscription to topic `topic` of an in-process broker; the topic must exist. */
export function openMemSubscription(topic: string, options: MemSubscriptionOptions = {}): Subscription {
  const { broker, subscription, ackDeadlineMs, mustExist, maxWaitMs, ...portable } = options;
  const settings = parseOptions(
    subscriptionSettings,
    { broker, subscription, ackDeadlineMs, mustExist, maxWaitMs },
    "mem",
  );
  return openChecked(topic, { ...settings, portable });
}

function openChecked(
  topic: string,
  options: z.output<typeof subscriptionSettings> & { portable: SubscriptionOptions },
): Subscription {
  const {
    broker = defaultMemBroker,
    subscription,
    ackDeadlineMs = 30_000,
    mustExist = false,
    maxWaitMs = 1000,
    portable,
  } = options;
  const anonymous = subscription === undefined;
  const name = subscription ?? broker.anonymousName();
  const driver = new MemSubscriptionDriver(broker, topic, name, {
    create: mustExist ? undefined : { ackDeadlineMs },
    maxWaitMs,
    anonymous,
  });
  // The subscription exists from the moment it is opened, so that it receives every later message.
  if (!mustExist) driver.state();
  return new Subscription(driver, portable);
}
