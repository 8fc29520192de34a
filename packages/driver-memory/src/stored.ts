import { utf8Text, writeUtf8 } from "@portable-pubsub/core/driver";

/**
 * How the in-memory broker keeps messages: one copy of each published
 * message, shared by the subscriptions that receive it, in columns while it
 * waits for its first delivery, and as a record per subscription from then on.
 */

/** A message held by the in-memory broker. */
export interface StoredMessage {
  readonly body: Uint8Array;
  readonly metadata: Record<string, string>;
  /** The broker's own number of the message, counted per topic from 1. */
  readonly id: number;
  /** The message's id as sent; for a message published without one, `id` as text. */
  readonly messageId: string;
  /** Deliveries so far. */
  attempts: number;
  /**
   * Deliveries that failed: redelivered (`redeliver`) or let past their ack
   * deadline. A nack (a hand-back of a message never handled) is not one.
   */
  failures: number;
  /** The id of its latest delivery (0 before the first). */
  delivery: number;
  /** While it is out for delivery: when its ack deadline passes (ms since the epoch). */
  deadline: number;
  /** While it is out for delivery: its place in its subscription's `OutForDelivery`; -1 otherwise. */
  outAt: number;
}

/**
 * One subscription's record of a message it delivered. Its body is kept as
 * a place in a shared chunk (see `copyMessages`), and `body` makes a view of
 * it when asked, at delivery: a record is one object, not two, for the
 * garbage collector to move while the message is out. Its id stays bytes in
 * the chunk until `messageId` is read: most handlers never read it, and
 * making its text was a tenth of mem://'s `process` profile.
 */
class StoredRecord implements StoredMessage {
  attempts = 0;
  failures = 0;
  delivery = 0;
  deadline = 0;
  outAt = -1;
  readonly #bytes: Uint8Array;
  readonly #offset: number;
  readonly #size: number;
  /** The id's text once known (an id not in the chunk, or one read); else its UTF-8 length after the body, or NO_ID. */
  #messageId: string | number;

  constructor(
    bytes: Uint8Array,
    offset: number,
    size: number,
    readonly metadata: Record<string, string>,
    readonly id: number,
    messageId: string | number,
  ) {
    this.#bytes = bytes;
    this.#offset = offset;
    this.#size = size;
    this.#messageId = messageId;
  }

  get body(): Uint8Array {
    return new Uint8Array(this.#bytes.buffer, this.#bytes.byteOffset + this.#offset, this.#size);
  }

  get messageId(): string {
    const known = this.#messageId;
    if (typeof known === "string") return known;
    const start = this.#offset + this.#size;
    const text = known === NO_ID ? String(this.id) : utf8Text(this.#bytes as Buffer, start, start + known);
    this.#messageId = text;
    return text;
  }
}

const NO_METADATA: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * Small bodies are copied into shared chunks of this size, each body a view of its own bytes:
 * a copy of its own for each would cost an allocation outside the heap per message (V8 keeps
 * only typed arrays of up to 64 bytes in the heap), which at a million messages a second is
 * most of the broker's time. A held message keeps its chunk alive, so chunks stay small.
 */
const BODY_CHUNK_BYTES = 16 * 1024;
/** Bodies (with their id) at least this large get a copy of their own. */
const OWN_COPY_BYTES = 2 * 1024;
/**
 * An id of at most this many characters waits in the chunk, as UTF-8 after
 * its body, rather than as a string: the strings of a large backlog were
 * most of its heap (66 of 114 bytes per message), which every
 * young-generation collection copies. Longer ids, and ids that are not
 * well-formed UTF-16 (which UTF-8 cannot carry), stay strings.
 */
const MAX_ID_IN_CHUNK = 256;
/** `idBytes` of a message whose id is in `ids`. */
const ID_AS_STRING = -1;
/** `idBytes` of a message published without an id: its number, as text, is its id. */
const NO_ID = -2;

/** A copy of `record`; the one shared frozen empty record when it has no entries. */
function copyRecord(record: Record<string, string>): Record<string, string> {
  let copy: Record<string, string> | undefined;
  for (const key in record) {
    copy ??= {};
    const value = record[key] as string;
    // Assigning "__proto__" would set the prototype instead of adding the key.
    if (key === "__proto__") Object.defineProperty(copy, key, { value, enumerable: true, writable: true });
    else copy[key] = value;
  }
  return copy ?? NO_METADATA;
}

/**
 * The copies of one publish's messages, made once for every subscription
 * that receives them: column `i` of each array is message `i`. Its body is
 * in `chunks[i]` at `offsets[i]`, `sizes[i]` bytes long, and its id right
 * after it, `idBytes[i]` bytes of UTF-8 (or see ID_AS_STRING and NO_ID).
 */
export interface MessageCopies {
  readonly chunks: Buffer[];
  readonly offsets: number[];
  readonly sizes: number[];
  readonly idBytes: number[];
  /** The ids that are not in the chunk; undefined when all are. */
  readonly ids: (string | undefined)[] | undefined;
  readonly metadata: Record<string, string>[];
  /** The broker's numbers of the messages: consecutive, from the first. */
  readonly first: number;
}

/**
 * Copies `messages`, numbered from `first`, as a broker would have: a sender
 * that reuses its buffer or its metadata object once send resolved must not
 * change what is delivered. Receivers must not modify a message in place.
 */
export function copyMessages(
  messages: readonly { id?: string; body: Uint8Array; metadata: Record<string, string> }[],
  first: number,
): MessageCopies {
  const count = messages.length;
  const chunks: Buffer[] = new Array(count);
  const offsets: number[] = new Array(count);
  const sizes: number[] = new Array(count);
  const idBytes: number[] = new Array(count);
  const metadata: Record<string, string>[] = new Array(count);
  let ids: (string | undefined)[] | undefined;
  let shared: Buffer | undefined;
  let free = 0;
  for (let i = 0; i < count; i++) {
    const message = messages[i] as { id?: string; body: Uint8Array; metadata: Record<string, string> };
    const { id, body } = message;
    const size = body.byteLength;
    const inChunk = id !== undefined && id.length <= MAX_ID_IN_CHUNK && id.isWellFormed();
    const room = size + (inChunk ? id.length * 3 : 0);
    let chunk: Buffer;
    let offset = 0;
    if (room >= OWN_COPY_BYTES) chunk = Buffer.alloc(room);
    else {
      if (shared === undefined || free + room > shared.length) {
        shared = Buffer.alloc(BODY_CHUNK_BYTES);
        free = 0;
      }
      chunk = shared;
      offset = free;
    }
    chunk.set(body, offset);
    let written = NO_ID;
    if (inChunk) written = writeUtf8(chunk, id, offset + size);
    else if (id !== undefined) {
      ids ??= new Array(count);
      ids[i] = id;
      written = ID_AS_STRING;
    }
    if (chunk === shared) free += size + Math.max(written, 0);
    chunks[i] = chunk;
    offsets[i] = offset;
    sizes[i] = size;
    idBytes[i] = written;
    metadata[i] = copyRecord(message.metadata);
  }
  return { chunks, offsets, sizes, idBytes, ids, metadata, first };
}

/** The id of message `at` of `copies` as a StoredRecord takes it: its text where it is not in the chunk. */
function idOf(copies: MessageCopies, at: number): string | number {
  const bytes = copies.idBytes[at] as number;
  return bytes === ID_AS_STRING ? ((copies.ids as string[])[at] as string) : bytes;
}

/**
 * One subscription's messages not delivered yet, oldest first: the copies of
 * each publish as they came (the same object for every subscription), and
 * how far this subscription has taken from the oldest. A backlog survives
 * the collector's young-generation passes, each of which copies every object
 * still alive: a record per message (as before) or a slot per message in
 * arrays of the backlog's own (tried: a write barrier per stored pointer) made
 * the backlog of a fast sender most of the cost of mem://, where a producer
 * in the same process runs hundreds of thousands of messages ahead. A message
 * becomes a StoredRecord when it is first taken for delivery.
 */
export class Backlog {
  #publishes: (MessageCopies | undefined)[] = [];
  /** The oldest publish with messages left, and how many of its messages were taken. */
  #head = 0;
  #taken = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  /** Adds every message of `copies`, in order. */
  append(copies: MessageCopies): void {
    if (copies.sizes.length === 0) return;
    this.#publishes.push(copies);
    this.#length += copies.sizes.length;
  }

  /** Takes the oldest message out, as a record of its own; the backlog must not be empty. */
  shift(): StoredMessage {
    const copies = this.#publishes[this.#head] as MessageCopies;
    const at = this.#taken++;
    this.#length--;
    if (this.#taken === copies.sizes.length) this.#next();
    return new StoredRecord(
      copies.chunks[at] as Uint8Array,
      copies.offsets[at] as number,
      copies.sizes[at] as number,
      copies.metadata[at] as Record<string, string>,
      copies.first + at,
      idOf(copies, at),
    );
  }

  clear(): void {
    this.#publishes = [];
    this.#head = 0;
    this.#taken = 0;
    this.#length = 0;
  }

  /** Moves past the oldest publish, which has been taken whole. */
  #next(): void {
    this.#publishes[this.#head++] = undefined;
    this.#taken = 0;
    if (this.#head === this.#publishes.length) this.clear();
    else if (this.#head >= 1024 && this.#head * 2 >= this.#publishes.length) {
      this.#publishes = this.#publishes.slice(this.#head);
      this.#head = 0;
    }
  }
}
