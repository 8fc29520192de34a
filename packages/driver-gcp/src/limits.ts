import { type DriverMessage, invalidArgument, MESSAGE_ID_KEY } from "@portable-pubsub/core/driver";

/**
 * Google Pub/Sub's published resource limits on one message. The emulator
 * enforces none of them, so the driver checks them itself, before anything is
 * sent: code that passes against the emulator then also passes in production.
 */
export const PUBSUB_LIMITS = {
  /** Most attributes (metadata entries) on one message. */
  maxAttributes: 100,
  /** Most bytes (UTF-8) in one attribute key. */
  maxKeyBytes: 256,
  /** Most bytes (UTF-8) in one attribute value. */
  maxValueBytes: 1024,
  /** Most bytes in one message body, and in one message with its attributes. */
  maxMessageBytes: 10_000_000,
  /** Most messages in one Publish request. */
  maxMessagesPerPublish: 1000,
  /** Most bytes in one Publish request. */
  maxPublishRequestBytes: 10_000_000,
} as const;

/** Per-message framing in a Publish request (field tags and lengths), rounded up. */
export const MESSAGE_OVERHEAD_BYTES = 16;
/** Per-attribute framing in a Publish request, rounded up. */
const ATTRIBUTE_OVERHEAD_BYTES = 8;

/**
 * Throws InvalidArgument if `message` breaks a Pub/Sub limit; otherwise
 * returns its size in a Publish request (body, attributes and an estimate of
 * the protobuf framing), for splitting requests.
 */
export function checkMessage(message: DriverMessage): number {
  return checkLimits(message.body.byteLength, message.metadata, message.id);
}

/** The limits, counting the attribute that carries the message's `id` (see codec.ts) as one of the attributes. */
function checkLimits(bodyBytes: number, metadata: Record<string, string>, id: string | undefined): number {
  if (bodyBytes > PUBSUB_LIMITS.maxMessageBytes) {
    throw invalidArgument(
      `send: gcppubsub: the body is ${bodyBytes} bytes; Pub/Sub takes at most ${PUBSUB_LIMITS.maxMessageBytes} (10 MB) per message: store large payloads elsewhere (Cloud Storage) and send a reference`,
    );
  }
  let size = bodyBytes;
  let framing = MESSAGE_OVERHEAD_BYTES;
  let count = 0;
  if (id !== undefined) {
    count = 1;
    size += Buffer.byteLength(MESSAGE_ID_KEY) + Buffer.byteLength(id, "utf8");
    framing += ATTRIBUTE_OVERHEAD_BYTES;
  }
  for (const key in metadata) {
    if (++count > PUBSUB_LIMITS.maxAttributes) {
      throw invalidArgument(
        `send: gcppubsub: the metadata has ${Object.keys(metadata).length} entries; Pub/Sub takes at most ${PUBSUB_LIMITS.maxAttributes} attributes per message${id === undefined ? "" : ", one of them the message id's"}`,
      );
    }
    const keyBytes = Buffer.byteLength(key, "utf8");
    if (keyBytes > PUBSUB_LIMITS.maxKeyBytes) {
      throw invalidArgument(
        `send: gcppubsub: metadata key ${JSON.stringify(preview(key))} is ${keyBytes} bytes; Pub/Sub attribute keys take at most ${PUBSUB_LIMITS.maxKeyBytes} bytes (UTF-8)`,
      );
    }
    const valueBytes = Buffer.byteLength(metadata[key] as string, "utf8");
    if (valueBytes > PUBSUB_LIMITS.maxValueBytes) {
      throw invalidArgument(
        `send: gcppubsub: the value of metadata key ${JSON.stringify(preview(key))} is ${valueBytes} bytes; Pub/Sub attribute values take at most ${PUBSUB_LIMITS.maxValueBytes} bytes (UTF-8)`,
      );
    }
    size += keyBytes + valueBytes;
    framing += ATTRIBUTE_OVERHEAD_BYTES;
  }
  if (size > PUBSUB_LIMITS.maxMessageBytes) {
    throw invalidArgument(
      `send: gcppubsub: the message is ${size} bytes with its metadata; Pub/Sub takes at most ${PUBSUB_LIMITS.maxMessageBytes} (10 MB) per message`,
    );
  }
  return size + framing;
}

function preview(key: string): string {
  return key.length > 40 ? `${key.slice(0, 40)}…` : key;
}
