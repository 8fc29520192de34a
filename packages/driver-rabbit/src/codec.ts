/**
 * How a portable message maps onto AMQP: the body is the content, bytes
 * unchanged; metadata travels as string headers.
 */
import { type DriverMessage, invalidArgument } from "@portable-pubsub/core/driver";
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

/** AMQP short strings (header names, routing keys) hold at most 255 bytes. */
const SHORT_STRING = 255;
/** amqplib encodes a headers table into a 64 KiB buffer; leave room for the other properties. */
const HEADERS_BUDGET = 60 * 1024;

/** Throws InvalidArgument, naming the problem, for a message AMQP cannot carry. */
export function checkAmqpLimits(message: DriverMessage, routingKey: string): void {
  let bytes = 0;
  for (const key of Object.keys(message.metadata)) {
    const keyBytes = Buffer.byteLength(key);
    if (keyBytes > SHORT_STRING) {
      throw invalidArgument(
        `send: metadata key "${key.slice(0, 40)}…" is ${keyBytes} bytes; AMQP header names hold at most ${SHORT_STRING}`,
      );
    }
    bytes += keyBytes + Buffer.byteLength(message.metadata[key] ?? "") + 6;
  }
  if (bytes > HEADERS_BUDGET) {
    throw invalidArgument(`send: metadata takes ${bytes} bytes as AMQP headers; at most ${HEADERS_BUDGET} fit`);
  }
  const keyBytes = Buffer.byteLength(routingKey);
  if (keyBytes > SHORT_STRING) {
    throw invalidArgument(`send: the routing key is ${keyBytes} bytes; AMQP routing keys hold at most ${SHORT_STRING}`);
  }
}
