/**
 * The CloudEvents AMQP protocol binding, binary mode: a portable `ce-<name>`
 * metadata key (core's convention for an event attribute) travels as the
 * application property (AMQP 0-9-1 header) `cloudEvents_<name>`, the
 * separator the binding prefers. Received, both `cloudEvents_<name>` and
 * `cloudEvents:<name>` come back as `ce-<name>`, their values, native AMQP
 * types included, as the attribute's canonical string. The data's content
 * type (`datacontenttype`) is the message's, in `content_type`.
 */
import { CLOUD_EVENTS_PREFIX } from "@portable-pubsub/core/driver";

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
 * (amqplib gives seconds since the epoch, as AMQP 0-9-1 has them) in
 * RFC 3339 for `time`. Undefined for a value no attribute can have.
 */
export function attributeValueOf(name: string, value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (Buffer.isBuffer(value)) return value.toString("base64");
  if (typeof value === "boolean") return String(value);
  if (typeof value === "number" || typeof value === "bigint") {
    if (name === "time") {
      const date = new Date(Number(value) * 1000);
      return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
    }
    return String(value);
  }
  return undefined;
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
