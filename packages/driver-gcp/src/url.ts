import { PubSub } from "@google-cloud/pubsub";
import {
  parseDurationMs,
  parseOptions,
  parseQuery,
  Subscription,
  type SubscriptionURLOpener,
  Topic,
  type TopicURLOpener,
} from "@portable-pubsub/core";
import { z } from "zod";
import { createPubSub } from "./connection.js";
import { PUBSUB_LIMITS } from "./limits.js";
import { parseResourceUrl } from "./names.js";
import { GcpSubscriptionDriver } from "./subscription.js";
import { GcpTopicDriver } from "./topic.js";

const DRIVER = "gcppubsub";

const duration = (what: string, allowZero = false) =>
  z.unknown().transform((value, ctx) => {
    const ms = parseDurationMs(value);
    if (ms === undefined || (!allowZero && ms <= 0)) {
      ctx.addIssue({
        code: "custom",
        message: `${what} must be a ${allowZero ? "" : "positive "}duration such as 500ms, 30s or 2m`,
      });
      return z.NEVER;
    }
    return ms;
  });
const count = (max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(1).max(max);

const topicQuery = z
  .object({
    orderingKey: z.string().min(1, "must name a metadata key").optional(),
    maxBatchSize: count(PUBSUB_LIMITS.maxMessagesPerPublish).optional(),
    maxBatchBytes: count().optional(),
    maxConcurrentBatches: count().optional(),
    linger: duration("linger", true).optional(),
    rpcTimeout: duration("rpcTimeout").optional(),
  })
  .strict();

const subscriptionQuery = z
  .object({
    maxOutstandingMessages: count().optional(),
    maxOutstandingBytes: count().optional(),
    maxReceiveBatchSize: count().optional(),
    maxWait: duration("maxWait").optional(),
    rpcTimeout: duration("rpcTimeout").optional(),
  })
  .strict();

const driverOptions = z
  .object({
    /** A PubSub client to use instead of building one; the caller keeps owning it. */
    client: z.instanceof(PubSub).optional(),
    /** `host:port` of the API, instead of PUBSUB_EMULATOR_HOST or Google's endpoint. */
    apiEndpoint: z.string().min(1).optional(),
  })
  .strict();

/** The driver's own options of `openTopic` / `openSubscription` for `gcppubsub://` URLs. */
export type GcpURLOptions = z.input<typeof driverOptions>;

function client(projectId: string, options: z.output<typeof driverOptions>): { pubsub: PubSub; owned: boolean } {
  if (options.client) return { pubsub: options.client, owned: false };
  return { pubsub: createPubSub(projectId, { apiEndpoint: options.apiEndpoint }), owned: true };
}

/**
 * Opens `gcppubsub://projects/P/topics/T` or `gcppubsub://P/T`. Query
 * parameters: `orderingKey` (the metadata key whose value is the ordering
 * key), `maxBatchSize`, `maxBatchBytes`, `maxConcurrentBatches`, `linger`,
 * `rpcTimeout`. Options: `client` (a PubSub client) or `apiEndpoint`.
 */
export const openTopicURL: TopicURLOpener = async (url, options, portable) => {
  const query = parseQuery(url, topicQuery, DRIVER);
  const driverOpts = parseOptions(driverOptions, options, DRIVER);
  const { projectId, path } = parseResourceUrl(url, "topics");
  const { pubsub, owned } = client(projectId, driverOpts);
  const driver = new GcpTopicDriver(pubsub, path, {
    ownsClient: owned,
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
  const query = parseQuery(url, subscriptionQuery, DRIVER);
  const driverOpts = parseOptions(driverOptions, options, DRIVER);
  const { projectId, path } = parseResourceUrl(url, "subscriptions");
  const { pubsub, owned } = client(projectId, driverOpts);
  const driver = new GcpSubscriptionDriver(pubsub, path, {
    ownsClient: owned,
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
