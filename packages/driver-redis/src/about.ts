import type { DriverAbout } from "@portable-pubsub/core/driver";

/** Plain words about redisstream://, for tools such as `pubsub doctor`. */
export const about: DriverAbout = {
  broker: "Redis",
  server:
    "the REDIS_SERVER_URL environment variable (such as redis://localhost:6379, redis-sentinel://HOST:26379,…/MASTER or redis-cluster://HOST:6379,…)",
  topicKind: "Redis stream",
  subscriptionKind: "Redis consumer group",
  create: "create the consumer group with XGROUP CREATE STREAM GROUP $ MKSTREAM",
  nothingReceived(url) {
    if (url.searchParams.has("start")) return undefined;
    const stream = `${url.protocol}//${url.host}${url.pathname}`;
    return (
      "if the group was created now, note that a group created on first use starts at new messages and never sees what the " +
      `stream held before (such as dead letters); read those with a new group that starts at the beginning: ${stream}?group=NEW_GROUP&start=all`
    );
  },
};
