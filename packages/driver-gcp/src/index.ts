/**
 * @portable-pubsub/driver-gcp: `gcppubsub://`, Google Cloud Pub/Sub through
 * @google-cloud/pubsub. URLs name `projects/P/topics/T` and
 * `projects/P/subscriptions/S` (or `P/T`, `P/S`); the client speaks to
 * `PUBSUB_EMULATOR_HOST` when it is set, and to Google with Application
 * Default Credentials otherwise.
 */

export { about } from "./about.js";
export { EMPTY_MARKER_KEY } from "./codec.js";
export { createPubSub, type EndpointOptions } from "./connection.js";
export { GrpcStatus, gcpErrors, grpcStatus } from "./errors.js";
export { checkMessage, PUBSUB_LIMITS } from "./limits.js";
export { parseResourceUrl, type ResourceName } from "./names.js";
export {
  GcpSubscriptionDriver,
  type GcpSubscriptionDriverOptions,
  type GcpSubscriptionOptions,
  openGcpSubscription,
  type ReceivedMessage,
} from "./subscription.js";
export { GcpTopicDriver, type GcpTopicDriverOptions, type GcpTopicOptions, openGcpTopic } from "./topic.js";
export { type GcpURLOptions, openSubscriptionURL, openTopicURL, queryParameters } from "./url.js";
