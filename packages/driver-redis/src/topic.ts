import {
  type DriverMessage,
  ErrorCode,
  type HealthSource,
  PubSubError,
  Topic,
  type TopicDriver,
  type TopicOptions,
} from "@portable-pubsub/core/driver";
import type { Redis } from "ioredis";
import { xaddArgs } from "./codec.js";
import { ClientHealth, closeClient } from "./connection.js";
import { redisErrors } from "./errors.js";

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
}

/** Options of {@link openRedisTopic}: the portable ones and the stream's. */
export interface RedisTopicOptions extends TopicOptions, RedisTopicSettings {}

/**
 * Sends to one Redis stream: a batch is one pipeline of XADDs, so it costs
 * one round trip however many messages it holds.
 */
export class RedisTopicDriver implements TopicDriver {
  readonly resource: string;
  readonly errors = redisErrors;
  readonly health: HealthSource;
  readonly #client: Redis;
  /** XADD's arguments before the fields: key [NOMKSTREAM] [MAXLEN ~|= n] *. */
  readonly #head: string[];
  readonly #create: boolean;
  readonly #closeClient: boolean;
  readonly #watch: ClientHealth;

  constructor(client: Redis, stream: string, settings: RedisTopicSettings = {}) {
    this.#client = client;
    this.#create = settings.create ?? true;
    this.#closeClient = settings.closeClient ?? false;
    this.resource = `redisstream stream "${stream}"`;
    const head = [stream];
    if (!this.#create) head.push("NOMKSTREAM");
    if (settings.maxLen !== undefined) head.push("MAXLEN", settings.exactTrim ? "=" : "~", String(settings.maxLen));
    head.push("*");
    this.#head = head;
    this.#watch = new ClientHealth([client]);
    this.health = this.#watch.tracker;
  }

  /** Sends the batch as one pipeline. Returns once Redis replied to every XADD. */
  async sendBatch(messages: DriverMessage[]): Promise<void> {
    const pipeline = this.#client.pipeline();
    for (const message of messages) pipeline.call("xadd", xaddArgs(this.#head, message));
    const results = await pipeline.exec();
    // ioredis gives null for a pipeline whose connection closed: retryable, as a lost connection is.
    if (!results) throw new Error("Connection is closed.");
    for (const [err, id] of results) {
      if (err) throw err;
      if (id === null) {
        throw new PubSubError(
          ErrorCode.NotFound,
          `send to ${this.resource}: the stream does not exist; create it first or open the topic with create=true`,
        );
      }
    }
  }

  /** The ioredis client. */
  native(): Redis {
    return this.#client;
  }

  async close(signal: AbortSignal): Promise<void> {
    this.#watch.stop();
    if (this.#closeClient) await closeClient(this.#client, signal);
  }
}

/**
 * Opens a topic that sends to stream `stream` through `client`, a client you
 * own and close: the topic leaves it open at shutdown unless `closeClient`.
 * Give the client a `socketTimeout` so that a stalled network is noticed (see
 * the README).
 */
export function openRedisTopic(client: Redis, stream: string, options: RedisTopicOptions = {}): Topic {
  const { maxLen, exactTrim, create, closeClient: close, ...portable } = options;
  return new Topic(new RedisTopicDriver(client, stream, { maxLen, exactTrim, create, closeClient: close }), portable);
}
