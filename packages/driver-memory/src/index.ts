/**
 * @portable-pubsub/driver-memory: `mem://`, an in-process broker. It is the
 * embedded default: no server, nothing to configure. Messages live in this
 * process only; a send that no subscription would receive fails with
 * FailedPrecondition rather than drop the message.
 */

export { about } from "./about.js";
export { defaultMemBroker, MemBroker, SubscriptionState } from "./broker.js";
export { MemSubscriptionDriver, type MemSubscriptionOptions, openMemSubscription } from "./subscription.js";
export { MemTopicDriver, type MemTopicOptions, openMemTopic } from "./topic.js";
export { type MemURLOptions, openSubscriptionURL, openTopicURL, queryParameters, topicURLFor } from "./url.js";
