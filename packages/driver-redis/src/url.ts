import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  MAX_TIMER_MS,
  type OptionsShape,
  param,
  parseOptions,
  parseQuery,
  type QueryParameters,
  resourceName,
  START_VALUES,
  Subscription,
  type SubscriptionURLOpener,
  Topic,
  type TopicURLOpener,
} from "@portable-pubsub/core/driver";
import type { RedisOptions } from "ioredis";
import { z } from "zod";
import { commandClientOptions, DEFAULT_SOCKET_TIMEOUT_MS, sharedClient } from "./connection.js";
import { resolveServerUrl } from "./server.js";
import { RedisSubscriptionDriver } from "./subscription.js";
import { RedisTopicDriver } from "./topic.js";

const DRIVER = "redisstream";

const topicQuery = z
  .object({
    maxLen: param.int(1).optional(),
    trim: z.enum(["approx", "exact"]).optional(),
    declare: param.flag().optional(),
    replicas: param.int(1).optional(),
  })
  .strict();

const subscriptionQuery = z
  .object({
    group: param.name(),
    consumer: param.name().optional(),
    ackDeadline: param.duration().optional(),
    declare: param.flag().optional(),
    start: z.enum(START_VALUES).optional(),
    block: param.duration({ maxMs: 1000 }).optional(),
    idleConsumerTimeout: param.duration({ maxMs: MAX_TIMER_MS }).optional(),
  })
  .strict();

/** What `redisstream://` URLs take: the vocabulary's names, these of Redis's own, and `create`, the old name of `declare`. */
export const queryParameters: QueryParameters = {
  schemas: { topic: topicQuery, subscription: subscriptionQuery },
  own: ["maxLen", "trim", "replicas", "group", "consumer", "block", "idleConsumerTimeout"],
  renamed: { create: "declare" },
};

/** The driver's own options of `openTopic` and `openSubscription` for `redisstream://` URLs. */
export interface RedisURLOptions {
  /**
   * `redis://[user:password@]host[:port][/db]`, `rediss://…`,
   * `redis-sentinel://[user:password@]host[:port][,host[:port]…]/MASTER_NAME`
   * (the Sentinels, which name the master and follow its failovers) or
   * `redis-cluster://[user:password@]host[:port][,host[:port]…]` (some nodes
   * of a Redis Cluster); default: the REDIS_SERVER_URL environment variable.
   */
  serverUrl?: string;
  /** More ioredis options (tls, family, …), applied over the driver's. */
  redisOptions?: RedisOptions;
  /** How long a connection may stay silent while a reply is due before it is replaced: ms, or "30s". */
  socketTimeout?: number | string;
  /** How long opening waits to connect, in ms (or a duration such as "10s"); default 10 s, as on every driver. */
  connectTimeoutMs?: number | string;
}

declare module "@portable-pubsub/core" {
  interface TopicOptionsByScheme {
    redisstream: RedisURLOptions;
  }
  interface SubscriptionOptionsByScheme {
    redisstream: RedisURLOptions;
  }
}

const driverOptions = z
  .object({
    serverUrl: z.string().optional(),
    redisOptions: z.record(z.string(), z.unknown()).optional(),
    socketTimeout: param.duration().optional(),
    /** How long opening waits for Redis (and each connection attempt may take); default 10 s. */
    connectTimeoutMs: param.duration({ maxMs: MAX_TIMER_MS }).optional(),
  } satisfies OptionsShape<RedisURLOptions>)
  .strict();

/**
 * Returns the stream key a URL names: `redisstream://orders`, or
 * `redisstream:///app:orders` for keys with a colon, percent-decoded. Bad
 * percent-encoding or no name is InvalidArgument.
 */
export function streamName(url: URL): string {
  return resourceName(url, { driver: DRIVER, kind: "stream" });
}

function connection(options: Record<string, unknown>) {
  const parsed = parseOptions(driverOptions, options, DRIVER);
  return {
    serverUrl: resolveServerUrl(parsed.serverUrl),
    extra: (parsed.redisOptions ?? {}) as RedisOptions,
    socketTimeoutMs: parsed.socketTimeout ?? DEFAULT_SOCKET_TIMEOUT_MS,
    connectTimeoutMs: parsed.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
  };
}

/**
 * Opens `redisstream://STREAM[?maxLen=N&trim=approx|exact&declare=true|false&replicas=N]`
 * on the server of the `serverUrl` option or REDIS_SERVER_URL. With
 * `replicas=N`, a send resolves only once N replicas have it (WAIT).
 */
export const openTopicURL: TopicURLOpener = async (url, options, portable) => {
  const query = parseQuery(url, topicQuery, DRIVER, queryParameters.renamed);
  const stream = streamName(url);
  const { serverUrl, extra, socketTimeoutMs, connectTimeoutMs } = connection(options);
  const client = sharedClient(serverUrl, commandClientOptions(socketTimeoutMs, connectTimeoutMs), extra);
  const driver = new RedisTopicDriver(client, stream, {
    maxLen: query.maxLen,
    exactTrim: query.trim === "exact",
    create: query.declare,
    replicas: query.replicas,
    closeClient: true,
  });
  return new Topic(driver, portable);
};

/**
 * Opens `redisstream://STREAM?group=GROUP[&…]`: one new consumer of the
 * group. The driver's `ready`, which the URL mux awaits, creates the group
 * (with the stream), or with `declare=false` checks that it exists.
 */
export const openSubscriptionURL: SubscriptionURLOpener = async (url, options, portable) => {
  const query = parseQuery(url, subscriptionQuery, DRIVER, queryParameters.renamed);
  const stream = streamName(url);
  const { serverUrl, extra, socketTimeoutMs, connectTimeoutMs } = connection(options);
  const blockMs = query.block ?? 1000;
  const client = sharedClient(serverUrl, commandClientOptions(socketTimeoutMs, connectTimeoutMs), extra);
  // The group's reader on the shared client: one blocking connection per group, whatever the streams.
  const driver = new RedisSubscriptionDriver(
    client,
    undefined,
    { stream, group: query.group },
    {
      consumer: query.consumer,
      ackDeadlineMs: query.ackDeadline,
      idleConsumerMs: query.idleConsumerTimeout,
      blockMs,
      closeClient: true,
      createGroupAt: (query.declare ?? true) ? (query.start ?? "new") : undefined,
    },
  );
  return new Subscription(driver, portable);
};
