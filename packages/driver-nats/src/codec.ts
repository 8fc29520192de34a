import type { JsMsg } from "@nats-io/jetstream";
import { headers, type MsgHdrs } from "@nats-io/transport-node";
import { CONTENT_TYPE_KEY, type DriverMessage } from "@portable-pubsub/core/driver";
import {
  DATA_CONTENT_TYPE,
  dataContentTypeHeaderOf,
  decodeAttributeValue,
  encodeAttributeValue,
  foldDataContentType,
  isAttributeHeader,
  isAttributeKey,
  looksLikeAttributeKey,
} from "./cloud-events.js";

/**
 * How metadata travels in NATS headers. A pair whose key is a valid header
 * name (printable ASCII without ":") and whose value has no line break and no
 * surrounding white space (NATS trims it) is sent as it is, so other NATS
 * programs read it as an ordinary header. Any other pair goes in a header
 * named `Pps-E-<key>` with key and value percent-encoded (encodeURIComponent),
 * so that every string round-trips exactly. Keys starting with `Nats-` (the
 * server's own headers, such as Nats-Msg-Id) or with that prefix are always
 * encoded, so that metadata can never pose as a JetStream header.
 *
 * The portable content type (`content-type`) is a plain pair, so it travels
 * as the `content-type` header other NATS programs read; a received
 * `Content-Type` header, in any case, comes back as `content-type`.
 * CloudEvents attributes (core's `ce-<name>` keys) are the NATS binding's
 * headers already: they are sent under their own name with the binding's
 * percent-encoded values (see cloud-events.ts).
 */
export const ENCODED_PREFIX = "Pps-E-";
const ENCODED_LOWER = ENCODED_PREFIX.toLowerCase();
/** The header JetStream deduplicates publishes by, within the stream's duplicate window. */
export const MSG_ID_HEADER = "Nats-Msg-Id";

/** 33–126 without ":" (58): what nats.js accepts in a header name. */
const TOKEN = /^[!-9;-~]+$/;

function plainKey(key: string): boolean {
  if (!TOKEN.test(key)) return false;
  const lower = key.slice(0, 6).toLowerCase();
  return !lower.startsWith("nats-") && !lower.startsWith(ENCODED_LOWER);
}

function plainValue(value: string): boolean {
  return !value.includes("\n") && !value.includes("\r") && value.trim() === value;
}

/** The headers of a message with this metadata; undefined when it has none. */
export function encodeMetadata(metadata: Record<string, string>): MsgHdrs | undefined {
  let h: MsgHdrs | undefined;
  for (const key in metadata) {
    const value = metadata[key] as string;
    h ??= headers();
    if (isAttributeKey(key)) h.append(key, encodeAttributeValue(value));
    else if (plainKey(key) && plainValue(value) && !looksLikeAttributeKey(key)) h.append(key, value);
    else h.append(ENCODED_PREFIX + encodeURIComponent(key), encodeURIComponent(value));
  }
  // A binary-mode event's content type also travels as the binding's ce-datacontenttype header.
  const dataContentType = dataContentTypeHeaderOf(metadata);
  if (dataContentType !== undefined) h?.append(DATA_CONTENT_TYPE, dataContentType);
  return h;
}

const NO_METADATA: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * Metadata from headers: server headers (`Nats-…`) are left out, encoded
 * pairs decoded, CloudEvents binding headers lower-cased and their values
 * percent-decoded, and a `ce-datacontenttype` folded into `content-type`.
 */
export function decodeMetadata(h: MsgHdrs | undefined): Record<string, string> {
  if (h === undefined) return NO_METADATA;
  let metadata = NO_METADATA;
  for (const [key, values] of h) {
    const head = key.slice(0, 6).toLowerCase();
    if (head.startsWith("nats-")) continue;
    if (metadata === NO_METADATA) metadata = {};
    const value = values[0] ?? "";
    if (head === ENCODED_LOWER) {
      try {
        metadata[decodeURIComponent(key.slice(ENCODED_PREFIX.length))] = decodeURIComponent(value);
        continue;
      } catch {
        // Not ours after all (another program's header with this prefix): kept as it is.
      }
    }
    if (isAttributeHeader(key)) metadata[key.toLowerCase()] = decodeAttributeValue(value);
    else {
      metadata[
        key.length === CONTENT_TYPE_KEY.length && key.toLowerCase() === CONTENT_TYPE_KEY ? CONTENT_TYPE_KEY : key
      ] = value;
    }
  }
  return foldDataContentType(metadata);
}

/** A driver message for a JetStream message; its ackId and native object are the JsMsg itself. */
export function toDriverMessage(m: JsMsg): DriverMessage {
  return {
    body: m.data,
    metadata: decodeMetadata(m.headers),
    ackId: m,
    loggableId: `${m.info.stream}:${m.seq}`,
    native: m,
    deliveryAttempt: m.info.deliveryCount,
  };
}
