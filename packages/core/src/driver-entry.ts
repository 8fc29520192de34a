/**
 * @portable-pubsub/core/driver: what a driver author needs. The contract
 * (TopicDriver, SubscriptionDriver, DriverModule) and the kit every driver
 * shares, so that no driver writes its own: URL parameter parsing with one
 * vocabulary, abort and wait helpers, backoff, health reporting, the bounded
 * wait of receiveBatch, lease keeping. Cross-cutting work (batching,
 * retries, error messages, tracing, shutdown) is the portable Topic's and
 * Subscription's, around the driver: `Batcher`, `withRetry`, `toPubSubError`
 * and `builtinDrivers` are exported for tools and harnesses that build on
 * core, not for drivers, which must not batch, retry or map errors to
 * PubSubErrors themselves.
 */

// The kit's helpers.
export { raceSignal, settledWithin, sleep, throwIfAborted } from "./driver/abort.js";
export { Batcher, type BatcherOptions } from "./driver/batcher.js";
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
} from "./driver/driver.js";
export { DriverError, type DriverErrorOptions } from "./driver/driver-error.js";
export { toPubSubError } from "./driver/error-mapping.js";
export { type HealthErrorCode, type HealthSource, HealthTracker } from "./driver/health.js";
export { HeldLeases, type HeldLeasesOptions } from "./driver/held-leases.js";
export type { Check, Inspection, UrlInspector } from "./driver/inspect.js";
export { certificateHint, DEFAULT_CONNECT_TIMEOUT_MS, isCertificateError, isNetworkError } from "./driver/network.js";
export { type DriverNotice, type NoticeSource, Notices } from "./driver/notices.js";
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
} from "./driver/params.js";
export { backoffDelay, defaultRetryOptions, withRetry } from "./driver/retry.js";
export { StoredMessages } from "./driver/stored-messages.js";
export { MAX_TIMER_MS } from "./driver/timers.js";
export { type QueryParameters, START_VALUES, VOCABULARY, type VocabularyName } from "./driver/vocabulary.js";
export { WakeUp } from "./driver/wakeup.js";
export { canceledError, invalidArgument, redactUnparsedUrl } from "./errors.js";
// The portable types a driver builds and returns.
export * from "./index.js";
export { builtinDrivers } from "./mux.js";
export type { DriverAbout, DriverModule, SubscriptionURLOpener, TopicURLOpener } from "./openers.js";
