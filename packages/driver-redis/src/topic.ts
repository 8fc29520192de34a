import {
  type DriverMessage,
  type DriverServer,
  type DriverTelemetry,
  ErrorCode,
  type HealthSource,
  PubSubError,
  StoredMessages,
  Topic,
  type TopicDriver,
  type TopicOptions,
} from "@portable-pubsub/core/driver";
import { xaddArgs } from "./codec.js";
import type { RedisClient } from "./connection.js";
import { ClientHealth, closeClient, redisServer, serverOf, whenConnected } from "./connection.js";
import { checkStream } from "./declare.js";
import { redisErrors } from "./errors.js";
import { DEFAULT_REPLICAS_TIMEOUT_MS, ReplicaWait } from "./replicas.js";

/** How a topic writes to its stream. */
export interface RedisTopicSettings {
  /**
   * Trim the stream to about this many entries on every XADD (`MAXLEN ~ n`),
   * so that it does not grow without bound. Entries trimmed away are gone,
   * even if a consumer group has not read them yet. Default: no trimming.
   */
  maxLen?: number;
  /** Trim to exactly `maxLen` (`MAXLEN = n`), which costs Redis more than the default approximate trim. */
  exactTrim?: boolean;
  /**
   * Create the stream on the first send if it does not exist (default true).
   * With false, sends to a missing stream fail with NotFound (`XADD NOMKSTREAM`).
   */
  create?: boolean;
  /** Close the client at shutdown. Default false: a client you pass stays yours. */
  closeClient?: boolean;
  /**
   * Resolve a send only once this many replicas have it (`WAIT replicas
   * timeout` after each batch's XADDs), so that a failover to a replica
   * cannot lose an acknowledged message. Fewer replicas within
   * `replicasTimeoutMs` fail the attempt with a retryable error, and the
   * portable layer sends the batch again. Default: no WAIT; Redis replicates
   * asynchronously, and a failover loses the writes that had not reached a
   * replica yet.
   */
  replicas?: number;
  /** How long each WAIT waits for the replicas, in ms. Default 1000. */
  replicasTimeoutMs?: number;
}

/** Options of {@link openRedisTopic}: the portable ones and the stream's. */
export interface RedisTopicOptions extends TopicOptions, RedisTopicSettings {}

/**
 * Sends to one Redis stream: a batch is one pipeline of XADDs, so it costs
 * one round trip however many messages it holds.
 */
export class RedisTopicDriver implements TopicDriver {
  readonly resource: string;
  readonly telemetry: DriverTelemetry;
  readonly errors = redisErrors;
  readonly health: HealthSource;
  readonly server: DriverServer;
  readonly #client: RedisClient;
  readonly #stream: string;
  /** XADD's arguments before the fields: key [NOMKSTREAM] [MAXLEN ~|= n] *. */
  readonly #head: string[];
  readonly #create: boolean;
  readonly #closeClient: boolean;
  readonly #watch: ClientHealth;
  /** Messages of failed batches whose XADD succeeded, so that a retry of their batch does not add them again. */
  readonly #added = new StoredMessages();
  /** The WAIT after each batch, with `replicas`. */
  readonly #wait: ReplicaWait | undefined;

  constructor(client: RedisClient, stream: string, settings: RedisTopicSettings = {}) {
    this.#client = client;
    this.#stream = stream;
    this.server = redisServer(client);
    this.#create = settings.create ?? true;
    this.#closeClient = settings.closeClient ?? false;
    this.resource = `redisstream stream "${stream}"`;
    this.telemetry = { system: "redis", destination: stream, ...serverOf(client) };
    const head = [stream];
    if (!this.#create) head.push("NOMKSTREAM");
    if (settings.maxLen !== undefined) head.push("MAXLEN", settings.exactTrim ? "=" : "~", String(settings.maxLen));
    head.push("*");
    this.#head = head;
    if (settings.replicas !== undefined && settings.replicas > 0) {
      const timeoutMs = settings.replicasTimeoutMs ?? DEFAULT_REPLICAS_TIMEOUT_MS;
      this.#wait = new ReplicaWait(client, settings.replicas, timeoutMs, this.resource);
    }
    this.#watch = new ClientHealth([client]);
    this.health = this.#watch.tracker;
  }

  /**
   * Resolves once the client is connected and, with `create: false`, the
   * stream exists (NotFound otherwise; FailedPrecondition for a key that is
   * no stream). A failed connection rejects at once; the portable layer
   * bounds the wait by the connect timeout.
   */
  async ready(signal: AbortSignal): Promise<void> {
    await whenConnected([this.#client], signal);
    if (!this.#create) {
      await checkStream(
        this.#client,
        this.#stream,
        `open ${this.resource}`,
        "create it first or open the topic with declare=true",
      );
    }
  }

  /**
   * Sends the batch as one pipeline. Returns once Redis replied to every XADD.
   *
   * Each XADD of a pipeline succeeds or fails on its own (OOM once maxmemory
   * is reached, READONLY during a failover, the connection dropping half-way),
   * so an error leaves part of the batch in the stream. The portable layer
   * retries a batch that failed with a retryable error by calling this again
   * with the same array of the same message objects; the messages Redis took
   * are remembered (the kit's `StoredMessages`), and a retry adds only the
   * others. Re-adding the whole batch would duplicate what was
   * already added; retrying inside this call would break the rule that the
   * portable layer alone retries (with backoff, attempts and cancellation).
   * A message retried this way lands after the messages of its batch that
   * went in the first time. A non-retryable error still fails every send of
   * the batch, as the driver contract has no way to report which succeeded.
   *
   * With `replicas`, a WAIT ends the pipeline, and a message counts as
   * added only once WAIT confirmed it (see `ReplicaWait`). When too few
   * replicas answered in time, the retry asks WAIT again for the entries
   * added over the same connection, without adding them again; after a
   * reconnection it adds them again.
   */
  async sendBatch(messages: DriverMessage[]): Promise<void> {
    const unstored = this.#added.unstored(messages);
    if (unstored.length === 0) return;
    const held = this.#wait?.held(messages);
    const pending = held ? unstored.filter((m) => !held.has(m)) : unstored;
    const pipeline = this.#client.pipeline();
    for (const message of pending) pipeline.call("xadd", xaddArgs(this.#head, message));
    const generation = this.#wait?.append(pipeline);
    const results = await pipeline.exec();
    // ioredis gives null for a pipeline whose connection closed: retryable, as a lost connection is.
    if (!results) throw new Error("Connection is closed.");
    let failure: unknown;
    const added: DriverMessage[] = [];
    for (let i = 0; i < pending.length; i++) {
      const [err, id] = results[i] as [Error | null, unknown];
      if (err) failure ??= err;
      else if (id === null) {
        failure ??= new PubSubError(
          ErrorCode.NotFound,
          `send to ${this.resource}: the stream does not exist; create it first or open the topic with declare=true`,
        );
      } else added.push(pending[i] as DriverMessage);
    }
    if (this.#wait && generation !== undefined) {
      const unconfirmed = this.#wait.check(results[pending.length] as [Error | null, unknown] | undefined, generation);
      if (unconfirmed) {
        // Not recorded as added: a replica may lack them. Held, so that a retry over this connection only waits again.
        this.#wait.hold(messages, generation, [...(held ?? []), ...added]);
        throw failure ?? unconfirmed;
      }
      added.push(...(held ?? []));
    }
    if (failure === undefined) return;
    this.#added.record(messages, added);
    throw failure;
  }

  /** The ioredis client. */
  native(): RedisClient {
    return this.#client;
  }

  async close(signal: AbortSignal): Promise<void> {
    this.#watch.stop();
    this.#wait?.stop();
    if (this.#closeClient) await closeClient(this.#client, signal);
  }
}

/**
 * Opens a topic that sends to stream `stream` through `client`, a client you
 * own and close: the topic leaves it open at shutdown unless `closeClient`.
 * Give the client a `socketTimeout` so that a stalled network is noticed (see
 * the README).
 */
export function openRedisTopic(client: RedisClient, stream: string, options: RedisTopicOptions = {}): Topic {
  const { maxLen, exactTrim, create, closeClient: close, replicas, replicasTimeoutMs, ...portable } = options;
  const settings = { maxLen, exactTrim, create, closeClient: close, replicas, replicasTimeoutMs };
  return new Topic(new RedisTopicDriver(client, stream, settings), portable);
}
