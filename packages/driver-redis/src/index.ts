/**
 * @portable-pubsub/driver-redis: `redisstream://`, Redis Streams with
 * consumer groups through ioredis. A topic is a stream (XADD); a
 * subscription is one consumer of a consumer group (XREADGROUP, XACK,
 * XAUTOCLAIM for the ack deadline).
 */

export { about } from "./about.js";
export { BODY_FIELD, ID_FIELD, METADATA_PREFIX, type RedisStreamEntry } from "./codec.js";
export {
  commandClientOptions,
  DEFAULT_SOCKET_TIMEOUT_MS,
  duplicateForReads,
  OPEN_TIMEOUT_MS,
  type RedisClient,
  readerClientOptions,
  SERVER_URL_ENV,
} from "./connection.js";
export { ensureGroup, type GroupStart } from "./declare.js";
export { redisErrors } from "./errors.js";
export { type RedisIdempotencyStoreOptions, redisIdempotencyStore } from "./idempotency/store.js";
export {
  openRedisSubscription,
  RedisSubscriptionDriver,
  type RedisSubscriptionOptions,
  type RedisSubscriptionSettings,
  uniqueConsumerName,
} from "./subscription.js";
export { openRedisTopic, RedisTopicDriver, type RedisTopicOptions, type RedisTopicSettings } from "./topic.js";
export { openSubscriptionURL, openTopicURL, queryParameters, type RedisURLOptions, streamName } from "./url.js";
