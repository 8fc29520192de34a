/**
 * How a portable message maps onto a Pub/Sub message: the body is `data`,
 * bytes unchanged; metadata travels as attributes, and so does the message's
 * id, as the attribute `pubsub.id` (the kit's MESSAGE_ID_KEY): Pub/Sub's own
 * `messageId` is assigned per publish, so a resend would get a new one. A
 * message published without that attribute (by another program) has its
 * `messageId` as its id, which Pub/Sub keeps across redeliveries. Pub/Sub
 * refuses a message with neither data nor attributes, so an empty message
 * with no metadata and no id is sent with a marker attribute, which the
 * receiving side removes again. The content type (`content-type`) is the
 * `Content-Type` attribute, as the CloudEvents Pub/Sub binding has it (see
 * below).
 */
import type { protos } from "@google-cloud/pubsub";
import {
  CONTENT_TYPE_KEY,
  type DriverMessage,
  messageIdFromMetadata,
  messageIdToMetadata,
} from "@portable-pubsub/core/driver";

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
  const { id, body, metadata } = message;
  let attributes: Record<string, string>;
  if (id !== undefined) attributes = attributesOf(messageIdToMetadata(id, metadata));
  else attributes = body.byteLength === 0 && isEmpty(metadata) ? EMPTY_MARKER : attributesOf(metadata);
  const out: PubsubMessage = { data: body, attributes };
  if (orderingKeyFrom !== undefined) {
    const key = metadata[orderingKeyFrom];
    if (key) out.orderingKey = key;
  }
  return out;
}

/**
 * The id, body and metadata of a message Pull returned, without the id
 * attribute and the empty-message marker; the id is Pub/Sub's `messageId`
 * for a message published without the attribute.
 */
export function fromPubsubMessage(message: protos.google.pubsub.v1.IPubsubMessage): {
  id: string;
  body: Uint8Array;
  metadata: Record<string, string>;
} {
  const body = toBytes(message.data);
  const { id, metadata: attributes } = messageIdFromMetadata(
    (message.attributes ?? {}) as Record<string, string>,
    message.messageId ?? "",
  );
  return {
    id,
    body,
    metadata: body.byteLength === 0 && isMarkerOnly(attributes) ? {} : metadataOfAttributes(attributes),
  };
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

/*
 * The CloudEvents Pub/Sub binding (as the CloudEvents Go SDK's Pub/Sub
 * protocol implements it), binary mode: every attribute but
 * `datacontenttype` is a message attribute `ce-<name>`, which is core's
 * portable key already, and the data's content type is the `Content-Type`
 * attribute. So the only translation is the content type's key: core's
 * `content-type` is sent as `Content-Type`, on every message (structured
 * events' `application/cloudevents+json` too, as the binding says), and a
 * received `Content-Type` comes back as `content-type`. A message that
 * carries both keys keeps both as they are.
 */

/** The binding's attribute. */
export const PUBSUB_CONTENT_TYPE = "Content-Type";

/** The Pub/Sub attributes of a message with `metadata`. */
export function attributesOf(metadata: Record<string, string>): Record<string, string> {
  return withKeyRenamed(metadata, CONTENT_TYPE_KEY, PUBSUB_CONTENT_TYPE);
}

/** The metadata of a received message with Pub/Sub `attributes`. */
export function metadataOfAttributes(attributes: Record<string, string>): Record<string, string> {
  return withKeyRenamed(attributes, PUBSUB_CONTENT_TYPE, CONTENT_TYPE_KEY);
}

/** `record` with key `from` renamed `to`; `record` itself when it has no `from`, or has `to` already. */
function withKeyRenamed(record: Record<string, string>, from: string, to: string): Record<string, string> {
  const value = record[from];
  if (value === undefined || record[to] !== undefined) return record;
  const { [from]: _, ...rest } = record;
  rest[to] = value;
  return rest;
}
