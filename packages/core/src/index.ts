/**
 * @portable-pubsub/core: the portable publish/subscribe API. Application code
 * uses `openTopic`, `openSubscription`, `Topic`, `Subscription`, `Message` and
 * `PubSubError`; driver authors implement the interfaces in `./driver`.
 */
export { sleep, throwIfAborted } from "./abort.js";
export { Batcher, type BatcherOptions } from "./batcher.js";
export type { BatchLimits, DriverBase, DriverMessage, SubscriptionDriver, TopicDriver } from "./driver/driver.js";
export {
  canceledError,
  ErrorCode,
  errorAs,
  errorCode,
  invalidArgument,
  PubSubError,
  redactUrl,
} from "./errors.js";
export { type CallOptions, DriverHandle } from "./handle.js";
export { type Health, type HealthSource, type HealthState, HealthTracker } from "./health.js";
export type { Check, Inspection, UrlInspector } from "./inspect.js";
export { Message } from "./message.js";
export {
  builtinDrivers,
  type DriverModule,
  defaultURLMux,
  type OpenSubscriptionOptions,
  type OpenTopicOptions,
  openSubscription,
  openTopic,
  type SubscriptionURLOpener,
  type TopicURLOpener,
  URLMux,
} from "./mux.js";
export { describeUrl, parseDurationMs, parseOptions, parseQuery } from "./options.js";
export { backoffDelay, defaultRetryOptions, type RetryOptions, withRetry } from "./retry.js";
export { type ProcessOptions, Subscription, type SubscriptionOptions } from "./subscription.js";
export { type SendBatching, Topic, type TopicOptions } from "./topic.js";
export type { OutgoingMessage } from "./validate.js";
export { WakeUp } from "./wakeup.js";
