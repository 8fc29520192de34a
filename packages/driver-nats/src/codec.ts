import type { JsMsg } from "@nats-io/jetstream";
import { headers, type MsgHdrs } from "@nats-io/transport-node";
import {
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
 */
export const ENCODED_PREFIX = ESCAPED_HEADER_PREFIX;
/** The header JetStream deduplicates publishes by, within the stream's duplicate window. */
export const MSG_ID_HEADER = "Nats-Msg-Id";

const metadataHeaders = new HeaderMetadata({ reservedPrefixes: ["Nats-"], canonicalKeys: [CONTENT_TYPE_KEY] });

/** The headers of a message with this metadata; undefined when it has none. */
export function encodeMetadata(metadata: Record<string, string>): MsgHdrs | undefined {
  let h: MsgHdrs | undefined;
  for (const [name, value] of metadataHeaders.encode(metadata)) {
    h ??= headers();
    h.append(name, value);
  }
  return h;
}

/** Each header's name and first value. */
function* firstValues(h: MsgHdrs): Generator<[string, string]> {
  for (const [key, values] of h) yield [key, values[0] ?? ""];
}

/** Metadata from headers: server headers (`Nats-…`) are left out, encoded pairs decoded. */
export function decodeMetadata(h: MsgHdrs | undefined): Record<string, string> {
  return metadataHeaders.decode(h === undefined ? [] : firstValues(h));
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
