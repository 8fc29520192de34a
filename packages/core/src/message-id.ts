import { randomFillSync } from "node:crypto";
import { latin1Text } from "./driver/buffer-text.js";
import { afterMicrotasks } from "./driver/microtasks.js";
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

/** "0123456789abcdef" as character codes. */
const DIGITS = Buffer.from("0123456789abcdef", "latin1");
/**
 * The 36 characters of an id, written here and read out as one flat string:
 * one made by concatenating its pieces would be a rope of twenty nodes, which
 * stays that size in memory (measured: mem:// end to end held 40% more).
 */
const text = Buffer.from("00000000-0000-0000-0000-000000000000", "latin1");

/** Writes the two hex digits of the low byte of `value` at `at` of the id's text. */
function putHex(at: number, value: number): void {
  text[at] = DIGITS[(value >>> 4) & 0xf] as number;
  text[at + 1] = DIGITS[value & 0xf] as number;
}

/**
 * Random bytes drawn in blocks of 16 KiB: one call per 4,096 ids or more.
 * A call costs about 5 µs for 1 KiB and 7 µs for 16 KiB (Node 20): with a
 * 1 KiB pool, randomFillSync was 2.7% of a mem:// end-to-end profile. Read
 * as 32-bit words: Buffer's readUInt32BE, Node's own JavaScript with its
 * argument checks, cost as much as the rest of an id on rabbit://.
 */
const pool = new Uint32Array(4096);
let poolAt = pool.length;

function random32(): number {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  return pool[poolAt++] as number;
}

/** Most ids that share one reading of the clock. */
const IDS_PER_CLOCK_READ = 64;
let clockMs = 0;
let clockReadsLeft = 0;
let clockExpiring = false;

function expireClock(): void {
  clockReadsLeft = 0;
  clockExpiring = false;
}

/**
 * Date.now(), read once for a burst of ids: the ids one run of code makes
 * before its microtasks end, at most IDS_PER_CLOCK_READ of them. A call of
 * Date.now costs about 37 ns (a call into V8's runtime), a quarter of what an
 * id cost on rabbit://. An id's time is then that of the first id of its
 * burst, made in the same run of code (in a synchronous send loop, tens of
 * µs earlier); the counter keeps the ids in order.
 */
function readClock(): number {
  if (clockReadsLeft > 0) {
    clockReadsLeft--;
    return clockMs;
  }
  clockMs = Date.now();
  clockReadsLeft = IDS_PER_CLOCK_READ - 1;
  if (!clockExpiring) {
    clockExpiring = true;
    afterMicrotasks(expireClock);
  }
  return clockMs;
}

/** The millisecond of the last id, and a 42-bit counter within it (12 high bits, 30 low bits). */
let lastMs = -1;
let counterHigh = 0;
let counterLow = 0;

/** Starts the counter of millisecond `ms` at random, and writes the text the ids of that millisecond share. */
function startMillisecond(ms: number): void {
  lastMs = ms;
  // The counter's top bit starts clear, so a millisecond always has room for 2^41 more ids.
  counterHigh = random32() & 0x7ff;
  counterLow = random32() & 0x3fffffff;
  const high = Math.floor(ms / 0x1000000); // top 24 of 48 bits
  const low = ms % 0x1000000;
  putHex(0, high >>> 16);
  putHex(2, high >>> 8);
  putHex(4, high);
  putHex(6, low >>> 16);
  // 8: "-"
  putHex(9, low >>> 8);
  putHex(11, low);
  // 13: "-"
  writeCounterHigh();
}

function writeCounterHigh(): void {
  putHex(14, 0x70 | (counterHigh >>> 8));
  putHex(16, counterHigh);
  // 18: "-"
}

/**
 * A new UUIDv7 (RFC 9562): 48 bits of Unix time in ms (the clock is read
 * once for the ids made before the current microtasks end, at most 64 of
 * them), then a 42-bit counter (the RFC's method 1) seeded at random each
 * millisecond, then 32 random bits. Within one process the ids are strictly
 * increasing, so their lowercase text sorts in the order they were made,
 * even many in one millisecond and even if the clock steps back (the last
 * millisecond is then kept until the clock passes it). Ids of one
 * millisecond share their first 19 characters, which are written once for
 * all of them.
 */
export function newMessageId(): string {
  const now = readClock();
  if (now > lastMs) startMillisecond(now);
  else if (++counterLow > 0x3fffffff) {
    counterLow = 0;
    // Never reached in practice (2^41 ids in one ms); borrow the next millisecond.
    if (++counterHigh > 0xfff) startMillisecond(lastMs + 1);
    else writeCounterHigh();
  }
  const tail = random32();
  putHex(19, 0x80 | ((counterLow >>> 24) & 0x3f));
  putHex(21, counterLow >>> 16);
  // 23: "-"
  putHex(24, counterLow >>> 8);
  putHex(26, counterLow);
  putHex(28, tail >>> 24);
  putHex(30, tail >>> 16);
  putHex(32, tail >>> 8);
  putHex(34, tail);
  return latin1Text(text, 0, 36);
}
