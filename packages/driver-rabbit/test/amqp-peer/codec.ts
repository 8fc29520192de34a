/**
 * The scripted peer's wire format: amqplib's own frame codec (lib/defs.js,
 * lib/frame.js), loaded by file path since the package exports only its API.
 * Using the client's codec keeps the peer small and means it speaks exactly
 * what amqplib parses; the peer's misbehaviour lies in what it sends when,
 * never in malformed bytes.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const root = dirname(require.resolve("amqplib"));

/** Method and property ids (`defs.ChannelOpen`, …) and encoders, as amqplib generates them from the spec. */
// biome-ignore lint/suspicious/noExplicitAny: amqplib's generated module has no types
export const defs: Record<string, any> = require(join(root, "lib/defs.js"));
// biome-ignore lint/suspicious/noExplicitAny: as above
const frame: Record<string, any> = require(join(root, "lib/frame.js"));

/** A decoded frame: a method (`id`, `fields`), a content header (`id` 60, `size`, `fields`) or a body (`content`). */
export interface Frame {
  readonly channel: number;
  readonly id?: number;
  // biome-ignore lint/suspicious/noExplicitAny: fields differ per method
  readonly fields?: any;
  readonly size?: number;
  readonly content?: Buffer;
  /** The frame's payload size on the wire. */
  readonly bytes: number;
}

export const PROTOCOL_HEADER = Buffer.from(frame.PROTOCOL_HEADER as string, "latin1");
export const HEARTBEAT = frame.HEARTBEAT_BUF as Buffer;
export const BASIC_PROPERTIES = defs.BasicProperties as number;

/** Splits `buffer` into whole frames; `rest` is an incomplete tail to keep for the next chunk. */
export function readFrames(buffer: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let rest = buffer;
  for (;;) {
    // No size limit here: the peer checks frame sizes itself, as a broker does, to answer 501.
    const parsed = frame.parseFrame(rest, 0);
    if (!parsed) return { frames, rest };
    frames.push({ ...frame.decodeFrame(parsed), bytes: parsed.size });
    rest = parsed.rest;
  }
}

/** One method frame. */
// biome-ignore lint/suspicious/noExplicitAny: fields differ per method
export function method(channel: number, id: number, fields: Record<string, any> = {}): Buffer {
  return defs.encodeMethod(id, channel, fields);
}

/** A message as the broker sends it: `announce` (deliver, return or get-ok), its header, its body. */
export function message(
  channel: number,
  announce: number,
  // biome-ignore lint/suspicious/noExplicitAny: as above
  fields: Record<string, any>,
  body: Buffer,
  // biome-ignore lint/suspicious/noExplicitAny: as above
  properties: Record<string, any> = {},
): Buffer {
  const parts = [
    method(channel, announce, fields),
    defs.encodeProperties(BASIC_PROPERTIES, channel, body.length, properties),
  ];
  if (body.length > 0) parts.push(frame.makeBodyFrame(channel, body));
  return Buffer.concat(parts);
}

/** `connection.close` with `code`, as a broker sends it when it shuts down (320) or rejects a frame (501). */
export function connectionClose(code: number, text = "CONNECTION_FORCED - scripted"): Buffer {
  return method(0, defs.ConnectionClose, { replyCode: code, replyText: text, classId: 0, methodId: 0 });
}

/** `channel.close` with `code`, as a broker refuses one channel (404, 406, 504…). */
export function channelClose(channel: number, code: number, text: string): Buffer {
  return method(channel, defs.ChannelClose, { replyCode: code, replyText: text, classId: 0, methodId: 0 });
}
