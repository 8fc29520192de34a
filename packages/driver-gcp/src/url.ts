import { PubSub } from "@google-cloud/pubsub";
import {
  MAX_TIMER_MS,
  type OptionsShape,
  param,
  parseOptions,
  parseQuery,
  type QueryParameters,
  Subscription,
  type SubscriptionURLOpener,
  Topic,
  type TopicURLOpener,
} from "@portable-pubsub/core/driver";
import { z } from "zod";
import { createPubSub } from "./connection.js";
import { PUBSUB_LIMITS } from "./limits.js";
import { parseResourceUrl, type ResourceKind } from "./names.js";
import { GcpSubscriptionDriver } from "./subscription.js";
import { GcpTopicDriver } from "./topic.js";

const DRIVER = "gcppubsub";

const topicQuery = z
  .object({
    orderingKey: z.string().min(1, "must name a metadata key").optional(),
    maxBatchSize: param.int(1, PUBSUB_LIMITS.maxMessagesPerPublish).optional(),
    maxBatchBytes: param.byteSize().optional(),
    maxConcurrentBatches: param.int(1).optional(),
    linger: param.duration({ allowZero: true }).optional(),
    rpcTimeout: param.duration().optional(),
  })
  .strict();

const subscriptionQuery = z
  .object({
    maxOutstandingMessages: param.int(1).optional(),
    maxOutstandingBytes: param.byteSize().optional(),
    maxReceiveBatchSize: param.int(1).optional(),
    maxWait: param.duration().optional(),
    rpcTimeout: param.duration().optional(),
  })
  .strict();

/** What `gcppubsub://` URLs take: the vocabulary's names and these of Pub/Sub's own. */
export const queryParameters: QueryParameters = {
  schemas: { topic: topicQuery, subscription: subscriptionQuery },
  own: ["orderingKey", "rpcTimeout", "maxOutstandingMessages", "maxOutstandingBytes"],
  renamed: {},
};

/** The driver's own options of `openTopic` and `openSubscription` for `gcppubsub://` URLs. */
export interface GcpURLOptions {
  /** A PubSub client to use instead of building one; the caller keeps owning it. */
  client?: PubSub;
  /** `host:port` of the API, instead of PUBSUB_EMULATOR_HOST or Google's endpoint. */
  apiEndpoint?: string;
  /** How long opening waits to connect, in ms (or a duration such as "10s"); default 10 s, as on every driver. */
  connectTimeoutMs?: number | string;
}

declare module "@portable-pubsub/core" {
  interface TopicOptionsByScheme {
    gcppubsub: GcpURLOptions;
  }
  interface SubscriptionOptionsByScheme {
    gcppubsub: GcpURLOptions;
  }
}

const driverOptions = z
  .object({
    client: z.instanceof(PubSub).optional(),
    apiEndpoint: param.name().optional(),
    /** How long opening waits to connect to the endpoint; default 10 s, as on every driver. */
    connectTimeoutMs: param.duration({ maxMs: MAX_TIMER_MS }).optional(),
  } satisfies OptionsShape<GcpURLOptions>)
  .strict();

/**
 * What a URL and the driver's options say: the query through `schema`, the
 * resource's full name, and the PubSub client to use (`owned` when built
 * here, so that the driver closes it).
 */
function resolve<S extends z.ZodType>(url: URL, options: unknown, schema: S, kind: ResourceKind) {
  const query = parseQuery(url, schema, DRIVER);
  const { client, apiEndpoint, connectTimeoutMs } = parseOptions(driverOptions, options, DRIVER);
  const { projectId, path } = parseResourceUrl(url, kind);
  const pubsub = client ?? createPubSub(projectId, { apiEndpoint });
  return { query, path, pubsub, owned: client === undefined, connectTimeoutMs };
}

/**
 * Opens `gcppubsub://projects/P/topics/T` or `gcppubsub://P/T`. Query
 * parameters: `orderingKey` (the metadata key whose value is the ordering
 * key), `maxBatchSize`, `maxBatchBytes`, `maxConcurrentBatches`, `linger`,
 * `rpcTimeout`. Options: `client` (a PubSub client) or `apiEndpoint`.
 */
export const openTopicURL: TopicURLOpener = async (url, options, portable) => {
  const { query, path, pubsub, owned, connectTimeoutMs } = resolve(url, options, topicQuery, "topics");
  const driver = new GcpTopicDriver(pubsub, path, {
    ownsClient: owned,
    connectTimeoutMs,
    orderingKeyFrom: query.orderingKey,
    rpcTimeoutMs: query.rpcTimeout,
  });
  const batching = {
    ...definedOnly({
      maxBatchSize: query.maxBatchSize,
      maxBatchBytes: query.maxBatchBytes,
      maxConcurrentBatches: query.maxConcurrentBatches,
      lingerMs: query.linger,
    }),
    ...portable.batching,
  };
  return new Topic(driver, { ...portable, batching });
};

/**
 * Opens `gcppubsub://projects/P/subscriptions/S` or `gcppubsub://P/S`. Query
 * parameters: `maxOutstandingMessages`, `maxOutstandingBytes` (flow control),
 * `maxReceiveBatchSize`, `maxWait`, `rpcTimeout`. Options: `client` or `apiEndpoint`.
 */
export const openSubscriptionURL: SubscriptionURLOpener = async (url, options, portable) => {
  const { query, path, pubsub, owned, connectTimeoutMs } = resolve(url, options, subscriptionQuery, "subscriptions");
  const driver = new GcpSubscriptionDriver(pubsub, path, {
    ownsClient: owned,
    connectTimeoutMs,
    maxOutstandingMessages: query.maxOutstandingMessages,
    maxOutstandingBytes: query.maxOutstandingBytes,
    rpcTimeoutMs: query.rpcTimeout,
    maxWaitMs: query.maxWait,
  });
  return new Subscription(driver, {
    ...definedOnly({ maxReceiveBatchSize: query.maxReceiveBatchSize }),
    ...portable,
  });
};

function definedOnly<T extends Record<string, unknown>>(record: T): Partial<T> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as Partial<T>;
}
