/**
 * @portable-pubsub/driver-memory: `mem://`, an in-process broker. It is the
 * embedded default: no server, nothing to configure. Messages live in this
 * process only; a message sent to a topic with no subscription is dropped.
 */

export { about } from "./about.js";
export { defaultMemBroker, MemBroker, SubscriptionState } from "./broker.js";
export { MemSubscriptionDriver, type MemSubscriptionOptions, openMemSubscription } from "./subscription.js";
export { MemTopicDriver, type MemTopicOptions, openMemTopic } from "./topic.js";
export { type MemURLOptions, openSubscriptionURL, openTopicURL } from "./url.js";
