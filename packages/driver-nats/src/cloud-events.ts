/**
 * The CloudEvents NATS protocol binding, binary mode. Core's portable
 * `ce-<name>` metadata keys are the binding's header names already; what
 * the binding adds is the encoding of their values (percent-encoding of
 * space, `"`, `%` and anything outside printable ASCII, so that any
 * attribute string fits in a header) and the `ce-datacontenttype` header,
 * which carries the data's content type (core's `content-type` key) beside
 * the attributes.
 */
import { CLOUD_EVENTS_PREFIX, CONTENT_TYPE_KEY } from "@portable-pubsub/core/driver";

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
