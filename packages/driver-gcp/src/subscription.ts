import { type PubSub, type Subscription as PubSubSubscription, type protos, v1 } from "@google-cloud/pubsub";
import {
  type BatchLimits,
  type DriverMessage,
  type DriverTelemetry,
  type Redelivery,
  Subscription,
  type SubscriptionDriver,
  type SubscriptionOptions,
} from "@portable-pubsub/core/driver";
import { fromPubsubMessage } from "./codec.js";
import { Connection, serverOf } from "./connection.js";
import { DeliveryAttempts } from "./delivery-attempts.js";
import { GrpcStatus, gcpErrors, grpcStatus } from "./errors.js";
import { FlowControl } from "./flow-control.js";
import { resolveProject, resourcePath } from "./names.js";

/** A message as Pull returns it: what `Message.as()` gives for this driver. */
export type ReceivedMessage = protos.google.pubsub.v1.IReceivedMessage;

/** Options of a Pub/Sub subscription driver. */
export interface GcpSubscriptionDriverOptions {
  /**
   * How long opening waits to connect to the endpoint, in ms. Default 10000,
   * as on every driver.
   */
  connectTimeoutMs?: number;
  /** Most messages received and not yet acked or nacked; receiving pauses at the limit. Default 1000. */
  maxOutstandingMessages?: number;
  /** Most body bytes received and not yet acked or nacked. Default 100 MiB. */
  maxOutstandingBytes?: number;
  /** Deadline of one Acknowledge or ModifyAckDeadline RPC, in ms. Default 60000. */
  rpcTimeoutMs?: number;
  /** How long one receive waits for messages when none is available, in ms. Default 1000. */
  maxWaitMs?: number;
}

/** Options of {@link openGcpSubscription}: the portable ones plus the driver's. */
export interface GcpSubscriptionOptions extends SubscriptionOptions, GcpSubscriptionDriverOptions {}

const DEFAULTS = {
  maxOutstandingMessages: 1000,
  maxOutstandingBytes: 100 * 2 ** 20,
  rpcTimeoutMs: 60_000,
  maxWaitMs: 1000,
};
/**
 * Pauses between pulls that found nothing, for the emulator, which holds a
 * Pull only until a second before its deadline and so answers ours at once.
 * They double while pulls keep finding nothing, across receive batches, and
 * start again at the first when a pull brings messages: every Pull costs the
 * client 1.5-2 ms of CPU, and pauses that restarted at 10 ms in every 1 s
 * receive made an idle subscription pull 9-10 times a second (about 1 s of
 * CPU a minute), where now it pulls once. A message that arrives after a quiet
 * spell waits at most about the longest pause.
 */
const FIRST_PAUSE_MS = 10;
const MAX_PAUSE_MS = 1000;
/** A pull is given at least this long, so that a short remaining wait cannot starve it. */
const MIN_PULL_DEADLINE_MS = 250;
/** Pub/Sub's shortest ack deadline: assumed until the subscription's own is known. */
const DEFAULT_ACK_DEADLINE_SECONDS = 10;
/** Pub/Sub's longest ack deadline, so the longest delay one ModifyAckDeadline can set. */
const MAX_ACK_DEADLINE_SECONDS = 600;
/** Bound of the one GetSubscription that reads the ack deadline. */
const ACK_DEADLINE_LOOKUP_MS = 10_000;

/**
 * Receives from one Pub/Sub subscription by synchronous Pull, which fits the
 * portable layer's receive batches exactly: no stream to keep alive, lease or
 * tear down, so shutdown cannot hang on one. Acks are Acknowledge RPCs; all
 * else is ModifyAckDeadline: a nack sets the deadline to 0 (deliverable at
 * once), a delayed redelivery to the delay in whole seconds, a lease
 * extension to the subscription's ack deadline.
 *
 * Its `ready` connects to the endpoint and loads the credentials, but makes
 * no RPC (GetSubscription needs roles/pubsub.viewer, which subscribers
 * often lack): an unreachable endpoint or missing credentials fail the
 * open, and a missing subscription is NotFound on the first receive.
 */
export class GcpSubscriptionDriver implements SubscriptionDriver {
  readonly resource: string;
  readonly telemetry: DriverTelemetry;
  readonly errors = gcpErrors;
  readonly canNack = true;
  /** Acknowledge and ModifyAckDeadline requests stay far below Pub/Sub's 512 KB request limit. */
  readonly ackBatchLimits: BatchLimits = { maxItems: 1000 };
  readonly #name: string;
  readonly #connection: Connection<v1.SubscriberClient>;
  readonly #flow: FlowControl;
  readonly #timeoutMs: number;
  readonly #maxWaitMs: number;
  /** The longest idle pause: never longer than a receive batch waits, so that each batch pulls at least once. */
  readonly #maxPause: number;
  readonly #attempts = new DeliveryAttempts();
  #ackDeadlineSeconds = DEFAULT_ACK_DEADLINE_SECONDS;
  #ackDeadlineLookup: Promise<void> | undefined;
  #native: PubSubSubscription | undefined;
  /** The pause that follows the next pull if it finds nothing. */
  #idlePause = FIRST_PAUSE_MS;
  /** When the next pull may start (Date.now() ms): the last empty pull's start plus its pause. */
  #nextPullAt = 0;

  /**
   * Receives from `subscription` (`projects/P/subscriptions/S`, or `S` in the
   * client's project) through `pubsub`. With `ownsClient`, closing the driver
   * closes `pubsub` too.
   */
  constructor(
    pubsub: PubSub,
    subscription: string,
    options: GcpSubscriptionDriverOptions & { ownsClient?: boolean } = {},
  ) {
    this.#name = resourcePath(pubsub, subscription, "subscriptions");
    this.resource = `gcppubsub subscription "${this.#name}"`;
    this.telemetry = {
      system: "gcp_pubsub",
      destination: this.#name,
      subscription: this.#name,
      ...serverOf(pubsub),
      messageAttributes: (m) =>
        m.deliveryAttempt === undefined
          ? undefined
          : { "messaging.gcp_pubsub.message.delivery_attempt": m.deliveryAttempt },
    };
    this.#connection = new Connection(
      pubsub,
      options.ownsClient ?? false,
      this.resource,
      v1.SubscriberClient,
      options.connectTimeoutMs,
    );
    this.#flow = new FlowControl({
      maxMessages: options.maxOutstandingMessages ?? DEFAULTS.maxOutstandingMessages,
      maxBytes: options.maxOutstandingBytes ?? DEFAULTS.maxOutstandingBytes,
    });
    this.#timeoutMs = options.rpcTimeoutMs ?? DEFAULTS.rpcTimeoutMs;
    this.#maxWaitMs = options.maxWaitMs ?? DEFAULTS.maxWaitMs;
    this.#maxPause = Math.min(MAX_PAUSE_MS, this.#maxWaitMs);
  }

  /** The subscription's full name, `projects/P/subscriptions/S`. */
  get name(): string {
    return resolveProject(this.#name, this.#connection.pubsub.projectId);
  }

  get health() {
    return this.#connection.health;
  }

  get server() {
    return this.#connection.server;
  }

  /**
   * Resolves once the endpoint is connected (no RPC, so no permission is
   * needed); rejects at once when it cannot be reached or there are no
   * credentials. The resource itself is not checked: see the class comment.
   */
  ready(signal: AbortSignal): Promise<void> {
    return this.#connection.reachable(signal);
  }

  /**
   * How long a delivered message stays leased, in ms: the subscription's ack
   * deadline, read with GetSubscription on the first receive. Until then, and
   * for good where GetSubscription is not allowed, 10 s, Pub/Sub's shortest
   * deadline, which is never longer than the real one.
   */
  get leaseMs(): number {
    return this.#ackDeadlineSeconds * 1000;
  }

  /** Messages received and not yet acked or nacked, as flow control counts them. */
  get outstanding(): { messages: number; bytes: number } {
    return { messages: this.#flow.messages, bytes: this.#flow.bytes };
  }

  async receiveBatch(maxMessages: number, signal: AbortSignal): Promise<DriverMessage[]> {
    this.#lookUpAckDeadline();
    const deadline = Date.now() + this.#maxWaitMs;
    for (;;) {
      if (signal.aborted) return [];
      const now = Date.now();
      const left = deadline - now;
      const room = this.#flow.room(maxMessages);
      if (room === 0 || now < this.#nextPullAt) {
        if (left <= 0) return [];
        // Acks that make room end the wait early; the loop then looks again.
        await this.#flow.waitForRoom(room === 0 ? left : Math.min(this.#nextPullAt - now, left), signal);
        continue;
      }
      const received = await this.#pull(room, Math.max(left, MIN_PULL_DEADLINE_MS), signal);
      if (received !== undefined && received.length > 0) {
        this.#idlePause = FIRST_PAUSE_MS;
        this.#nextPullAt = 0;
        return received.map((m) => this.#takeIn(m));
      }
      // Counted from the pull's start, the pause adds nothing after a pull that the service held open.
      this.#nextPullAt = now + this.#idlePause;
      this.#idlePause = Math.min(this.#idlePause * 2, this.#maxPause);
      if (received === undefined) return [];
    }
  }

  /** One Pull RPC; undefined when it was cut short by its deadline or by `signal`. */
  async #pull(maxMessages: number, deadlineMs: number, signal: AbortSignal): Promise<ReceivedMessage[] | undefined> {
    try {
      const [response] = await this.#connection.call(
        "pull",
        (client) => client.pull({ subscription: this.name, maxMessages }, { retry: null, timeout: deadlineMs }),
        signal,
        // A pull that answers after its receive was abandoned: hand its messages straight back.
        ([late]) => this.#returnLate(late.receivedMessages ?? []),
      );
      return response.receivedMessages ?? [];
    } catch (err) {
      if (signal.aborted) return undefined;
      // Google's service holds a Pull open until messages arrive; our deadline ends the wait.
      if (grpcStatus(err) === GrpcStatus.DEADLINE_EXCEEDED && deadlineMs <= this.#maxWaitMs) return undefined;
      throw err;
    }
  }

  /**
   * Reads the subscription's ack deadline for `leaseMs`, once, in the
   * background: the default is safe meanwhile. Tried again on the next
   * receive after a retryable failure; after any other (PERMISSION_DENIED
   * without roles/pubsub.viewer) the default stays.
   */
  #lookUpAckDeadline(): void {
    this.#ackDeadlineLookup ??= this.#connection
      .call(
        "get subscription",
        (client) =>
          client.getSubscription({ subscription: this.name }, { retry: null, timeout: ACK_DEADLINE_LOOKUP_MS }),
        AbortSignal.timeout(ACK_DEADLINE_LOOKUP_MS),
      )
      .then(
        ([subscription]) => {
          const seconds = subscription.ackDeadlineSeconds;
          if (typeof seconds === "number" && seconds >= DEFAULT_ACK_DEADLINE_SECONDS) {
            this.#ackDeadlineSeconds = Math.min(seconds, MAX_ACK_DEADLINE_SECONDS);
          }
        },
        (err: unknown) => {
          if (gcpErrors.isRetryable(err)) this.#ackDeadlineLookup = undefined;
        },
      );
  }

  /** A pulled message as the portable layer gets it, held against flow control, its delivery counted. */
  #takeIn(received: ReceivedMessage): DriverMessage {
    const ackId = received.ackId ?? "";
    const message = received.message ?? {};
    const { id, body, metadata } = fromPubsubMessage(message);
    const messageId = message.messageId ?? "";
    this.#flow.hold(ackId, body.byteLength);
    const counted = received.deliveryAttempt ?? 0;
    return {
      id,
      body,
      metadata,
      ackId,
      loggableId: messageId,
      native: received,
      // Pub/Sub counts attempts only on subscriptions with a dead-letter policy (0 elsewhere); else we count.
      deliveryAttempt: counted > 0 ? counted : this.#attempts.delivered(messageId, ackId),
    };
  }

  #returnLate(received: ReceivedMessage[]): void {
    const ackIds = received.map((m) => m.ackId ?? "").filter((id) => id !== "");
    if (ackIds.length === 0) return;
    this.#modifyAckDeadline("nack", ackIds, 0, AbortSignal.timeout(this.#timeoutMs)).catch(() => {
      // Best effort: unreturned, they come back when their ack deadline passes.
    });
  }

  async sendAcks(ackIds: unknown[], signal: AbortSignal): Promise<void> {
    const ids = ackIds as string[];
    this.#flow.release(ids);
    this.#attempts.acked(ids);
    await this.#settle("ack", ids, signal, (client, batch) =>
      client.acknowledge({ subscription: this.name, ackIds: batch }, { retry: null, timeout: this.#timeoutMs }),
    );
  }

  async sendNacks(ackIds: unknown[], signal: AbortSignal): Promise<void> {
    const ids = ackIds as string[];
    this.#flow.release(ids);
    this.#attempts.returned(ids);
    await this.#modifyAckDeadline("nack", ids, 0, signal);
  }

  /**
   * Sets each message's ack deadline to its delay in whole seconds, rounded
   * up (at most 600, Pub/Sub's longest): Pub/Sub delivers it again once that
   * deadline passes, not earlier. One ModifyAckDeadline per distinct
   * deadline. Returns only after Pub/Sub accepted them; on error the
   * messages are still leased and come back by their ack deadline at the
   * latest. Stale ackIds are ignored.
   */
  async redeliver(redeliveries: Redelivery[], signal: AbortSignal): Promise<void> {
    const bySeconds = new Map<number, string[]>();
    for (const { ackId, delayMs } of redeliveries) {
      const seconds = redeliverySeconds(delayMs);
      bySeconds.set(seconds, [...(bySeconds.get(seconds) ?? []), ackId as string]);
    }
    const ids = redeliveries.map((r) => r.ackId as string);
    this.#flow.release(ids);
    this.#attempts.returned(ids);
    await Promise.all(
      [...bySeconds].map(([seconds, group]) => this.#modifyAckDeadline("redeliver", group, seconds, signal)),
    );
  }

  /**
   * Sets the ack deadline of each message to the subscription's (`leaseMs`)
   * from now. Stale ackIds are ignored.
   */
  async extendLeases(ackIds: unknown[], signal: AbortSignal): Promise<void> {
    const ids = ackIds as string[];
    this.#flow.renew(ids);
    await this.#modifyAckDeadline("extend leases", ids, this.#ackDeadlineSeconds, signal);
  }

  /** ModifyAckDeadline in requests of at most `ackBatchLimits.maxItems` ackIds, one after another. */
  async #modifyAckDeadline(operation: string, ackIds: string[], seconds: number, signal: AbortSignal): Promise<void> {
    const step = this.ackBatchLimits.maxItems ?? ackIds.length;
    for (let i = 0; i < ackIds.length; i += step) {
      await this.#settle(operation, ackIds.slice(i, i + step), signal, (client, batch) =>
        client.modifyAckDeadline(
          { subscription: this.name, ackIds: batch, ackDeadlineSeconds: seconds },
          { retry: null, timeout: this.#timeoutMs },
        ),
      );
    }
  }

  /**
   * Sends one Acknowledge or ModifyAckDeadline. The emulator (and an
   * exactly-once subscription) refuses a request with INVALID_ARGUMENT when one
   * of its ackIds is no longer valid; the request is then split until the
   * stale ackIds stand alone and are dropped, as the driver contract asks, so
   * that they cannot take valid ones down with them.
   */
  async #settle(
    operation: string,
    ackIds: string[],
    signal: AbortSignal,
    rpc: (client: v1.SubscriberClient, batch: string[]) => Promise<unknown>,
  ): Promise<void> {
    if (ackIds.length === 0) return;
    try {
      await this.#connection.call(operation, (client) => rpc(client, ackIds), signal);
    } catch (err) {
      if (grpcStatus(err) !== GrpcStatus.INVALID_ARGUMENT || signal.aborted) throw err;
      if (ackIds.length === 1) return;
      const half = Math.ceil(ackIds.length / 2);
      await this.#settle(operation, ackIds.slice(0, half), signal, rpc);
      await this.#settle(operation, ackIds.slice(half), signal, rpc);
    }
  }

  /** The Pub/Sub client library's Subscription object for this subscription (not opened for streaming). */
  native(): PubSubSubscription {
    this.#native ??= this.#connection.pubsub.subscription(this.name);
    return this.#native;
  }

  close(signal: AbortSignal): Promise<void> {
    return this.#connection.close(signal);
  }
}

/** The ack deadline, in seconds, that makes Pub/Sub deliver a message again after `delayMs`, not earlier. */
function redeliverySeconds(delayMs: number): number {
  if (!(delayMs > 0)) return 0;
  return Math.min(Math.ceil(delayMs / 1000), MAX_ACK_DEADLINE_SECONDS);
}

/**
 * Opens Pub/Sub subscription `subscription` (`projects/P/subscriptions/S`, or
 * `S` in the client's project) through a PubSub client that the caller built
 * and keeps owning: shutting the Subscription down does not close `pubsub`.
 */
export function openGcpSubscription(
  pubsub: PubSub,
  subscription: string,
  options: GcpSubscriptionOptions = {},
): Subscription {
  const { maxOutstandingMessages, maxOutstandingBytes, rpcTimeoutMs, maxWaitMs, connectTimeoutMs, ...portable } =
    options;
  const driver = new GcpSubscriptionDriver(pubsub, subscription, {
    maxOutstandingMessages,
    maxOutstandingBytes,
    rpcTimeoutMs,
    maxWaitMs,
    connectTimeoutMs,
  });
  return new Subscription(driver, portable);
}
