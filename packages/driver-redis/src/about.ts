import type { DriverAbout } from "@portable-pubsub/core/driver";

/** Plain words about redisstream://, for tools such as `pubsub doctor`. */
export const about: DriverAbout = {
  broker: "Redis",
  server: "the REDIS_SERVER_URL environment variable (such as redis://localhost:6379)",
  topicKind: "Redis stream",
  subscriptionKind: "Redis consumer group",
  create: "create the consumer group with XGROUP CREATE STREAM GROUP $ MKSTREAM",
};
