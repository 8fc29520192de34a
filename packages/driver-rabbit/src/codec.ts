/**
 * How a portable message maps onto AMQP: the body is the content, bytes
 * unchanged; metadata travels as string headers.
 */
import { type DriverMessage, invalidArgument, type PubSubError } from "@portable-pubsub/core/driver";
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
  // Quorum queues count earlier deliveries in x-delivery-count (kept by the queue, so across consumer restarts),
  // leaving it out on the first; classic queues only say whether a message was delivered before, so a
  // redelivery from one has no attempt number.
  if (typeof deliveryCount === "number") driverMessage.deliveryAttempt = deliveryCount + 1;
  else if (!message.fields.redelivered) driverMessage.deliveryAttempt = 1;
  return driverMessage;
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

/** A string-valued headers table's entries: name (1 + n), type tag (1), value length (4) and value. */
function headersBytes(metadata: Record<string, string>): number {
  let bytes = 0;
  for (const key of Object.keys(metadata)) {
    bytes += Buffer.byteLength(key) + Buffer.byteLength(metadata[key] ?? "") + 6;
  }
  return bytes;
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
    const keyBytes = Buffer.byteLength(key);
    if (keyBytes > SHORT_STRING) {
      throw invalidArgument(
        `send: metadata key "${key.slice(0, 40)}…" is ${keyBytes} bytes; AMQP header names hold at most ${SHORT_STRING}`,
      );
    }
  }
  const bytes = headersBytes(message.metadata);
  if (bytes > HEADERS_BUDGET) {
    throw invalidArgument(`send: metadata takes ${bytes} bytes as AMQP headers; at most ${HEADERS_BUDGET} fit`);
  }
  const keyBytes = Buffer.byteLength(routingKey);
  if (keyBytes > SHORT_STRING) {
    throw invalidArgument(`send: the routing key is ${keyBytes} bytes; AMQP routing keys hold at most ${SHORT_STRING}`);
  }
  // The message id is added later; 32 bytes is more than the publisher's ids take.
  const frameBytes = HEADER_FRAME_BASE + 33 + bytes;
  if (frameBytes > frameMax) throw tooLargeForFrame(frameBytes, frameMax);
}

/** InvalidArgument for properties that need `frameBytes` in a connection whose frame_max is `frameMax`. */
export function tooLargeForFrame(frameBytes: number, frameMax: number): PubSubError {
  return invalidArgument(
    `send: the message's metadata needs a ${frameBytes}-byte AMQP header frame, over the connection's frame_max ${frameMax}; ` +
      "send less metadata (put large values in the body), or raise frameMax in the server URL and frame_max on the broker",
  );
}
