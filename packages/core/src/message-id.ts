import { randomFillSync } from "node:crypto";
import { invalidArgument } from "./errors.js";

/**
 * The longest message id, in UTF-8 bytes: the AMQP `message_id` property is
 * a short string of at most 255 bytes, the tightest of the brokers' native
 * id fields.
 */
export const MAX_MESSAGE_ID_BYTES = 255;

/** Whether `text` has a C0 control or DEL: a header-carried id (NATS) cannot hold a line break, and no broker needs the others. */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * Checks an application's message id: a non-empty string of valid Unicode,
 * at most {@link MAX_MESSAGE_ID_BYTES} UTF-8 bytes, without control
 * characters or white space at either end (header-carrying brokers trim
 * it). Throws InvalidArgument naming the problem.
 */
export function checkMessageId(id: unknown): string {
  const problem = messageIdProblem(id);
  if (problem !== undefined) throw invalidArgument(`send: ${problem}`);
  return id as string;
}

/**
 * `id` if it is one a send accepts, else undefined: for a copy of a received
 * message (a dead letter) whose broker id, from another program, may not be.
 */
export function sendableMessageId(id: string | undefined): string | undefined {
  return messageIdProblem(id) === undefined ? id : undefined;
}

/** What is wrong with `id` as a message id, or undefined. */
function messageIdProblem(id: unknown): string | undefined {
  if (typeof id !== "string") {
    return `id must be a string, got ${id === null ? "null" : typeof id}; or leave it out and one is generated`;
  }
  if (id === "") return "id is empty; give a non-empty string, or leave id out and one is generated";
  if (!id.isWellFormed()) return "id is not valid UTF-8 (it has a lone surrogate)";
  const bytes = Buffer.byteLength(id);
  if (bytes > MAX_MESSAGE_ID_BYTES) {
    return `id is ${bytes} bytes of UTF-8, longer than the ${MAX_MESSAGE_ID_BYTES} a message id may have; use a shorter key (or a hash of it)`;
  }
  if (hasControlCharacter(id)) {
    return `id ${JSON.stringify(id)} contains a control character (such as a line break), which brokers' id fields cannot carry`;
  }
  if (id.trim() !== id) {
    return `id ${JSON.stringify(id)} has white space at its start or end, which brokers' headers trim; remove it`;
  }
  return undefined;
}

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** The two hex digits of the low byte of `value`. */
function hex(value: number): string {
  return HEX[value & 0xff] as string;
}

/** Random bytes drawn in blocks: one system call per 256 ids rather than one per id. */
const pool = Buffer.allocUnsafe(1024);
let poolAt = pool.length;

function random32(): number {
  if (poolAt + 4 > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const value = pool.readUInt32BE(poolAt);
  poolAt += 4;
  return value;
}

/** The millisecond of the last id, and a 42-bit counter within it (12 high bits, 30 low bits). */
let lastMs = -1;
let counterHigh = 0;
let counterLow = 0;

/**
 * A new UUIDv7 (RFC 9562): 48 bits of Unix time in ms, then a 42-bit counter
 * (the RFC's method 1) seeded at random each millisecond, then 32 random
 * bits. Within one process the ids are strictly increasing, so their
 * lowercase text sorts in the order they were made, even many in one
 * millisecond and even if the clock steps back (the last millisecond is then
 * kept until the clock passes it).
 */
export function newMessageId(): string {
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    // The counter's top bit starts clear, so a millisecond always has room for 2^41 more ids.
    counterHigh = random32() & 0x7ff;
    counterLow = random32() & 0x3fffffff;
  } else if (++counterLow > 0x3fffffff) {
    counterLow = 0;
    if (++counterHigh > 0xfff) {
      // Never reached in practice (2^41 ids in one ms); borrow the next millisecond.
      lastMs++;
      counterHigh = random32() & 0x7ff;
      counterLow = random32() & 0x3fffffff;
    }
  }
  const ms = lastMs;
  const high = Math.floor(ms / 0x1000000); // top 24 of 48 bits
  const low = ms % 0x1000000;
  const tail = random32();
  return (
    hex(high >>> 16) +
    hex(high >>> 8) +
    hex(high) +
    hex(low >>> 16) +
    "-" +
    hex(low >>> 8) +
    hex(low) +
    "-" +
    hex(0x70 | (counterHigh >>> 8)) +
    hex(counterHigh) +
    "-" +
    hex(0x80 | ((counterLow >>> 24) & 0x3f)) +
    hex(counterLow >>> 16) +
    "-" +
    hex(counterLow >>> 8) +
    hex(counterLow) +
    hex(tail >>> 24) +
    hex(tail >>> 16) +
    hex(tail >>> 8) +
    hex(tail)
  );
}
