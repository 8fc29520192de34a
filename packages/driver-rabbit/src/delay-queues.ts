/**
 * Delay queues: where `redeliver` parks a copy of a failed message until its
 * delay has passed. RabbitMQ has no delayed delivery of its own (short of a
 * plugin), but a queue with a message TTL that dead-letters to the default
 * exchange hands each message, once its TTL is up, back to the queue it
 * names. Every message of one delay queue has the same TTL, so each leaves
 * exactly when it is due and none waits behind a longer one (a queue only
 * expires messages at its head). Delays are therefore rounded up to buckets,
 * one queue per bucket and source queue: `<queue>.pubsub-delay.<ms>`.
 *
 * A delay queue deletes itself (`x-expires`) once unused for a while; since
 * only declarations (not publishes) count as use, it is declared again
 * before a copy is published once its last declaration is older than half
 * its expiry, which is at least twice its TTL: a copy always leaves before
 * its queue could expire.
 */
import { createHash } from "node:crypto";
import type { Channel } from "amqplib";
import { refusal } from "./errors.js";

/** Default `delayQueueExpiresMs`: an unused delay queue is deleted after 30 minutes. */
export const DEFAULT_DELAY_QUEUE_EXPIRES_MS = 30 * 60_000;

/** Steps per doubling of the delay: a delay waits at most 25% longer than asked. */
const STEPS_PER_OCTAVE = 4;

/**
 * The bucket that a delay of `delayMs` (> 0) waits in: the smallest of
 * 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24 … ms (four steps per
 * doubling) that is at least `delayMs`. Never shorter than asked; at most a
 * quarter longer.
 */
export function bucketOf(delayMs: number): number {
  const ms = Math.max(1, Math.ceil(delayMs));
  const octave = Math.floor(Math.log2(ms));
  const step = 2 ** Math.max(0, octave - Math.log2(STEPS_PER_OCTAVE));
  return Math.ceil(ms / step) * step;
}

/**
 * The names of every delay queue the driver may declare for `queue`, for
 * delays up to `maxDelayMs` (default 131,072 ms, past the portable
 * `redelivery.maxDelayMs` default): for a tool or a test that removes a queue
 * and what belongs to it. Unused delay queues also expire by themselves
 * (`delayQueueExpiresMs`). Deleting one that does not exist is no error.
 */
export function delayQueueNames(queue: string, maxDelayMs = 131_072): string[] {
  const names: string[] = [];
  for (let bucket = 1; bucket <= maxDelayMs; bucket = bucketOf(bucket + 1)) names.push(delayQueueName(queue, bucket));
  return names;
}

/** AMQP queue names hold at most 255 bytes. */
const MAX_NAME_BYTES = 255;

/**
 * The delay queue of `queue` for `bucket` ms: `<queue>.pubsub-delay.<ms>`.
 * A name that would be too long keeps the queue's first bytes and a hash of
 * the whole; one in the broker's reserved `amq.` space gets a prefix.
 */
export function delayQueueName(queue: string, bucket: number): string {
  const suffix = `.pubsub-delay.${bucket}`;
  const base = queue.startsWith("amq.") ? `pubsub.${queue}` : queue;
  if (Buffer.byteLength(base) + suffix.length <= MAX_NAME_BYTES) return base + suffix;
  const hash = createHash("sha256").update(queue).digest("hex").slice(0, 16);
  const room = MAX_NAME_BYTES - suffix.length - hash.length - 1;
  // Cut on a character, not inside one: a name must be valid UTF-8.
  let head = "";
  for (const char of base) {
    if (Buffer.byteLength(head + char) > room) break;
    head += char;
  }
  return `${head}~${hash}${suffix}`;
}

/**
 * How long a delay queue of `bucket` ms stays after its last declaration:
 * `expiresMs`, and at least four TTLs, so that half of it (when it is
 * declared again) still leaves a TTL to spare.
 */
export function delayQueueExpires(bucket: number, expiresMs: number): number {
  return Math.max(expiresMs, 4 * bucket);
}

/** The declare arguments of a delay queue; the same for every process, as the broker requires. */
export function delayQueueArguments(queue: string, bucket: number, expiresMs: number): Record<string, unknown> {
  return {
    "x-queue-type": "classic",
    "x-message-ttl": bucket,
    "x-dead-letter-exchange": "",
    "x-dead-letter-routing-key": queue,
    "x-expires": delayQueueExpires(bucket, expiresMs),
  };
}

/** The delay queues of one source queue, and when each was last declared by this process. */
export class DelayQueues {
  readonly #queue: string;
  readonly #expiresMs: number;
  /** Bucket → when its last declaration was sent (ms since the epoch). */
  readonly #declaredAt = new Map<number, number>();

  constructor(queue: string, expiresMs: number) {
    this.#queue = queue;
    this.#expiresMs = expiresMs;
  }

  /** The name of the delay queue for `bucket`. */
  nameOf(bucket: number): string {
    return delayQueueName(this.#queue, bucket);
  }

  /**
   * Declares on `channel` the delay queues of `buckets` that this process has
   * not declared within half their expiry. Rejects with a RabbitError of
   * role "declare" when the broker refuses (a delay queue that exists with
   * other arguments: FailedPrecondition).
   */
  async ensure(channel: Channel, buckets: Iterable<number>): Promise<void> {
    const now = Date.now();
    for (const bucket of new Set(buckets)) {
      const at = this.#declaredAt.get(bucket);
      if (at !== undefined && now - at < delayQueueExpires(bucket, this.#expiresMs) / 2) continue;
      await this.#declare(channel, bucket);
    }
  }

  /**
   * Declares again, on a new channel, every delay queue declared within its
   * expiry: copies that waited for this channel may be on their way to them,
   * and must not find them expired a moment after they arrive.
   */
  async redeclare(channel: Channel): Promise<void> {
    const now = Date.now();
    for (const [bucket, at] of [...this.#declaredAt]) {
      if (now - at < delayQueueExpires(bucket, this.#expiresMs)) await this.#declare(channel, bucket);
      else this.#declaredAt.delete(bucket);
    }
  }

  /** Declares the delay queue of `bucket` again before the next copy for it (it was found gone). */
  forget(bucket: number): void {
    this.#declaredAt.delete(bucket);
  }

  async #declare(channel: Channel, bucket: number): Promise<void> {
    const sentAt = Date.now();
    const name = this.nameOf(bucket);
    try {
      await channel.assertQueue(name, {
        durable: true,
        arguments: delayQueueArguments(this.#queue, bucket, this.#expiresMs),
      });
    } catch (err) {
      throw refusal(err, "declare", `declaring delay queue "${name}"`);
    }
    this.#declaredAt.set(bucket, sentAt);
  }
}
