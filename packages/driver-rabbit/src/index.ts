/**
 * @portable-pubsub/driver-rabbit: `rabbit://` through amqplib. One shared,
 * self-healing connection per server; one confirm channel per topic and one
 * consuming channel per subscription, each reopened after any loss; sends
 * settle only on a broker confirm and wait out outages; consumers resume.
 */
export { about } from "./about.js";
export { connectRabbit, RabbitConnection } from "./amqp/connection.js";
export type { RabbitNode } from "./amqp/node.js";
export type { RabbitConnectionSettings } from "./amqp/settings.js";
export type { RabbitTarget } from "./amqp/shared.js";
export type { RabbitAckId } from "./consumer.js";
export {
  declareRabbitTopology,
  type ExchangeDeclaration,
  type QueueDeclaration,
  type QueueType,
  type TopologyDeclaration,
} from "./declare.js";
export { delayQueueNames } from "./delay-queues.js";
export {
  RabbitError,
  type RabbitErrorOptions,
  type RabbitRole,
  ReplyCode,
  rabbitErrors,
  replyCodeOf,
} from "./errors.js";
export { inspectURL } from "./inspect.js";
export {
  openRabbitSubscription,
  RabbitSubscriptionDriver,
  type RabbitSubscriptionOptions,
  rabbitSubscriptionDriver,
} from "./subscription.js";
export { openRabbitTopic, RabbitTopicDriver, type RabbitTopicOptions, rabbitTopicDriver } from "./topic.js";
export { openSubscriptionURL, openTopicURL, queryParameters, type RabbitURLOptions, topicURLFor } from "./url.js";
