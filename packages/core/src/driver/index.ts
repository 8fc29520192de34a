/**
 * @portable-pubsub/core/driver: what a driver author needs. The contract
 * (TopicDriver, SubscriptionDriver, DriverModule) and the kit every driver
 * shares, so that no driver writes its own: URL parameter parsing with one
 * vocabulary, abort and wait helpers, backoff, health reporting, the bounded
 * wait of receiveBatch, lease keeping. Cross-cutting work (batching,
 * retries, error messages, tracing, shutdown) is not here: the portable
 * Topic and Subscription do it around the driver.
 */

export { canceledError, invalidArgument, redactUnparsedUrl } from "../errors.js";
// The portable types a driver builds and returns.
export * from "../index.js";
export { builtinDrivers } from "../mux.js";
// The kit's helpers.
export { raceSignal, settledWithin, sleep, throwIfAborted } from "./abort.js";
export { Batcher, type BatcherOptions } from "./batcher.js";
export type {
  BatchLimits,
  DriverBase,
  DriverMessage,
  DriverServer,
  DriverTelemetry,
  ErrorClassifier,
  Redelivery,
  SubscriptionDriver,
  TopicDriver,
} from "./driver.js";
export { toPubSubError } from "./error-mapping.js";
export { type HealthErrorCode, type HealthSource, HealthTracker } from "./health.js";
export { HeldLeases, type HeldLeasesOptions } from "./held-leases.js";
export type { Check, Inspection, UrlInspector } from "./inspect.js";
export type { DriverAbout, DriverModule, SubscriptionURLOpener, TopicURLOpener } from "./module.js";
export { certificateHint, DEFAULT_CONNECT_TIMEOUT_MS, isCertificateError, isNetworkError } from "./network.js";
export { type DriverNotice, type NoticeSource, Notices } from "./notices.js";
export {
  type DurationBounds,
  decodeName,
  describeUrl,
  type OptionsShape,
  param,
  parseByteSize,
  parseDurationMs,
  parseOptions,
  parseQuery,
  type ResourceNaming,
  resourceName,
  resourceUrl,
} from "./params.js";
export { backoffDelay, defaultRetryOptions, withRetry } from "./retry.js";
export { StoredMessages } from "./stored-messages.js";
export { MAX_TIMER_MS } from "./timers.js";
export { WakeUp } from "./wakeup.js";
