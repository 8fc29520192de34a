import type { DriverMessage } from "@portable-pubsub/core/driver";

/**
 * How a message is laid out in a stream entry: its id in field
 * `message-id`, the body in field `body`, as raw bytes, and each metadata
 * pair in a field `m:KEY`. Fields are sent and read as Buffers, so bodies
 * that are not UTF-8 round-trip byte for byte. Other fields (written by
 * other programs) are ignored, but stay visible through the native entry.
 * An entry without a `message-id` field (another program's XADD) has its
 * entry id as its message id.
 */
export const BODY_FIELD = "body";
/** The stream entry field that carries the message's id. */
export const ID_FIELD = "message-id";
/** The prefix of the stream entry field that carries each metadata pair (`m:KEY`). */
export const METADATA_PREFIX = "m:";

/** A stream entry as this driver read it: what `Message.as<RedisStreamEntry>()` returns. */
export interface RedisStreamEntry {
  /** The stream key. */
  readonly stream: string;
  /** The entry id, such as "1700000000000-0". */
  readonly id: string;
  /** Field names and values, alternating, as Redis returned them. */
  readonly fields: readonly Buffer[];
}

/** A body as a Buffer without copying it. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The XADD arguments of one message: `head` (key and options), then its fields. */
export function xaddArgs(head: readonly string[], message: DriverMessage): (string | Buffer)[] {
  const args: (string | Buffer)[] = head.slice();
  if (message.id !== undefined) args.push(ID_FIELD, message.id);
  args.push(BODY_FIELD, asBuffer(message.body));
  for (const key in message.metadata) args.push(METADATA_PREFIX + key, message.metadata[key] as string);
  return args;
}

const EMPTY_BODY = new Uint8Array(0);
const NO_METADATA: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** `name` is "body": compared byte by byte, as this runs for every entry received. */
function isBodyField(name: Buffer): boolean {
  return name.length === 4 && name[0] === 0x62 && name[1] === 0x6f && name[2] === 0x64 && name[3] === 0x79;
}

const ID_FIELD_BYTES = Buffer.from(ID_FIELD);

/**
 * A driver message for an entry; its ackId is the entry id. Runs for every
 * entry received, so it reads the fields in place.
 */
export function toDriverMessage(entry: RedisStreamEntry, deliveryAttempt: number): DriverMessage {
  const fields = entry.fields;
  let body: Uint8Array = EMPTY_BODY;
  let id = entry.id;
  // Most entries carry no metadata: they share one frozen empty record instead of allocating one each.
  let metadata: Record<string, string> = NO_METADATA;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i] as Buffer;
    const value = fields[i + 1] as Buffer;
    if (isBodyField(name)) body = value;
    else if (name.equals(ID_FIELD_BYTES)) id = value.length > 0 ? value.toString("utf8") : entry.id;
    else if (name.length > 2 && name[0] === 0x6d && name[1] === 0x3a) {
      if (metadata === NO_METADATA) metadata = {};
      metadata[name.toString("utf8", 2)] = value.toString("utf8");
    }
  }
  return { id, body, metadata, ackId: entry.id, loggableId: entry.id, native: entry, deliveryAttempt };
}

/** Reads the `[id, [field, value, …]]` pairs of an XREADGROUP or XAUTOCLAIM reply. Entries without fields (deleted) are skipped. */
export function parseEntries(stream: string, raw: unknown): RedisStreamEntry[] {
  if (!Array.isArray(raw)) return [];
  const entries: RedisStreamEntry[] = [];
  for (const item of raw) {
    if (!Array.isArray(item)) continue;
    const [id, fields] = item as [Buffer, Buffer[] | null];
    if (!Array.isArray(fields)) continue;
    entries.push({ stream, id: id.toString("latin1"), fields });
  }
  return entries;
}
