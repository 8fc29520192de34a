/**
 * @portable-pubsub/core: the portable publish/subscribe API for
 * applications: `openTopic`, `openSubscription`, `Topic`, `Subscription`,
 * `Message`, `PubSubError`. Driver authors import from
 * `@portable-pubsub/core/driver` instead.
 */

export { CLOUD_EVENTS_PREFIX, CLOUD_EVENTS_SPEC_VERSION } from "./codecs/cloud-event-attributes.js";
export { STRUCTURED_CONTENT_TYPE } from "./codecs/cloud-event-structured.js";
export { type CloudEventsOptions, cloudEvents } from "./codecs/cloud-events.js";
export {
  type CloudEventAttributes,
  CONTENT_TYPE_KEY,
  type Codec,
  DecodedEvent,
  decodedEvent,
  type EncodeContext,
  type EncodedMessage,
} from "./codecs/codec.js";
export { JSON_CONTENT_TYPE, type JsonCodecOptions, json } from "./codecs/json.js";
export type { AnyData, SchemaInput, SchemaOutput, StandardSchemaV1, Untyped } from "./codecs/schema.js";
export { TypedMessage } from "./codecs/typed-message.js";
export type { TypedOutgoingMessage } from "./codecs/typed-send.js";
export type { Health, HealthJSON, HealthState } from "./driver/health.js";
export type { ClaimOutcome, IdempotencyStore } from "./driver/idempotency.js";
export type { RetryOptions } from "./driver/retry.js";
export { ErrorCode, errorAs, errorCode, PubSubError, redactUrl } from "./errors.js";
export type { CallOptions } from "./handle.js";
export { type MemoryIdempotencyStoreOptions, memoryIdempotencyStore } from "./memory-idempotency-store.js";
export { Message, type NackOptions } from "./message.js";
export { MAX_MESSAGE_ID_BYTES, newMessageId } from "./message-id.js";
export {
  defaultURLMux,
  type LoadedDriver,
  openSubscription,
  openTopic,
  URLMux,
  type URLMuxOptions,
} from "./mux.js";
export type {
  OpenSignal,
  OpenSubscriptionOptions,
  OpenTopicOptions,
  SchemeOf,
  SubscriptionOptionsByScheme,
  TopicOptionsByScheme,
  TypedOpenSubscriptionOptions,
  TypedOpenTopicOptions,
} from "./open-options.js";
export type { OutgoingMessage } from "./outgoing-message.js";
export { DEAD_LETTER_PREFIX } from "./settling/dead-letter.js";
export { type IdempotencyOptions, type ProcessContext, transactionOf } from "./settling/idempotency.js";
export type { RedeliveryOptions } from "./settling/redelivery.js";
export type { AckBatching } from "./settling/settlement.js";
export {
  type MessageOf,
  type ProcessOptions,
  Subscription,
  type SubscriptionOptions,
  type SubscriptionTracing,
} from "./subscription.js";
export type { LogEvent, Logger } from "./telemetry/logger.js";
export type { TopicTracing } from "./telemetry/producer.js";
export { type SendBatching, type SendMessageOf, Topic, type TopicOptions } from "./topic.js";
