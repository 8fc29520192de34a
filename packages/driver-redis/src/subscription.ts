import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import {
  type DriverMessage,
  type ErrorCode,
  type HealthSource,
  Subscription,
  type SubscriptionDriver,
  type SubscriptionOptions,
} from "@portable-pubsub/core";
import type { Redis } from "ioredis";
import { toDriverMessage } from "./codec.js";
import { ClientHealth, closeClient, duplicateForReads } from "./connection.js";
import { isRetryableRedisError, redisErrorCode, translateError } from "./errors.js";
import { BlockingReader } from "./reader.js";
import { type DeadLetter, Reclaimer } from "./reclaim.js";
import { within } from "./wait.js";

/** How a subscription reads its consumer group. */
export interface RedisSubscriptionSettings {
  /**
   * This consumer's name in the group. Default: unique per Subscription
   * (`host-pid-random`). Two live Subscriptions must never share a name.
   */
  consumer?: string;
  /** Entries not acked this long after delivery are delivered again (XAUTOCLAIM). Default 30000 ms. */
  ackDeadlineMs?: number;
  /** Move entries delivered more often than `maxDeliveries` to this stream instead of delivering them again. */
  deadLetter?: DeadLetter;
  /** How long one XREADGROUP blocks waiting for entries, at most 1000 ms (the default). */
  blockMs?: number;
  /** Close the command client at shutdown. Default false: a client you pass stays yours. */
  closeClient?: boolean;
}

/** Options of {@link openRedisSubscription}. */
export interface RedisSubscriptionOptions extends SubscriptionOptions, RedisSubscriptionSettings {
  /**
   * Create the group (and the stream) if missing, with XGROUP CREATE …
   * MKSTREAM. Default true; false makes receives from a missing group fail with NotFound.
   */
  create?: boolean;
  /** Where a group created here starts: "new" entries only (`$`, the default) or "all" of the stream (`0`). */
  start?: "new" | "all";
  /**
   * The connection for the blocking reads, which no other command may share.
   * Default: a duplicate of the client, closed at shutdown.
   */
  reader?: Redis;
}

/** A consumer name unique to this process and Subscription. */
export function uniqueConsumerName(): string {
  return `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`;
}

/** Grace to let the last blocking read bring its entries back at shutdown. */
const DRAIN_MS = 1500;
/** Most time that shutdown spends handing entries back and removing the consumer, when Redis is slow or away. */
const CLOSE_GRACE_MS = 2000;

/**
 * One consumer of a Redis consumer group. New entries come from a blocking
 * XREADGROUP on a connection of its own; entries past their ack deadline
 * (or nacked) come back through XAUTOCLAIM; acks are one XACK per batch.
 */
export class RedisSubscriptionDriver implements SubscriptionDriver {
  readonly resource: string;
  readonly canNack = true;
  readonly health: HealthSource;
  /** This consumer's name in the group. */
  readonly consumer: string;
  readonly #client: Redis;
  readonly #readerClient: Redis;
  readonly #stream: string;
  readonly #group: string;
  readonly #reader: BlockingReader;
  readonly #reclaimer: Reclaimer;
  readonly #watch: ClientHealth;
  readonly #closeClient: boolean;
  readonly #closeReader: boolean;
  /** Entries read but not handed out yet: a read in flight brought more than the receive asked for. */
  #leftover: DriverMessage[] = [];

  /**
   * `reader` must be a connection of its own. The group must exist (see
   * {@link ensureGroup}); receives from a missing one fail with NotFound.
   */
  constructor(
    client: Redis,
    reader: Redis,
    target: { stream: string; group: string },
    settings: RedisSubscriptionSettings & { closeReader?: boolean } = {},
  ) {
    this.#client = client;
    this.#readerClient = reader;
    this.#stream = target.stream;
    this.#group = target.group;
    this.consumer = settings.consumer ?? uniqueConsumerName();
    this.resource = `redisstream group "${target.group}" of stream "${target.stream}"`;
    const names = { ...target, consumer: this.consumer };
    this.#reader = new BlockingReader(reader, client, names, settings.blockMs ?? 1000);
    this.#reclaimer = new Reclaimer(client, names, settings.ackDeadlineMs ?? 30_000, settings.deadLetter);
    this.#closeClient = settings.closeClient ?? false;
    this.#closeReader = settings.closeReader ?? false;
    this.#watch = new ClientHealth([client, reader]);
    this.health = this.#watch.tracker;
  }

  async receiveBatch(maxMessages: number, signal: AbortSignal): Promise<DriverMessage[]> {
    if (this.#leftover.length > 0) return this.#hand([], maxMessages);
    try {
      if (this.#reclaimer.due) {
        const reclaimed = await this.#reclaimer.pass(maxMessages);
        if (reclaimed.length > 0) return reclaimed;
      }
      const entries = await this.#reader.read(maxMessages, signal);
      return this.#hand(
        entries.map((entry) => toDriverMessage(entry, 1)),
        maxMessages,
      );
    } catch (err) {
      throw translateError(err, "receive from", this.resource);
    }
  }

  async sendAcks(ackIds: unknown[]): Promise<void> {
    try {
      // XACK ignores ids that are not pending (acked already, or claimed and acked elsewhere).
      await this.#client.xack(this.#stream, this.#group, ...(ackIds as string[]));
    } catch (err) {
      throw translateError(err, "ack", this.resource);
    }
  }

  /**
   * Makes the entries claimable at once: XCLAIM … TIME 1 JUSTID sets their
   * last delivery to the epoch, so the next XAUTOCLAIM of any consumer (this
   * one runs it right away) takes them over. JUSTID leaves their delivery
   * count alone; the XAUTOCLAIM that redelivers them counts the delivery.
   */
  async sendNacks(ackIds: unknown[]): Promise<void> {
    try {
      await this.#nack(ackIds as string[]);
    } catch (err) {
      throw translateError(err, "nack", this.resource);
    }
    this.#reclaimer.wake();
    this.#reader.wake();
  }

  isRetryable(err: unknown): boolean {
    return isRetryableRedisError(err);
  }

  errorCode(err: unknown): ErrorCode {
    return redisErrorCode(err);
  }

  /** The ioredis client that runs XACK and XAUTOCLAIM. */
  native(): Redis {
    return this.#client;
  }

  /**
   * Lets the last blocking read return (waking it), hands what it and the
   * leftovers hold back to the group, closes the reader, and removes this
   * consumer from the group if it holds no pending entries.
   */
  async close(signal: AbortSignal): Promise<void> {
    const late = await this.#reader.drain(DRAIN_MS, signal);
    const unhanded = [...this.#leftover.map((m) => m.ackId as string), ...late.map((e) => e.id)];
    this.#leftover = [];
    this.#reader.stop();
    this.#watch.stop();
    if (this.#closeReader) await closeClient(this.#readerClient, signal);
    // Best effort, and bounded: entries left pending are reclaimed after the ack deadline anyway.
    const handBack = async () => {
      if (unhanded.length > 0) await this.#nack(unhanded);
      await this.#removeConsumerIfIdle();
    };
    await within(handBack(), CLOSE_GRACE_MS, signal);
    if (this.#closeClient) await closeClient(this.#client, signal);
  }

  #hand(fresh: DriverMessage[], max: number): DriverMessage[] {
    if (this.#leftover.length === 0 && fresh.length <= max) return fresh;
    const all = this.#leftover.concat(fresh);
    this.#leftover = all.slice(max);
    return all.slice(0, max);
  }

  async #nack(ids: string[]): Promise<void> {
    await this.#client.xclaim(this.#stream, this.#group, this.consumer, 0, ...ids, "TIME", 1, "JUSTID");
  }

  async #removeConsumerIfIdle(): Promise<void> {
    const pending = await this.#client.xpending(this.#stream, this.#group, "-", "+", 1, this.consumer);
    if (Array.isArray(pending) && pending.length === 0) {
      await this.#client.xgroup("DELCONSUMER", this.#stream, this.#group, this.consumer);
    }
  }
}

/**
 * Creates consumer group `group` of `stream` (and the stream) unless it
 * exists: XGROUP CREATE … MKSTREAM. `start` "new" delivers entries added
 * from now on; "all" delivers the stream's existing entries too.
 */
export async function ensureGroup(
  client: Redis,
  stream: string,
  group: string,
  start: "new" | "all" = "new",
): Promise<void> {
  try {
    await client.xgroup("CREATE", stream, group, start === "all" ? "0" : "$", "MKSTREAM");
  } catch (err) {
    if (err instanceof Error && err.message.startsWith("BUSYGROUP")) return;
    throw translateError(err, "create", `redisstream group "${group}" of stream "${stream}"`);
  }
}

/**
 * Opens a subscription to consumer group `group` of stream `stream` through
 * `client` (yours: left open at shutdown unless `closeClient`). Blocking
 * reads run on `options.reader`, or on a duplicate of `client` that the
 * subscription closes. The group is created if missing unless `create` is
 * false. Resolves once the group exists.
 */
export async function openRedisSubscription(
  client: Redis,
  stream: string,
  group: string,
  options: RedisSubscriptionOptions = {},
): Promise<Subscription> {
  const {
    create = true,
    start,
    reader,
    consumer,
    ackDeadlineMs,
    deadLetter,
    blockMs,
    closeClient: close,
    ...portable
  } = options;
  if (create) await ensureGroup(client, stream, group, start);
  const settings = { consumer, ackDeadlineMs, deadLetter, blockMs, closeClient: close };
  const readerClient = reader ?? duplicateForReads(client, blockMs ?? 1000);
  const driver = new RedisSubscriptionDriver(
    client,
    readerClient,
    { stream, group },
    {
      ...settings,
      closeReader: reader === undefined,
    },
  );
  return new Subscription(driver, portable);
}
