/**
 * @portable-pubsub/driver-nats: `nats://`, NATS JetStream through the
 * official `@nats-io` clients (transport-node and jetstream 3.x). A topic
 * publishes to a subject and resolves on the stream's PubAck, with the
 * message's id as its Nats-Msg-Id so that a re-send is stored once; a subscription
 * is one puller of a durable pull consumer, with explicit acks.
 */
export { about } from "./about.js";
export { decodeMetadata, ENCODED_PREFIX, encodeMetadata, MSG_ID_HEADER } from "./codec.js";
export {
  CONNECT_TIMEOUT_MS,
  connectionOptions,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  NatsLink,
} from "./connection.js";
export { type ConsumerDeclaration, streamNameFor } from "./declare.js";
export { ConnectionLostError, JsErrCode, NatsDriverError, natsErrors } from "./errors.js";
export { inspectURL } from "./inspect.js";
export { parseServerUrls, resolveServers, SERVER_URL_ENV, type ServerSettings } from "./server.js";
export {
  DEFAULT_PREFETCH,
  type NatsDeclaration,
  NatsSubscriptionDriver,
  type NatsSubscriptionOptions,
  type NatsSubscriptionSettings,
  openNatsSubscription,
} from "./subscription.js";
export { NatsTopicDriver, type NatsTopicOptions, type NatsTopicSettings, openNatsTopic } from "./topic.js";
export {
  type NatsURLOptions,
  openSubscriptionURL,
  openTopicURL,
  queryParameters,
  streamName,
  subjectName,
} from "./url.js";
