/**
 * How a portable message maps onto a Pub/Sub message: the body is `data`,
 * bytes unchanged; metadata travels as attributes. Pub/Sub refuses a message
 * with neither data nor attributes, so an empty message with no metadata is
 * sent with a marker attribute, which the receiving side removes again.
 */
import type { protos } from "@google-cloud/pubsub";
import type { DriverMessage } from "@portable-pubsub/core/driver";

/** A message as Publish takes it. */
export type PubsubMessage = { data: Uint8Array; attributes: Record<string, string>; orderingKey?: string };

/**
 * The attribute that stands in for the metadata of a message with an empty
 * body and no metadata, which Pub/Sub would refuse. Reserved: the subscription
 * driver removes it from such messages.
 */
export const EMPTY_MARKER_KEY = "x-portable-pubsub-empty";
const EMPTY_MARKER: Readonly<Record<string, string>> = Object.freeze({ [EMPTY_MARKER_KEY]: "1" });

/**
 * The Pub/Sub message of `message`. With `orderingKeyFrom`, the value of
 * that metadata key (when present and not empty) becomes the ordering key.
 */
export function toPubsubMessage(message: DriverMessage, orderingKeyFrom: string | undefined): PubsubMessage {
  const { body, metadata } = message;
  const attributes = body.byteLength === 0 && isEmpty(metadata) ? EMPTY_MARKER : metadata;
  const out: PubsubMessage = { data: body, attributes };
  if (orderingKeyFrom !== undefined) {
    const key = metadata[orderingKeyFrom];
    if (key) out.orderingKey = key;
  }
  return out;
}

/** The body and metadata of a message Pull returned, without the empty-message marker. */
export function fromPubsubMessage(message: protos.google.pubsub.v1.IPubsubMessage): {
  body: Uint8Array;
  metadata: Record<string, string>;
} {
  const body = toBytes(message.data);
  const attributes = (message.attributes ?? {}) as Record<string, string>;
  return { body, metadata: body.byteLength === 0 && isMarkerOnly(attributes) ? {} : attributes };
}

function toBytes(data: Uint8Array | string | null | undefined): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === "string") return Buffer.from(data, "base64");
  return new Uint8Array(0);
}

function isMarkerOnly(attributes: Record<string, string>): boolean {
  const keys = Object.keys(attributes);
  return keys.length === 1 && keys[0] === EMPTY_MARKER_KEY;
}

function isEmpty(record: Record<string, string>): boolean {
  for (const _ in record) return false;
  return true;
}
