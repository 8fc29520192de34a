import type { JsMsg } from "@nats-io/jetstream";
import { headers, type MsgHdrs } from "@nats-io/transport-node";
import {
  CLOUD_EVENTS_PREFIX,
  CONTENT_TYPE_KEY,
  type DriverMessage,
  ESCAPED_HEADER_PREFIX,
  HeaderMetadata,
} from "@portable-pubsub/core/driver";

/**
 * How metadata travels in NATS headers: the kit's HeaderMetadata. A pair
 * whose key is a valid header name (printable ASCII without ":") and whose
 * value has no line break and no surrounding white space (NATS trims it) is
 * sent as it is, so other NATS programs read it as an ordinary header. Any
 * other pair goes in a header named `Pps-E-<key>` with key and value
 * percent-encoded, so that every string round-trips exactly. Keys starting
 * with `Nats-` (the server's own headers, such as Nats-Msg-Id) or with that
 * prefix are always encoded, so that metadata can never pose as a JetStream
 * header; received `Nats-` headers are left out of the metadata.
 *
 * The portable content type (`content-type`) is a plain pair, so it travels
 * as the `content-type` header other NATS programs read; a received
 * `Content-Type` header, in any case, comes back as `content-type`.
 * CloudEvents attributes (core's `ce-<name>` keys) are the NATS binding's
 * headers already: they are sent under their own name with the binding's
 * percent-encoded values (see the CloudEvents section below).
 */
export const ENCODED_PREFIX = ESCAPED_HEADER_PREFIX;
/** The header JetStream deduplicates publishes by, within the stream's duplicate window. */
export const MSG_ID_HEADER = "Nats-Msg-Id";

/** What nats.js accepts in a header name: 33–126 without ":" (58). */
const TOKEN = /^[!-9;-~]+$/;
const metadataHeaders = new HeaderMetadata({
  reservedPrefixes: ["Nats-"],
  canonicalKeys: [CONTENT_TYPE_KEY],
  // A key that would read as a binding header without being one (Ce-Id) is escaped, or it would come back as ce-id.
  plainKey: (key) => TOKEN.test(key) && !looksLikeAttributeKey(key),
  // CloudEvents attributes go as the binding's headers, after the other pairs.
  valueEncoding: (key) => (isAttributeKey(key) ? encodeAttributeValue : undefined),
});

/** The headers of a message with this metadata; undefined when it has none. */
export function encodeMetadata(metadata: Record<string, string>): MsgHdrs | undefined {
  let h: MsgHdrs | undefined;
  for (const [name, value] of metadataHeaders.encode(metadata)) {
    h ??= headers();
    h.append(name, value);
  }
  // A binary-mode event's content type also travels as the binding's ce-datacontenttype header.
  const dataContentType = dataContentTypeHeaderOf(metadata);
  if (dataContentType !== undefined) h?.append(DATA_CONTENT_TYPE, dataContentType);
  return h;
}

/** Each header's name and first value; CloudEvents binding headers lower-cased, their values percent-decoded. */
function* firstValues(h: MsgHdrs): Generator<[string, string]> {
  for (const [key, values] of h) {
    const value = values[0] ?? "";
    if (isAttributeHeader(key)) yield [key.toLowerCase(), decodeAttributeValue(value)];
    else yield [key, value];
  }
}

/**
 * Metadata from headers: server headers (`Nats-…`) are left out, encoded
 * pairs decoded, CloudEvents binding headers lower-cased and their values
 * percent-decoded, and a `ce-datacontenttype` folded into `content-type`.
 */
export function decodeMetadata(h: MsgHdrs | undefined): Record<string, string> {
  return foldDataContentType(metadataHeaders.decode(h === undefined ? [] : firstValues(h)));
}

/**
 * A driver message for a JetStream message; its ackId and native object are
 * the JsMsg itself. Its id is its Nats-Msg-Id header; a message published
 * without one (by another program) has `<stream>:<stream sequence>`, which
 * its redeliveries keep.
 */
export function toDriverMessage(m: JsMsg): DriverMessage {
  const loggableId = `${m.info.stream}:${m.seq}`;
  return {
    id: m.headers?.get(MSG_ID_HEADER) || loggableId,
    body: m.data,
    metadata: decodeMetadata(m.headers),
    ackId: m,
    loggableId,
    native: m,
    deliveryAttempt: m.info.deliveryCount,
  };
}

/*
 * The CloudEvents NATS protocol binding, binary mode. Core's portable
 * `ce-<name>` metadata keys are the binding's header names already; what
 * the binding adds is the encoding of their values (percent-encoding of
 * space, `"`, `%` and anything outside printable ASCII, so that any
 * attribute string fits in a header) and the `ce-datacontenttype` header,
 * which carries the data's content type (core's `content-type` key) beside
 * the attributes.
 */

/** A header that is a CloudEvents attribute: `ce-` and a name of a-z and 0-9 (header names ignore case). */
const ATTRIBUTE_HEADER = /^ce-[a-z0-9]+$/i;
/** The binding's header for the data's content type. */
export const DATA_CONTENT_TYPE = `${CLOUD_EVENTS_PREFIX}datacontenttype`;

/** Whether metadata `key` travels as a binding header: `ce-` and an attribute name, all lower case. */
export function isAttributeKey(key: string): boolean {
  return ATTRIBUTE_HEADER.test(key) && key === key.toLowerCase();
}

/**
 * Whether metadata `key` would read as a binding header if sent as it is,
 * without being one (`Ce-Id`, `CE-ID`): such a key must be sent encoded, or
 * it would come back lower-cased.
 */
export function looksLikeAttributeKey(key: string): boolean {
  return ATTRIBUTE_HEADER.test(key) && key !== key.toLowerCase();
}

/** Whether header `key` (any case) is a binding header. */
export function isAttributeHeader(key: string): boolean {
  return ATTRIBUTE_HEADER.test(key);
}

/**
 * The binding's header value of an attribute: "Space (U+0020),
 * Double-quote (U+0022), Percent (U+0025), Any characters outside the
 * printable ASCII range of U+0021-U+007E" percent-encoded as UTF-8 bytes.
 */
export function encodeAttributeValue(value: string): string {
  let out = "";
  for (const ch of value) {
    const code = ch.codePointAt(0) as number;
    if (code > 0x20 && code < 0x7f && ch !== '"' && ch !== "%") out += ch;
    else for (const byte of Buffer.from(ch, "utf8")) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * An attribute from its header value: a double-quoted value unquoted
 * (older senders), then one round of percent-decoding. A value that does
 * not decode (a lone `%`, bytes that are not UTF-8) is kept as it is.
 */
export function decodeAttributeValue(value: string): string {
  let text = value;
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) {
    text = text.slice(1, -1).replace(/\\(.)/g, "$1");
  }
  if (!text.includes("%")) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The `ce-datacontenttype` header value to add for `metadata`, if any: a
 * binary-mode event (it has `ce-specversion`) with a content type that is
 * not an event format's carries it there too, as the binding maps it.
 */
export function dataContentTypeHeaderOf(metadata: Record<string, string>): string | undefined {
  const contentType = metadata[CONTENT_TYPE_KEY];
  if (contentType === undefined || metadata[`${CLOUD_EVENTS_PREFIX}specversion`] === undefined) return undefined;
  if (metadata[DATA_CONTENT_TYPE] !== undefined) return undefined;
  if (contentType.trim().toLowerCase().startsWith("application/cloudevents")) return undefined;
  return encodeAttributeValue(contentType);
}

/**
 * Received metadata with `ce-datacontenttype` folded into the content type:
 * it becomes `content-type` when the message has none (a sender that
 * follows the binding alone), and is dropped when it only repeats it.
 */
export function foldDataContentType(metadata: Record<string, string>): Record<string, string> {
  const dataContentType = metadata[DATA_CONTENT_TYPE];
  if (dataContentType === undefined) return metadata;
  const contentType = metadata[CONTENT_TYPE_KEY];
  if (contentType !== undefined && contentType !== dataContentType) return metadata;
  const { [DATA_CONTENT_TYPE]: _, ...rest } = metadata;
  rest[CONTENT_TYPE_KEY] = dataContentType;
  return rest;
}
