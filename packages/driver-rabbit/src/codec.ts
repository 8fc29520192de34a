/**
 * How a portable message maps onto AMQP: the body is the content, bytes
 * unchanged; metadata travels as string headers.
 */
import type { DriverMessage } from "@portable-pubsub/core";
import type { ConsumeMessage } from "amqplib";

/** The body as a Buffer, without copying (amqplib accepts only Buffers). */
export function contentOf(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** Headers back to metadata: strings stay strings; other values that foreign publishers set are stringified. */
export function metadataOf(headers: Record<string, unknown> | undefined): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (!headers) return metadata;
  for (const key of Object.keys(headers)) {
    const value = headers[key];
    if (typeof value === "string") metadata[key] = value;
    else if (Buffer.isBuffer(value)) metadata[key] = value.toString("utf8");
    else if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
      metadata[key] = String(value);
    } else if (value !== undefined && value !== null) metadata[key] = JSON.stringify(value);
  }
  return metadata;
}

/** A received delivery as the portable layer sees it; `ackId` is set by the consumer. */
export function toDriverMessage(message: ConsumeMessage, ackId: unknown): DriverMessage {
  const properties = message.properties;
  const deliveryCount = properties.headers?.["x-delivery-count"];
  const driverMessage: DriverMessage = {
    body: message.content,
    metadata: metadataOf(properties.headers),
    ackId,
    loggableId: typeof properties.messageId === "string" ? properties.messageId : String(message.fields.deliveryTag),
    native: message,
  };
  // Quorum queues count deliveries; classic queues only say whether a message was delivered before.
  if (typeof deliveryCount === "number") driverMessage.deliveryAttempt = deliveryCount + 1;
  return driverMessage;
}
