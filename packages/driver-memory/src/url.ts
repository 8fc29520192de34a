import {
  MAX_TIMER_MS,
  type OptionsShape,
  param,
  parseOptions,
  parseQuery,
  type QueryParameters,
  resourceName,
  resourceUrl,
  type SubscriptionURLOpener,
  type TopicURLOpener,
} from "@portable-pubsub/core/driver";
import { z } from "zod";
import { MemBroker } from "./broker.js";
import { openMemSubscription } from "./subscription.js";
import { openMemTopic } from "./topic.js";

const topicQuery = z.object({ subscription: param.name().optional() }).strict();
const subscriptionQuery = z
  .object({ subscription: param.name().optional(), ackDeadline: param.duration({ maxMs: MAX_TIMER_MS }).optional() })
  .strict();

/** What `mem://` URLs take: names of the vocabulary alone. */
export const queryParameters: QueryParameters = {
  schemas: { topic: topicQuery, subscription: subscriptionQuery },
  own: [],
  renamed: {},
};

/** The driver's own options of `openTopic` and `openSubscription` for `mem://` URLs. */
export interface MemURLOptions {
  /** The in-process broker to use instead of the default one, such as a fresh one per test. */
  broker?: MemBroker;
}

declare module "@portable-pubsub/core" {
  interface TopicOptionsByScheme {
    mem: MemURLOptions;
  }
  interface SubscriptionOptionsByScheme {
    mem: MemURLOptions;
  }
}

const driverOptions = z
  .object({ broker: z.instanceof(MemBroker).optional() } satisfies OptionsShape<MemURLOptions>)
  .strict();

/**
 * Opens `mem://TOPIC`, creating the topic if needed, or
 * `mem://TOPIC?subscription=NAME`: sends to subscription NAME alone (which
 * must exist), as `pubsub redrive` does to send a dead letter home.
 */
export const openTopicURL: TopicURLOpener = async (url, options, portable) => {
  const { subscription } = parseQuery(url, topicQuery, "mem");
  const { broker } = parseOptions(driverOptions, options, "mem");
  return openMemTopic(resourceName(url, { driver: "mem", kind: "topic" }), { ...portable, broker, subscription });
};

/**
 * Opens `mem://TOPIC` (a fresh subscription) or `mem://TOPIC?subscription=NAME`
 * (join NAME, whose consumers compete); `ackDeadline=30s` sets the redelivery
 * deadline, at most 2^31-1 ms (a timer's limit; InvalidArgument beyond). The
 * topic must exist: NotFound otherwise.
 */
export const openSubscriptionURL: SubscriptionURLOpener = async (url, options, portable) => {
  const query = parseQuery(url, subscriptionQuery, "mem");
  const { broker } = parseOptions(driverOptions, options, "mem");
  return openMemSubscription(resourceName(url, { driver: "mem", kind: "topic" }), {
    ...portable,
    broker,
    subscription: query.subscription,
    ackDeadlineMs: query.ackDeadline,
  });
};

/**
 * `mem://TOPIC?subscription=NAME` → the same URL as a topic: it sends to
 * subscription NAME alone. An anonymous subscription (`mem://TOPIC`) has no
 * name to send to: undefined. For `pubsub redrive` without a target.
 */
export function topicURLFor(subscriptionUrl: URL): string | undefined {
  const subscription = subscriptionUrl.searchParams.get("subscription");
  if (!subscription) return undefined;
  const topic = resourceName(subscriptionUrl, { driver: "mem", kind: "topic" });
  return `${resourceUrl("mem", topic)}?subscription=${encodeURIComponent(subscription)}`;
}
