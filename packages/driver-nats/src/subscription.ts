import { type JsMsg, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  DriverError,
  type DriverMessage,
  type DriverServer,
  type DriverTelemetry,
  ErrorCode,
  type HealthSource,
  type Redelivery,
  raceSignal,
  resourceUrl,
  Subscription,
  type SubscriptionDriver,
  type SubscriptionOptions,
  settledWithin,
} from "@portable-pubsub/core/driver";
import { toDriverMessage } from "./codec.js";
import { DEFAULT_REQUEST_TIMEOUT_MS, NatsLink } from "./connection.js";
import { type ConsumerDeclaration, ensureConsumer, ensureStream } from "./declare.js";
import { natsErrors } from "./errors.js";
import { Receiver } from "./receiver.js";
import { splitHostPort } from "./server.js";

/** Messages asked for in one pull request, and the most the receive buffer holds. */
export const DEFAULT_PREFETCH = 256;
/** How long a receive waits for a message before returning none. */
const RECEIVE_WAIT_MS = 1000;
/** Most time shutdown spends handing buffered messages back. */
const CLOSE_GRACE_MS = 2000;

/** What `declare` creates when missing: the stream (with these subjects) and the consumer. */
export interface NatsDeclaration extends ConsumerDeclaration {
  /** The subjects a stream created here stores. Default: the stream's name. */
  subjects?: string[];
  /**
   * How many servers of a JetStream cluster hold a stream created here (its
   * `num_replicas`; the consumer created here has as many). Default 1.
   */
  replicas?: number;
}

/** How a subscription reads its consumer. */
export interface NatsSubscriptionSettings {
  /** Have `ready` create the stream and the consumer when missing. Default: neither is created. */
  declare?: NatsDeclaration;
  /**
   * Messages asked for in one pull request, and the most held in this
   * process's receive buffer. Default 256.
   */
  prefetch?: number;
  /** How long a JetStream API reply may take. Default 5000 ms. */
  requestTimeoutMs?: number;
}

/** Options of {@link openNatsSubscription}. */
export interface NatsSubscriptionOptions extends SubscriptionOptions, NatsSubscriptionSettings {}

/**
 * One puller of a durable pull consumer: several Subscriptions on the same
 * consumer compete for its messages. Messages come through overlapping pulls
 * into a bounded buffer; acks are `+ACK`, nacks `-NAK`, delayed redeliveries
 * `-NAK {"delay"}` and lease extensions `+WPI` (`working()`), each without
 * waiting for the server; the delivery count is JetStream's own.
 */
export class NatsSubscriptionDriver implements SubscriptionDriver {
  readonly resource: string;
  /** `nats://STREAM?consumer=NAME`: what `deadletter.source` says of a subscription made with the constructor. */
  readonly url: string;
  readonly errors = natsErrors;
  readonly canNack = true;
  readonly health: HealthSource;
  readonly server: DriverServer;
  readonly telemetry: DriverTelemetry;
  readonly stream: string;
  readonly consumer: string;
  readonly #link: NatsLink;
  readonly #settings: NatsSubscriptionSettings;
  #started: Promise<Receiver> | undefined;
  #closed = false;
  #ackWaitMs: number | undefined;

  /** `link` is the connection: `NatsLink.of(nc)` for yours (left open at close). */
  constructor(link: NatsLink, stream: string, consumer: string, settings: NatsSubscriptionSettings = {}) {
    this.#link = link;
    this.stream = stream;
    this.consumer = consumer;
    this.#settings = settings;
    this.resource = `nats consumer "${consumer}" of stream "${stream}"`;
    this.url = `${resourceUrl("nats", stream)}?consumer=${encodeURIComponent(consumer)}`;
    this.health = link.health;
    this.server = link.server;
    this.telemetry = {
      system: "nats",
      destination: stream,
      consumerGroup: consumer,
      ...splitHostPort(link.display.split(",")[0]?.replace(/^[a-z]+:\/\//, "")),
    };
  }

  /** Resolves once connected and the consumer is found (or, with `declare`, created) and consuming. */
  async ready(signal: AbortSignal): Promise<void> {
    await raceSignal(this.#start(signal), signal, "open");
  }

  async receiveBatch(maxMessages: number, signal: AbortSignal): Promise<DriverMessage[]> {
    const receiver = await raceSignal(this.#start(signal), signal, "receive");
    const got = await receiver.take(maxMessages, RECEIVE_WAIT_MS, signal);
    if (got.length === 0) {
      const failure = receiver.failure;
      if (failure !== undefined) {
        // Consume ended (the consumer or stream was deleted): the next receive starts over.
        this.#started = undefined;
        throw failure;
      }
    }
    return got.map(toDriverMessage);
  }

  /**
   * `+ACK` each, once the connection is up (nats.js drops what is published
   * while it reconnects); fire and forget, as acks are in every NATS
   * client. An ack for a closed connection is dropped.
   */
  async sendAcks(ackIds: unknown[], signal: AbortSignal): Promise<void> {
    await this.#link.connected(signal);
    for (const m of ackIds as JsMsg[]) settle(() => m.ack());
  }

  /** `-NAK` each, as acks are sent: the server redelivers them at once. */
  async sendNacks(ackIds: unknown[], signal: AbortSignal): Promise<void> {
    await this.#link.connected(signal);
    for (const m of ackIds as JsMsg[]) settle(() => m.nak());
  }

  /**
   * `-NAK {"delay": …}` each (a plain `-NAK` for a delay of 0): the server
   * keeps the message pending and redelivers it once the delay has passed,
   * with its delivery count one higher. The message never leaves the
   * consumer's pending set, so nothing is lost if the nak is: the server
   * then redelivers it after the ack wait.
   */
  async redeliver(redeliveries: Redelivery[], signal: AbortSignal): Promise<void> {
    await this.#link.connected(signal);
    for (const { ackId, delayMs } of redeliveries) {
      const m = ackId as JsMsg;
      // Whole ms: the server reads the delay as integer nanoseconds; rounded up, never early.
      const delay = Math.ceil(delayMs);
      settle(() => (delay > 0 ? m.nak(delay) : m.nak()));
    }
  }

  /** The consumer's ack wait, read when the subscription starts consuming (undefined before). */
  get leaseMs(): number | undefined {
    return this.#ackWaitMs;
  }

  /**
   * `+WPI` (`working()`) each, once the connection is up: the server restarts
   * its ack wait. One already acked or nacked is skipped by nats.js.
   */
  async extendLeases(ackIds: unknown[], signal: AbortSignal): Promise<void> {
    await this.#link.connected(signal);
    for (const m of ackIds as JsMsg[]) settle(() => m.working());
  }

  /** The NATS connection (undefined until connected, for a subscription opened by URL). */
  native(): NatsConnection | undefined {
    return this.#link.current;
  }

  /** Stops consuming, hands back (nak) what was received but not taken, and closes the connection if it is the driver's. */
  async close(signal: AbortSignal): Promise<void> {
    this.#closed = true;
    const started = this.#started;
    if (started) {
      const handBack = async () => {
        const receiver = await started;
        for (const m of await receiver.stop()) settle(() => m.nak());
      };
      await settledWithin(handBack(), signal, CLOSE_GRACE_MS);
    }
    await this.#link.close(signal);
  }

  #start(signal: AbortSignal): Promise<Receiver> {
    if (this.#closed) {
      return Promise.reject(new DriverError("the subscription is closed", ErrorCode.FailedPrecondition));
    }
    if (!this.#started) {
      const started = this.#consume(signal);
      started.catch(() => {
        if (this.#started === started) this.#started = undefined;
      });
      this.#started = started;
    }
    return this.#started;
  }

  async #consume(signal: AbortSignal): Promise<Receiver> {
    const nc = await this.#link.connection(signal);
    const timeout = this.#settings.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const declare = this.#settings.declare;
    if (declare) {
      const jsm = await jetstreamManager(nc, { timeout, checkAPI: false });
      await ensureStream(jsm, {
        name: this.stream,
        subjects: declare.subjects ?? [this.stream],
        ...(declare.replicas !== undefined ? { num_replicas: declare.replicas } : {}),
      });
      await ensureConsumer(jsm, this.stream, this.consumer, declare);
    }
    const consumer = await jetstream(nc, { timeout }).consumers.get(this.stream, this.consumer);
    const info = await consumer.info(true);
    if (info.config.deliver_subject) {
      throw new DriverError(`consumer "${this.consumer}" is a push consumer`, ErrorCode.FailedPrecondition, {
        hint: "nats:// subscriptions read durable pull consumers; create one without a deliver subject (nats consumer add --pull)",
      });
    }
    const ackWaitMs = Math.max(1, Math.round((info.config.ack_wait ?? 30_000_000_000) / 1_000_000));
    this.#ackWaitMs = ackWaitMs;
    const receiver = new Receiver(consumer, this.#settings.prefetch ?? DEFAULT_PREFETCH, ackWaitMs);
    if (this.#closed) {
      for (const m of await receiver.stop()) settle(() => m.nak());
    }
    return receiver;
  }
}

/** Runs an ack or nak; one for a connection that closed meanwhile is dropped (the server redelivers after the ack wait). */
function settle(act: () => void): void {
  try {
    act();
  } catch {
    // Only a closed connection makes nats.js throw here.
  }
}

/**
 * Opens a subscription to durable pull consumer `consumer` of stream `stream`
 * through `nc`, a connection you own (left open at shutdown). Resolves once
 * the consumer is found (or created, with `declare`) and consuming; rejects,
 * having shut the subscription down, when it is not.
 */
export async function openNatsSubscription(
  nc: NatsConnection,
  stream: string,
  consumer: string,
  options: NatsSubscriptionOptions = {},
): Promise<Subscription> {
  const { declare, prefetch, requestTimeoutMs, ...portable } = options;
  const driver = new NatsSubscriptionDriver(NatsLink.of(nc), stream, consumer, { declare, prefetch, requestTimeoutMs });
  const subscription = new Subscription(driver, portable);
  // The URL mux does this for URLs; a direct constructor keeps its promise to resolve once consuming.
  await subscription.ready().catch(async (err: unknown) => {
    await subscription.shutdown().catch(() => {});
    throw err;
  });
  return subscription;
}
