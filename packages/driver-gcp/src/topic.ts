import { type PubSub, type Topic as PubSubTopic, v1 } from "@google-cloud/pubsub";
import {
  type BatchLimits,
  type DriverMessage,
  type DriverTelemetry,
  StoredMessages,
  Topic,
  type TopicDriver,
  type TopicOptions,
} from "@portable-pubsub/core/driver";
import { toPubsubMessage } from "./codec.js";
import { Connection, serverOf } from "./connection.js";
import { gcpErrors } from "./errors.js";
import { checkMessage, PUBSUB_LIMITS } from "./limits.js";
import { resolveProject, resourcePath } from "./names.js";

/** Options of a Pub/Sub topic driver. */
export interface GcpTopicDriverOptions {
  /**
   * How long opening waits to connect to the endpoint, in ms. Default 10000,
   * as on every driver.
   */
  connectTimeoutMs?: number;
  /**
   * The metadata key whose value becomes each message's ordering key. Messages
   * with the same key reach subscriptions that enable message ordering in the
   * order sent; sends then go one batch at a time. Unset: no ordering keys.
   */
  orderingKeyFrom?: string;
  /** Deadline of one Publish RPC, in ms. Default 60000, as Google's client. */
  rpcTimeoutMs?: number;
}

/** Options of {@link openGcpTopic}: the portable ones plus the driver's. */
export interface GcpTopicOptions extends TopicOptions, GcpTopicDriverOptions {}

const DEFAULT_RPC_TIMEOUT_MS = 60_000;

/**
 * Call options of one Publish RPC. Retries are the portable layer's. Bundling
 * must be off: the generated client otherwise merges concurrent Publish calls
 * to one topic into one request (up to a million messages), so that 1 + 1,000
 * messages went as one request of 1,001, which Pub/Sub refuses, failing both
 * batches; and a lone message waited 10 ms for company.
 */
const PUBLISH_CALL = (timeout: number) => ({ retry: null, timeout, isBundling: false });

/**
 * Publishes to one Pub/Sub topic. Batching is the portable layer's: each
 * `sendBatch` is exactly one Publish RPC (or a few, when the request would
 * exceed 10 MB), made with the generated API client with its own retries and
 * batching off, so that batches are not re-batched behind a timer and errors
 * are retried in one place.
 *
 * Its `ready` connects to the endpoint and loads the credentials, but makes
 * no RPC, as in the Go CDK: checking that the topic exists would take
 * GetTopic, which roles/pubsub.publisher does not grant. So an unreachable
 * endpoint or missing credentials fail the open, and a missing topic is
 * NotFound on the first send.
 */
export class GcpTopicDriver implements TopicDriver {
  readonly resource: string;
  readonly telemetry: DriverTelemetry;
  readonly errors = gcpErrors;
  readonly batchLimits: BatchLimits;
  readonly #name: string;
  readonly #connection: Connection<v1.PublisherClient>;
  readonly #orderingKeyFrom: string | undefined;
  readonly #timeoutMs: number;
  /** Messages of split batches whose request succeeded, so that a retry of the batch skips them. */
  readonly #published = new StoredMessages();
  #native: PubSubTopic | undefined;

  /**
   * Publishes to `topic` (`projects/P/topics/T`, or `T` in the client's
   * project) through `pubsub`. With `ownsClient`, closing the driver closes
   * `pubsub` too.
   */
  constructor(pubsub: PubSub, topic: string, options: GcpTopicDriverOptions & { ownsClient?: boolean } = {}) {
    this.#name = resourcePath(pubsub, topic, "topics");
    this.resource = `gcppubsub topic "${this.#name}"`;
    const orderingKeyFrom = options.orderingKeyFrom;
    this.telemetry = {
      system: "gcp_pubsub",
      destination: this.#name,
      ...serverOf(pubsub),
      ...(orderingKeyFrom === undefined
        ? {}
        : {
            messageAttributes: (m: DriverMessage) => {
              const key = m.metadata[orderingKeyFrom];
              return key === undefined ? undefined : { "messaging.gcp_pubsub.message.ordering_key": key };
            },
          }),
    };
    this.#connection = new Connection(
      pubsub,
      options.ownsClient ?? false,
      this.resource,
      v1.PublisherClient,
      options.connectTimeoutMs,
    );
    this.#orderingKeyFrom = options.orderingKeyFrom;
    this.#timeoutMs = options.rpcTimeoutMs ?? DEFAULT_RPC_TIMEOUT_MS;
    this.batchLimits = {
      maxItems: PUBSUB_LIMITS.maxMessagesPerPublish,
      // Body bytes only, as the portable batcher counts them: room is left for attributes,
      // and sendBatch splits a request that would still be too large.
      maxBytes: PUBSUB_LIMITS.maxPublishRequestBytes * 0.9,
      // Ordering holds across batches only if one batch is in flight at a time.
      ...(this.#orderingKeyFrom === undefined ? {} : { maxConcurrency: 1 }),
    };
  }

  /** The topic's full name, `projects/P/topics/T`. */
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

  /** Called by `Topic.send` before batching, so that a message over a limit fails alone. */
  checkMessage(message: DriverMessage): void {
    checkMessage(message);
  }

  /**
   * Checks every message against Pub/Sub's limits, then publishes them, in
   * order: one Publish request, or several when one would exceed 10 MB. When
   * a later request fails after an earlier one succeeded, the portable layer
   * retries (if the error is retryable) by calling this again with the same
   * message objects; those already published are remembered (the kit's
   * `StoredMessages`) and not published again, so that a retry makes no
   * duplicates.
   */
  async sendBatch(messages: DriverMessage[], signal: AbortSignal): Promise<void> {
    const requests = this.#toRequests(this.#published.unstored(messages));
    let published = 0;
    try {
      for (const request of requests) {
        const batch = request.map((m) => toPubsubMessage(m, this.#orderingKeyFrom));
        await this.#connection.call(
          "publish",
          (client) => client.publish({ topic: this.name, messages: batch }, PUBLISH_CALL(this.#timeoutMs)),
          signal,
        );
        published++;
      }
    } catch (err) {
      this.#published.record(messages, requests.slice(0, published).flat());
      throw err;
    }
  }

  /** Validates `messages`, split so that no request exceeds Pub/Sub's 10 MB. */
  #toRequests(messages: DriverMessage[]): DriverMessage[][] {
    const requests: DriverMessage[][] = [];
    let current: DriverMessage[] = [];
    let bytes = 0;
    for (const message of messages) {
      const size = checkMessage(message);
      if (current.length > 0 && bytes + size > PUBSUB_LIMITS.maxPublishRequestBytes) {
        requests.push(current);
        current = [];
        bytes = 0;
      }
      current.push(message);
      bytes += size;
    }
    if (current.length > 0) requests.push(current);
    return requests;
  }

  /** The Pub/Sub client library's Topic object for this topic. */
  native(): PubSubTopic {
    this.#native ??= this.#connection.pubsub.topic(this.name);
    return this.#native;
  }

  close(signal: AbortSignal): Promise<void> {
    return this.#connection.close(signal);
  }
}

/**
 * Opens Pub/Sub topic `topic` (`projects/P/topics/T`, or `T` in the client's
 * project) through a PubSub client that the caller built and keeps owning:
 * shutting the Topic down does not close `pubsub`.
 */
export function openGcpTopic(pubsub: PubSub, topic: string, options: GcpTopicOptions = {}): Topic {
  const { orderingKeyFrom, rpcTimeoutMs, connectTimeoutMs, ...portable } = options;
  return new Topic(new GcpTopicDriver(pubsub, topic, { orderingKeyFrom, rpcTimeoutMs, connectTimeoutMs }), portable);
}
