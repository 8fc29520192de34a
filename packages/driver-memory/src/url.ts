import {
  invalidArgument,
  parseDurationMs,
  parseOptions,
  parseQuery,
  type SubscriptionURLOpener,
  type TopicURLOpener,
} from "@portable-pubsub/core";
import { z } from "zod";
import { MemBroker } from "./broker.js";
import { openMemSubscription } from "./subscription.js";
import { openMemTopic } from "./topic.js";

const duration = (what: string) =>
  z.unknown().transform((value, ctx) => {
    const ms = parseDurationMs(value);
    if (ms === undefined || ms <= 0) {
      ctx.addIssue({ code: "custom", message: `${what} must be a positive duration such as 500ms, 30s or 2m` });
      return z.NEVER;
    }
    return ms;
  });

const topicQuery = z.object({}).strict();
const subscriptionQuery = z
  .object({
    subscription: z.string().min(1, "must not be empty").optional(),
    ackDeadline: duration("ackDeadline").optional(),
  })
  .strict();
const driverOptions = z.object({ broker: z.instanceof(MemBroker).optional() }).strict();

function topicName(url: URL): string {
  const name = decodeURIComponent(url.host + url.pathname);
  if (!name) throw invalidArgument(`mem: "${url.href}" names no topic; use mem://TOPIC`);
  return name;
}

/** Opens `mem://TOPIC`, creating the topic if needed. No query parameters. */
export const openTopicURL: TopicURLOpener = async (url, options, portable) => {
  parseQuery(url, topicQuery, "mem");
  const { broker } = parseOptions(driverOptions, options, "mem");
  return openMemTopic(topicName(url), { ...portable, broker });
};

/**
 * Opens `mem://TOPIC` (a fresh subscription) or `mem://TOPIC?subscription=NAME`
 * (join NAME, whose consumers compete); `ackDeadline=30s` sets the redelivery
 * deadline. The topic must exist: NotFound otherwise.
 */
export const openSubscriptionURL: SubscriptionURLOpener = async (url, options, portable) => {
  const query = parseQuery(url, subscriptionQuery, "mem");
  const { broker } = parseOptions(driverOptions, options, "mem");
  const topic = topicName(url);
  return openMemSubscription(topic, {
    ...portable,
    broker,
    subscription: query.subscription,
    ackDeadlineMs: query.ackDeadline,
  });
};
