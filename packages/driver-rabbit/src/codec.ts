/**
 * How a portable message maps onto AMQP: the body is the content, bytes
 * unchanged; the message id is the AMQP `message_id` property; metadata
 * travels as string headers, except the portable content type
 * (`content-type`), which travels in the AMQP `content_type` property, where
 * other AMQP programs look for it.
 */
import {
  CLOUD_EVENTS_PREFIX,
  CONTENT_TYPE_KEY,
  type DriverMessage,
  invalidArgument,
  newMessageId,
  type PubSubError,
} from "@portable-pubsub/core/driver";
import type { ConsumeMessage, Options } from "amqplib";

/** The body as a Buffer, without copying (amqplib accepts only Buffers). */
export function contentOf(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * The header of a copy that `redeliver` published: how many deliveries the
 * message had when it was made (the failed delivery's `deliveryAttempt`),
 * hand-backs included.
 */
export const ATTEMPTS_HEADER = "x-pubsub-attempts";

/**
 * The header of a copy that `redeliver` published: how many of the
 * message's deliveries had failed when it was made, the one that made it
 * included (its `failedAttempts` + 1). Hand-backs are not failures.
 */
export const FAILURES_HEADER = "x-pubsub-failures";

/**
 * Headers that are bookkeeping, not the sender's metadata: the attempts and
 * failures headers, a quorum queue's delivery count (in `deliveryAttempt`
 * and `failedAttempts`), and those RabbitMQ adds when it dead-letters a
 * message (as a delay queue hands a copy back).
 */
export function isInternalHeader(key: string): boolean {
  return (
    key === ATTEMPTS_HEADER ||
    key === FAILURES_HEADER ||
    key === "x-delivery-count" ||
    key === "x-death" ||
    key.startsWith("x-first-death-") ||
    key.startsWith("x-last-death-")
  );
}

/**
 * Headers back to metadata: strings stay strings; other values that foreign
 * publishers set are stringified; internal headers are left out. The
 * CloudEvents binding's `cloudEvents_<name>` (or `cloudEvents:<name>`)
 * headers come back as core's `ce-<name>` keys.
 */
export function metadataOf(headers: Record<string, unknown> | undefined): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (!headers) return metadata;
  for (const key of Object.keys(headers)) {
    const value = headers[key];
    if (isInternalHeader(key)) continue;
    const attribute = attributeOfHeader(key);
    if (attribute !== undefined) {
      const text = attributeValueOf(attribute, value);
      if (text !== undefined) metadata[CLOUD_EVENTS_PREFIX + attribute] = text;
      continue;
    }
    if (typeof value === "string") metadata[key] = value;
    else if (Buffer.isBuffer(value)) metadata[key] = value.toString("utf8");
    else if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
      metadata[key] = String(value);
    } else if (value !== undefined && value !== null) metadata[key] = JSON.stringify(value);
  }
  return metadata;
}

/**
 * The headers and `content_type` property of a message with this metadata:
 * the `content-type` key goes in the property, the rest in headers, a
 * CloudEvents attribute's `ce-<name>` key as the binding's
 * `cloudEvents_<name>` application property.
 */
export function publishPropertiesOf(metadata: Record<string, string>): {
  headers: Record<string, string>;
  contentType?: string;
} {
  const contentType = metadata[CONTENT_TYPE_KEY];
  if (contentType === undefined) return { headers: headersOf(metadata) };
  const headers: Record<string, string> = {};
  for (const key of Object.keys(metadata)) if (key !== CONTENT_TYPE_KEY) headers[key] = metadata[key] as string;
  return { headers: headersOf(headers), contentType };
}

/** A delivery's metadata: its headers, and its `content_type` property under `content-type`. */
function deliveryMetadataOf(properties: ConsumeMessage["properties"]): Record<string, string> {
  const metadata = metadataOf(properties.headers);
  if (typeof properties.contentType === "string") metadata[CONTENT_TYPE_KEY] = properties.contentType;
  return metadata;
}

/** A header's value as a count: a non-negative integer, or undefined. */
function countOf(value: unknown): number | undefined {
  const n = typeof value === "string" && /^\d{1,15}$/.test(value) ? Number(value) : value;
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * Which delivery of its message this is, 1 for the first: the deliveries
 * that failed before a redelivered copy was made (its attempts header),
 * plus those of this copy that the queue counted: a quorum queue's
 * `x-delivery-count` (kept by the queue, so across consumer restarts;
 * absent on a first delivery), else a classic queue's redelivered flag,
 * which says only "delivered before", counted as one.
 */
export function deliveryAttemptOf(message: ConsumeMessage): number {
  const headers = message.properties.headers;
  const failedBefore = countOf(headers?.[ATTEMPTS_HEADER]) ?? 0;
  const returned = countOf(headers?.["x-delivery-count"]) ?? (message.fields.redelivered ? 1 : 0);
  return failedBefore + returned + 1;
}

/**
 * How many earlier deliveries of the message failed: what the failures
 * header of a redelivered copy says, 0 on a message never copied (every
 * failure makes a copy; a hand-back or a closed channel is no failure). A
 * copy made before the failures header existed counts its attempts header,
 * which was what `maxAttempts` counted then.
 */
export function failedAttemptsOf(message: ConsumeMessage): number {
  const headers = message.properties.headers;
  return countOf(headers?.[FAILURES_HEADER]) ?? countOf(headers?.[ATTEMPTS_HEADER]) ?? 0;
}

/**
 * A received delivery as the portable layer sees it; `ackId` is set by the
 * consumer. Its id is the `message_id` property. A message published
 * without one (by another AMQP program) has nothing stable to stand in:
 * delivery tags are per channel and change on redelivery. It gets a new
 * UUIDv7 on each delivery instead, unique but not the same across
 * redeliveries, until it first fails: the copy `redeliver` publishes carries
 * that id as its `message_id`, so from then on it stays.
 */
export function toDriverMessage(message: ConsumeMessage, ackId: unknown): DriverMessage {
  const properties = message.properties;
  const messageId =
    typeof properties.messageId === "string" && properties.messageId !== "" ? properties.messageId : undefined;
  return {
    id: messageId ?? newMessageId(),
    body: message.content,
    metadata: deliveryMetadataOf(properties),
    ackId,
    loggableId: messageId ?? String(message.fields.deliveryTag),
    native: message,
    deliveryAttempt: deliveryAttemptOf(message),
    failedAttempts: failedAttemptsOf(message),
  };
}

/** AMQP short strings (header names, routing keys) hold at most 255 bytes. */
const SHORT_STRING = 255;
/** amqplib encodes a headers table into a 64 KiB buffer; leave room for the other properties. */
const HEADERS_BUDGET = 60 * 1024;
/**
 * A content header frame without headers or message id: frame header (7),
 * class id, weight, body size and property flags (14), delivery mode (1),
 * the headers table's length (4), frame end (1).
 */
const HEADER_FRAME_BASE = 27;

/**
 * The size of the content header frame that carries a message's properties
 * (as the publisher sets them: headers, a message id, the delivery mode).
 * It must fit in one frame of the connection's frame_max, unlike the body,
 * which is split over as many frames as it needs.
 */
export function headerFrameBytes(metadata: Record<string, string>, messageIdBytes: number): number {
  return HEADER_FRAME_BASE + 1 + messageIdBytes + headersBytes(metadata);
}

/**
 * A string-valued headers table's entries: name (1 + n), type tag (1), value
 * length (4) and value; each key counted under its header name.
 */
function headersBytes(metadata: Record<string, string>): number {
  let bytes = 0;
  for (const key of Object.keys(metadata)) {
    bytes += Buffer.byteLength(headerNameOf(key)) + Buffer.byteLength(metadata[key] ?? "") + 6;
  }
  return bytes;
}

/** Properties that are AMQP short strings: a length byte, then the bytes. */
const SHORT_STRING_PROPERTIES = [
  "contentType",
  "contentEncoding",
  "correlationId",
  "replyTo",
  "expiration",
  "messageId",
  "type",
  "userId",
  "appId",
] as const;

/**
 * An upper bound of the content header frame's size for any properties,
 * such as a redelivered copy's, whose headers may hold values of any AMQP
 * type: exact for strings, byte arrays and tables, and up to 8 bytes over
 * per number (counted as 64-bit, which amqplib may encode smaller).
 */
export function propertiesFrameBytes(properties: Options.Publish): number {
  // The frame without optional properties: frame header (7), class, weight, body size and flags (14), frame end (1).
  let bytes = HEADER_FRAME_BASE - 5;
  for (const key of SHORT_STRING_PROPERTIES) {
    const value = properties[key];
    if (value !== undefined) bytes += 1 + Buffer.byteLength(String(value));
  }
  if (properties.deliveryMode !== undefined || properties.persistent !== undefined) bytes += 1;
  if (properties.priority !== undefined) bytes += 1;
  if (properties.timestamp !== undefined) bytes += 8;
  if (properties.headers !== undefined) bytes += 4 + tableBytes(properties.headers);
  return bytes;
}

function tableBytes(table: Record<string, unknown>): number {
  let bytes = 0;
  for (const key of Object.keys(table)) bytes += 1 + Buffer.byteLength(key) + fieldBytes(table[key]);
  return bytes;
}

/** One field value with its type tag, as amqplib encodes it, numbers counted at their largest. */
function fieldBytes(value: unknown): number {
  if (typeof value === "string") return 5 + Buffer.byteLength(value);
  if (Buffer.isBuffer(value)) return 5 + value.length;
  if (Array.isArray(value)) return 5 + value.reduce((sum: number, item) => sum + fieldBytes(item), 0);
  if (typeof value === "object" && value !== null) {
    // amqplib's typed values ({ "!": "timestamp", value }) hold at most 8 bytes.
    if (Object.hasOwn(value, "!")) return 9;
    return 5 + tableBytes(value as Record<string, unknown>);
  }
  return 9;
}

/**
 * Throws InvalidArgument, naming the problem and the fix, for a message AMQP
 * cannot carry: a header name or routing key over 255 bytes, headers over
 * amqplib's table buffer, or properties that do not fit in one frame of
 * `frameMax` bytes (the connection's; a broker closes the whole connection
 * with 501 for a frame over it).
 */
export function checkAmqpLimits(message: DriverMessage, routingKey: string, frameMax: number): void {
  for (const key of Object.keys(message.metadata)) {
    const keyBytes = Buffer.byteLength(headerNameOf(key));
    if (keyBytes > SHORT_STRING) {
      throw invalidArgument(
        `send: metadata key "${key.slice(0, 40)}…" is ${keyBytes} bytes; AMQP header names hold at most ${SHORT_STRING}`,
      );
    }
  }
  const contentType = message.metadata[CONTENT_TYPE_KEY];
  if (contentType !== undefined && Buffer.byteLength(contentType) > SHORT_STRING) {
    throw invalidArgument(
      `send: the content type (metadata "${CONTENT_TYPE_KEY}") is ${Buffer.byteLength(contentType)} bytes; AMQP's content_type holds at most ${SHORT_STRING}`,
    );
  }
  const bytes = headersBytes(message.metadata);
  if (bytes > HEADERS_BUDGET) {
    throw invalidArgument(
      `send: metadata takes ${bytes} bytes as AMQP headers; at most ${HEADERS_BUDGET} fit, whatever the frameMax ` +
        `(amqplib encodes headers in a 64 KiB buffer); ${LESS_METADATA}`,
    );
  }
  const keyBytes = Buffer.byteLength(routingKey);
  if (keyBytes > SHORT_STRING) {
    throw invalidArgument(`send: the routing key is ${keyBytes} bytes; AMQP routing keys hold at most ${SHORT_STRING}`);
  }
  // Without an id (a driver used without core), the publisher makes one of fewer than 32 bytes.
  const messageIdBytes = message.id === undefined ? 32 : Buffer.byteLength(message.id);
  const frameBytes = HEADER_FRAME_BASE + 1 + messageIdBytes + bytes;
  if (frameBytes > frameMax) throw tooLargeForFrame(frameBytes, frameMax);
}

/** The way out of every metadata size limit. */
const LESS_METADATA = "send less metadata (put large values in the body)";

/** InvalidArgument for properties that need `frameBytes` in a connection whose frame_max is `frameMax`. */
export function tooLargeForFrame(frameBytes: number, frameMax: number): PubSubError {
  return invalidArgument(
    `send: the message's metadata needs a ${frameBytes}-byte AMQP header frame, over the connection's frame_max ${frameMax}; ` +
      `${LESS_METADATA}, or raise frameMax in the server URL and frame_max on the broker`,
  );
}

/*
 * The CloudEvents AMQP protocol binding, binary mode: a portable `ce-<name>`
 * metadata key (core's convention for an event attribute) travels as the
 * application property (AMQP 0-9-1 header) `cloudEvents_<name>`, the
 * separator the binding prefers. Received, both `cloudEvents_<name>` and
 * `cloudEvents:<name>` come back as `ce-<name>`, their values, native AMQP
 * types included, as the attribute's canonical string. The data's content
 * type (`datacontenttype`) is the message's, in `content_type`.
 */

/** The binding's prefix, with the `_` separator that JMS 2.0 selectors also accept. */
export const AMQP_CLOUD_EVENTS_PREFIX = "cloudEvents_";
/** The binding's other separator, which consumers "SHOULD understand". */
const COLON_PREFIX = "cloudEvents:";
/** An attribute name: lower-case a-z and 0-9 (a `ce-` key with another tail is plain metadata). */
const ATTRIBUTE_NAME = /^[a-z0-9]+$/;

/** The header name of metadata key `key`: `cloudEvents_<name>` for an attribute's `ce-<name>`, else `key`. */
export function headerNameOf(key: string): string {
  if (!key.startsWith(CLOUD_EVENTS_PREFIX)) return key;
  const name = key.slice(CLOUD_EVENTS_PREFIX.length);
  return ATTRIBUTE_NAME.test(name) ? AMQP_CLOUD_EVENTS_PREFIX + name : key;
}

/** The attribute name of a binding header (`cloudEvents_id`, `cloudEvents:id`), or undefined for any other. */
export function attributeOfHeader(key: string): string | undefined {
  if (!key.startsWith(AMQP_CLOUD_EVENTS_PREFIX) && !key.startsWith(COLON_PREFIX)) return undefined;
  const name = key.slice(AMQP_CLOUD_EVENTS_PREFIX.length);
  return ATTRIBUTE_NAME.test(name) ? name : undefined;
}

/**
 * An attribute's canonical string from a header value of any AMQP type, as
 * the binding requires a receiver to read them: strings as they are,
 * booleans and integers in decimal, binary in Base64, and a timestamp
 * (amqplib gives `{ "!": "timestamp", value }`, seconds since the epoch, as
 * AMQP 0-9-1 has them) in RFC 3339; a plain number for `time` is taken as
 * such seconds too. Undefined for a value no attribute can have.
 */
export function attributeValueOf(name: string, value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (Buffer.isBuffer(value)) return value.toString("base64");
  if (typeof value === "boolean") return String(value);
  if (typeof value === "number" || typeof value === "bigint") {
    return name === "time" ? timestampOf(Number(value)) : String(value);
  }
  if (typeof value === "object" && value !== null && (value as { "!"?: unknown })["!"] === "timestamp") {
    return timestampOf(Number((value as { value?: unknown }).value));
  }
  return undefined;
}

/** Seconds since the epoch as RFC 3339, or undefined when they are no time. */
function timestampOf(seconds: number): string | undefined {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** Headers for `metadata`: each attribute key renamed to the binding's, other keys as they are. */
export function headersOf(metadata: Record<string, string>): Record<string, string> {
  const keys = Object.keys(metadata);
  // Most messages are no CloudEvents: they are sent without a copy.
  if (!keys.some((key) => key.startsWith(CLOUD_EVENTS_PREFIX))) return metadata;
  const headers: Record<string, string> = {};
  for (const key of keys) headers[headerNameOf(key)] = metadata[key] as string;
  return headers;
}
