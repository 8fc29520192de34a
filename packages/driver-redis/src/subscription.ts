import {
  type DriverMessage,
  type DriverServer,
  type DriverTelemetry,
  type HealthSource,
  HeldLeases,
  resourceUrl,
  Subscription,
  type SubscriptionDriver,
  type SubscriptionOptions,
  settledWithin,
} from "@portable-pubsub/core/driver";
import { type RedisStreamEntry, toDriverMessage } from "./codec.js";
import type { RedisClient } from "./connection.js";
import { ClientHealth, closeClient, redisServer, serverOf, whenConnected } from "./connection.js";
import { checkGroup, ensureGroup, type GroupStart } from "./declare.js";
import { redisErrors } from "./errors.js";
import { GroupReader, handBack, type ReaderSeat, sharedReader, uniqueConsumerName } from "./reader.js";
import { Reclaimer } from "./reclaim.js";

export { uniqueConsumerName } from "./reader.js";

/** How a subscription reads its consumer group. */
export interface RedisSubscriptionSettings {
  /**
   * This consumer's name in the group. Default: unique per process and
   * group reader (`host-pid-random`): the subscriptions of one group that
   * share a reader connection read as one consumer. Two processes must never
   * share a name.
   */
  consumer?: string;
  /**
   * Entries not acked this long after delivery, or after the last extension
   * of their lease, are delivered again (XAUTOCLAIM). Default 30000 ms.
   */
  ackDeadlineMs?: number;
  /**
   * Delete consumers of the group (left behind by crashed processes) that
   * have no pending entries and have been idle this long. The sweep runs
   * while this subscription receives, at most every min(idleConsumerMs, 60 s);
   * it needs permission to run EVAL. Default 3600000 ms (one hour).
   */
  idleConsumerMs?: number;
  /** How long one XREADGROUP blocks waiting for entries, at most 1000 ms (the default). */
  blockMs?: number;
  /** Close the command client at shutdown. Default false: a client you pass stays yours. */
  closeClient?: boolean;
  /**
   * Have `ready` create the group (and the stream) if missing, starting at
   * "new" entries (`$`) or at "all" of the stream (`0`). Default: not
   * created; `ready` fails with NotFound when the stream or group is missing.
   */
  createGroupAt?: GroupStart;
}

/** Options of {@link openRedisSubscription}. */
export interface RedisSubscriptionOptions
  extends SubscriptionOptions,
    Omit<RedisSubscriptionSettings, "createGroupAt"> {
  /**
   * Create the group (and the stream) if missing, with XGROUP CREATE …
   * MKSTREAM. Default true; with false, opening fails with NotFound when the stream or group is missing.
   */
  create?: boolean;
  /** Where a group created here starts: "new" entries only (`$`, the default) or "all" of the stream (`0`). */
  start?: GroupStart;
  /**
   * The connection for the blocking reads, which no other command may share.
   * Default: the group's reader on `client`, which the subscriptions of one
   * group (and consumer name) on `client` share: one duplicate of the client,
   * closed when the last of them shuts down.
   */
  reader?: RedisClient;
}

/** Grace to let the last blocking read bring its entries back at shutdown. */
const DRAIN_MS = 1500;
/** Most time that shutdown spends handing entries back and removing the consumer, when Redis is slow or away. */
const CLOSE_GRACE_MS = 2000;

/**
 * One consumer of a Redis consumer group. New entries come from a blocking
 * XREADGROUP that the group's reader runs for all its subscriptions on a
 * connection of its own (see reader.ts); entries past their ack deadline (or
 * nacked) come back through XAUTOCLAIM; acks are one XACK per batch.
 */
export class RedisSubscriptionDriver implements SubscriptionDriver {
  readonly resource: string;
  /** `redisstream://STREAM?group=GROUP`: what `deadletter.source` says of a subscription made with the constructor. */
  readonly url: string;
  readonly telemetry: DriverTelemetry;
  readonly errors = redisErrors;
  readonly canNack = true;
  /**
   * The ack deadline: XAUTOCLAIM hands an entry to another consumer once it
   * has been idle this long (since its delivery or its last extension).
   */
  readonly leaseMs: number;
  readonly health: HealthSource;
  readonly server: DriverServer;
  /** This consumer's name in the group. */
  readonly consumer: string;
  readonly #client: RedisClient;
  readonly #stream: string;
  readonly #group: string;
  readonly #seat: ReaderSeat;
  readonly #held: HeldLeases<RedisStreamEntry>;
  readonly #reclaimer: Reclaimer;
  readonly #watch: ClientHealth;
  readonly #closeClient: boolean;
  readonly #createGroupAt: GroupStart | undefined;

  /**
   * `reader` must be a connection of its own (closed at shutdown with
   * `closeReader`); undefined: the group's reader shared on `client` (see
   * `RedisSubscriptionOptions.reader`). The group must exist
   * (`ensureGroup`), or be created by `ready` (`createGroupAt`); receives
   * from a missing one fail with NotFound.
   */
  constructor(
    client: RedisClient,
    reader: RedisClient | undefined,
    target: { stream: string; group: string },
    settings: RedisSubscriptionSettings & { closeReader?: boolean } = {},
  ) {
    this.#client = client;
    this.server = redisServer(client);
    this.#stream = target.stream;
    this.#group = target.group;
    const blockMs = settings.blockMs ?? 1000;
    const groupReader =
      reader === undefined
        ? sharedReader(client, { ...target, consumer: settings.consumer }, blockMs)
        : new GroupReader(
            reader,
            client,
            { group: target.group, consumer: settings.consumer ?? uniqueConsumerName() },
            blockMs,
            {
              closeConnection: settings.closeReader ?? false,
            },
          );
    this.#seat = groupReader.join(target.stream);
    this.consumer = groupReader.consumer;
    this.resource = `redisstream group "${target.group}" of stream "${target.stream}"`;
    this.url = `${resourceUrl("redisstream", target.stream)}?group=${encodeURIComponent(target.group)}`;
    this.telemetry = {
      system: "redis",
      destination: target.stream,
      consumerGroup: target.group,
      ...serverOf(client),
    };
    const names = { ...target, consumer: this.consumer };
    this.leaseMs = settings.ackDeadlineMs ?? 30_000;
    this.#reclaimer = new Reclaimer(client, names, this.leaseMs, settings.idleConsumerMs);
    this.#closeClient = settings.closeClient ?? false;
    this.#createGroupAt = settings.createGroupAt;
    // Entries a read brought beyond what a receive asked for wait in the seat: their leases are kept meanwhile.
    this.#held = new HeldLeases<RedisStreamEntry>({
      leaseMs: () => this.leaseMs,
      extend: (entries) => this.#claim(entries.map((entry) => entry.id)),
      onError: () => {},
    });
    this.#seat.onBuffered = (entries) => {
      for (const entry of entries) this.#held.hold(entry);
    };
    this.#watch = new ClientHealth([client, groupReader.connection]);
    this.health = this.#watch.tracker;
  }

  /**
   * Resolves once both connections are up and the group exists: with
   * `createGroupAt`, after creating it if missing (XGROUP CREATE …
   * MKSTREAM); otherwise after finding it (NotFound when the stream or the
   * group is missing). A failed connection rejects at once; the portable
   * layer bounds the wait by the connect timeout.
   */
  async ready(signal: AbortSignal): Promise<void> {
    await whenConnected([this.#client, this.#seat.reader.connection], signal);
    if (this.#createGroupAt === undefined) {
      await checkGroup(this.#client, this.#stream, this.#group, `open ${this.resource}`);
    } else {
      await ensureGroup(this.#client, this.#stream, this.#group, this.#createGroupAt);
    }
  }

  async receiveBatch(maxMessages: number, signal: AbortSignal): Promise<DriverMessage[]> {
    if (this.#seat.buffered.length === 0 && this.#reclaimer.due) {
      const reclaimed = await this.#reclaimer.pass(maxMessages);
      if (reclaimed.length > 0) return reclaimed;
    }
    const entries = await this.#seat.read(maxMessages, signal);
    if (entries.length > 0) this.#held.handOver(entries);
    // `>` reads only entries never delivered to the group: their delivery count is 1.
    return entries.map((entry) => toDriverMessage(entry, 1));
  }

  async sendAcks(ackIds: unknown[]): Promise<void> {
    // XACK ignores ids that are not pending (acked already, or claimed and acked elsewhere).
    await this.#client.xack(this.#stream, this.#group, ...(ackIds as string[]));
  }

  /**
   * Makes the entries claimable at once: XCLAIM … TIME 1 JUSTID sets their
   * last delivery to the epoch, so the next XAUTOCLAIM of any consumer (this
   * one runs it right away) takes them over. JUSTID leaves their delivery
   * count alone; the XAUTOCLAIM that redelivers them counts the delivery.
   */
  async sendNacks(ackIds: unknown[]): Promise<void> {
    await this.#nack(ackIds as string[]);
    this.#reclaimer.wake();
    this.#seat.wake();
  }

  /**
   * Resets the entries' idle time, so that no XAUTOCLAIM takes them for
   * another `leaseMs`: one `XCLAIM … 0 id… JUSTID` in this consumer's name,
   * which leaves their delivery count alone. Ids no longer pending (acked,
   * or deleted from the stream) are skipped by Redis. An entry that another
   * consumer already reclaimed after this lease ran out moves back to this
   * consumer's name: it is then being handled twice anyway, and whichever
   * consumer acks it first settles it for the group.
   */
  async extendLeases(ackIds: unknown[]): Promise<void> {
    await this.#claim(ackIds as string[]);
  }

  /** The ioredis client that runs XACK and XAUTOCLAIM. */
  native(): RedisClient {
    return this.#client;
  }

  /**
   * Lets the group's blocking read return if it reads this stream (waking
   * it), hands what it brought for this subscription and what was left
   * unhanded back to the group, leaves the group's reader (the last to leave
   * closes it), and removes this consumer from the group if it holds no
   * pending entries and no other subscription of this process reads the
   * stream as the same consumer.
   */
  async close(signal: AbortSignal): Promise<void> {
    const unhanded = (await this.#seat.drain(DRAIN_MS, signal)).map((e) => e.id);
    this.#held.stop();
    const shared = await this.#seat.reader.leave(this.#seat, signal);
    this.#watch.stop();
    // Best effort, and bounded: entries left pending are reclaimed after the ack deadline anyway.
    const giveBack = async () => {
      await this.#nack(unhanded);
      if (!shared) await this.#removeConsumerIfIdle();
    };
    // A subscription that never connected (a failed open) holds nothing and has no consumer to remove.
    if (this.#watch.everReady) await settledWithin(giveBack(), signal, CLOSE_GRACE_MS);
    if (this.#closeClient) await closeClient(this.#client, signal);
  }

  async #nack(ids: string[]): Promise<void> {
    await handBack(this.#client, { stream: this.#stream, group: this.#group, consumer: this.consumer }, ids);
  }

  /** XCLAIM to this consumer, whatever the idle time; JUSTID: replies with ids only and counts no delivery. */
  async #claim(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#client.xclaim(this.#stream, this.#group, this.consumer, 0, ...ids, "JUSTID");
  }

  async #removeConsumerIfIdle(): Promise<void> {
    const pending = await this.#client.xpending(this.#stream, this.#group, "-", "+", 1, this.consumer);
    if (Array.isArray(pending) && pending.length === 0) {
      await this.#client.xgroup("DELCONSUMER", this.#stream, this.#group, this.consumer);
    }
  }
}

/**
 * Opens a subscription to consumer group `group` of stream `stream` through
 * `client` (yours: left open at shutdown unless `closeClient`). Blocking
 * reads run on `options.reader`, or on the group's reader on `client`,
 * shared with the other subscriptions of the group opened on `client`. The group is created if missing unless `create` is
 * false. Resolves once the group exists; rejects, having shut the
 * subscription down, when it is missing, cannot be created, or Redis
 * cannot be reached within the client's `connectTimeout`.
 */
export async function openRedisSubscription(
  client: RedisClient,
  stream: string,
  group: string,
  options: RedisSubscriptionOptions = {},
): Promise<Subscription> {
  const { create = true, start = "new", reader, ...rest } = options;
  const { consumer, ackDeadlineMs, idleConsumerMs, blockMs, closeClient, ...portable } = rest;
  const driver = new RedisSubscriptionDriver(
    client,
    reader,
    { stream, group },
    {
      consumer,
      ackDeadlineMs,
      idleConsumerMs,
      blockMs,
      closeClient,
      createGroupAt: create ? start : undefined,
    },
  );
  const subscription = new Subscription(driver, portable);
  // The URL mux does this for URLs; a direct constructor keeps its promise to resolve once the group exists.
  await subscription.ready().catch(async (err: unknown) => {
    await subscription.shutdown().catch(() => {});
    throw err;
  });
  return subscription;
}
