import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { settledWithin } from "@portable-pubsub/core/driver";
import { Cluster } from "ioredis";
import { parseEntries, type RedisStreamEntry } from "./codec.js";
import { closeClient, duplicateForReads, type RedisClient } from "./connection.js";

/** Extra time, beyond BLOCK, that a receive waits for a reply before it returns empty-handed. */
const REPLY_GRACE_MS = 1000;
/** How soon an UNBLOCK that found the read not blocked yet is sent again, and how often at most. */
const WAKE_AGAIN_MS = 2;
const MAX_WAKES = 50;

/** A consumer name unique to this process and reader. */
export function uniqueConsumerName(): string {
  return `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`;
}

/**
 * Hands entries that this consumer was given back to the group at once:
 * XCLAIM … TIME 1 JUSTID sets their last delivery to the epoch, so the next
 * XAUTOCLAIM of any consumer takes them over. JUSTID leaves their delivery
 * count alone; the XAUTOCLAIM that redelivers them counts the delivery.
 */
export async function handBack(
  client: RedisClient,
  target: { stream: string; group: string; consumer: string },
  ids: string[],
): Promise<void> {
  if (ids.length === 0) return;
  await client.xclaim(target.stream, target.group, target.consumer, 0, ...ids, "TIME", 1, "JUSTID");
}

/** A receive waiting for entries. */
interface Waiting {
  readonly max: number;
  deliver(entries: RedisStreamEntry[]): void;
  fail(error: unknown): void;
}

/** One blocking read on the server: the streams it reads, and whether it was woken early. */
interface Read {
  readonly streams: ReadonlySet<string>;
  woken: boolean;
  /** UNBLOCKs that found the read not blocked yet. */
  wakes: number;
  done: Promise<void>;
}

/**
 * One subscription's place in a {@link GroupReader}: the receive it has
 * waiting, and the entries read for it that it has not taken yet.
 */
export class ReaderSeat {
  readonly stream: string;
  readonly reader: GroupReader;
  /** Entries read for this seat and not handed out yet (a read brought more than the receive asked for). */
  readonly buffered: RedisStreamEntry[] = [];
  waiting: Waiting | undefined;
  /** Told of entries as they are buffered, so that their leases are kept while they wait. */
  onBuffered: (entries: RedisStreamEntry[]) => void = () => {};

  constructor(reader: GroupReader, stream: string) {
    this.reader = reader;
    this.stream = stream;
  }

  /**
   * Returns up to `max` new entries of this seat's stream, waiting for the
   * group's next read that brings some. Returns [] when a read timed out
   * (BLOCK) with nothing for it, after BLOCK and a grace when the reply is
   * late (a stalled connection), when `signal` fires, or on `wake`. A read
   * is never abandoned: what it brings after the receive stopped waiting is
   * kept for the next receive, so entries that Redis has already assigned
   * to this consumer are handed out, not left in the pending list until the
   * ack deadline.
   */
  read(max: number, signal: AbortSignal): Promise<RedisStreamEntry[]> {
    if (this.buffered.length > 0) return Promise.resolve(this.buffered.splice(0, max));
    if (signal.aborted) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        if (this.waiting === waiting) this.waiting = undefined;
      };
      const waiting: Waiting = {
        max,
        deliver: (entries) => {
          done();
          resolve(entries);
        },
        fail: (error) => {
          done();
          reject(error);
        },
      };
      const onAbort = () => waiting.deliver([]);
      const timer = setTimeout(onAbort, this.reader.blockMs + REPLY_GRACE_MS);
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting = waiting;
      this.reader.want(this);
    });
  }

  /** Ends the receive waiting, if any, with []: so that a nack's reclaim runs at once. */
  wake(): void {
    this.waiting?.deliver([]);
  }

  /**
   * Waits (at most `ms`, or until `signal`) for the read in flight if it
   * reads this stream, waking it first; returns every entry held for this
   * seat, which it no longer holds.
   */
  async drain(ms: number, signal: AbortSignal): Promise<RedisStreamEntry[]> {
    this.wake();
    await this.reader.settled(this.stream, ms, signal);
    return this.buffered.splice(0);
  }
}

/**
 * The blocking reads of one consumer of a consumer group, for every stream
 * that its subscriptions read: one `XREADGROUP GROUP g c COUNT n BLOCK ms
 * STREAMS k1 k2 … > > …` at a time, on a connection of its own (a blocking
 * command holds its connection until it returns), whose entries go to the
 * subscription of their stream.
 *
 * A read covers only the streams whose subscription is waiting in a
 * receive: a subscription that is slow to come back for more (its portable
 * buffer is full) is left out, so it neither blocks the others nor has
 * entries assigned to it that it would hold past their ack deadline. A
 * subscription that starts waiting while a read without its stream blocks
 * wakes that read (CLIENT UNBLOCK from the command connection), and the next
 * read includes it. Without the permission to run CLIENT, or on a Redis
 * Cluster (where CLIENT cannot be aimed at the reader's node), it waits for
 * the read to end, at most BLOCK.
 *
 * ioredis re-sends a read on a new connection if the old one dies (see
 * connection.ts), and its socket timeout replaces a stalled connection.
 */
export class GroupReader {
  /** The connection of the blocking reads. */
  readonly connection: RedisClient;
  readonly group: string;
  readonly consumer: string;
  readonly blockMs: number;
  readonly #command: RedisClient;
  readonly #seats = new Map<string, ReaderSeat[]>();
  readonly #closeConnection: boolean;
  readonly #onEmpty: () => void;
  #read: Read | undefined;
  #scheduled = false;
  #clientId: number | undefined;
  /**
   * The id is asked on 'connect', not 'ready': ioredis sends the read that a dead connection left unanswered
   * again before it emits 'ready', so a CLIENT ID sent then queued behind that read, and for as long as the
   * read blocked (BLOCK) no UNBLOCK could wake it. Before 'ready', ioredis writes CLIENT at once.
   */
  readonly #onConnect = () => this.#learnClientId();

  /**
   * `command` is another connection: it wakes the reader (CLIENT UNBLOCK)
   * and hands back entries that arrive for a stream nobody reads any more.
   * `closeConnection`: close `connection` once the last seat leaves.
   */
  constructor(
    connection: RedisClient,
    command: RedisClient,
    names: { group: string; consumer: string },
    blockMs: number,
    options: { closeConnection: boolean; onEmpty?: () => void },
  ) {
    this.connection = connection;
    this.#command = command;
    this.group = names.group;
    this.consumer = names.consumer;
    this.blockMs = blockMs;
    this.#closeConnection = options.closeConnection;
    this.#onEmpty = options.onEmpty ?? (() => {});
    connection.on("connect", this.#onConnect);
    if (connection.status === "connect" || connection.status === "ready") this.#learnClientId();
  }

  /** A seat for a subscription of `stream`; it must `leave` once done. */
  join(stream: string): ReaderSeat {
    const seat = new ReaderSeat(this, stream);
    const seats = this.#seats.get(stream);
    if (seats) seats.push(seat);
    else this.#seats.set(stream, [seat]);
    return seat;
  }

  /**
   * Removes `seat` (its receive waiting, if any, gets []). Returns true when
   * other seats still read its stream. The last seat to leave closes the
   * connection, if this reader owns it.
   */
  async leave(seat: ReaderSeat, signal: AbortSignal): Promise<boolean> {
    seat.wake();
    const seats = (this.#seats.get(seat.stream) ?? []).filter((s) => s !== seat);
    if (seats.length > 0) this.#seats.set(seat.stream, seats);
    else this.#seats.delete(seat.stream);
    if (this.#seats.size === 0) {
      this.#onEmpty();
      this.connection.off("connect", this.#onConnect);
      if (this.#closeConnection) await closeClient(this.connection, signal);
    }
    return seats.length > 0;
  }

  /** `seat` has a receive waiting: read its stream next, waking the read in flight if that does not. */
  want(seat: ReaderSeat): void {
    const read = this.#read;
    if (read === undefined) this.#schedule();
    else if (!read.streams.has(seat.stream)) this.#wake(read);
  }

  /**
   * Resolves once the read in flight, if it reads `stream`, has settled (woken first), or after `ms`; at once
   * while the connection is down. A read waiting for a connection (a cut, a failover) has not reached Redis,
   * which assigns nothing to this consumer until it does; entries a later read brings for a stream nobody
   * reads any more are handed back.
   */
  async settled(stream: string, ms: number, signal: AbortSignal): Promise<void> {
    const read = this.#read;
    if (read === undefined || !read.streams.has(stream)) return;
    const status = this.connection.status;
    if (status !== "connect" && status !== "ready") return;
    this.#wake(read);
    await settledWithin(read.done, signal, ms);
  }

  /** Issues the next read on a later turn, so that receives coming back from the last one join it. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#issue();
    });
  }

  #issue(): void {
    if (this.#read !== undefined) return;
    const streams: string[] = [];
    let count = 0;
    for (const [stream, seats] of this.#seats) {
      let wanted = false;
      for (const { waiting } of seats) {
        if (waiting === undefined) continue;
        wanted = true;
        count = Math.max(count, waiting.max);
      }
      if (wanted) streams.push(stream);
    }
    if (streams.length === 0) return;
    const args = ["GROUP", this.group, this.consumer, "COUNT", count, "BLOCK", this.blockMs, "STREAMS"];
    const read: Read = { streams: new Set(streams), woken: false, wakes: 0, done: Promise.resolve() };
    this.#read = read;
    read.done = this.connection
      .callBuffer("XREADGROUP", ...args, ...streams, ...streams.map(() => ">"))
      .then(
        (reply) => this.#dispatch(reply, read),
        (error: unknown) => this.#fail(error, read),
      )
      .finally(() => {
        this.#read = undefined;
        this.#schedule();
      });
  }

  /** Hands each stream's entries to its seats: waiting receives first, the rest kept by the first seat. */
  #dispatch(reply: unknown, read: Read): void {
    const arrived = new Map<string, unknown>();
    if (Array.isArray(reply)) for (const [key, raw] of reply as [Buffer, unknown][]) arrived.set(String(key), raw);
    // A null reply that nobody woke is BLOCK running out: the receives in it return [], as the contract asks.
    const timedOut = reply === null && !read.woken;
    for (const stream of read.streams) {
      const entries = parseEntries(stream, arrived.get(stream));
      const seats = this.#seats.get(stream);
      if (seats === undefined) {
        // Its subscriptions left while the read was in flight: give the entries back rather than let them wait for the deadline.
        const target = { stream, group: this.group, consumer: this.consumer };
        handBack(
          this.#command,
          target,
          entries.map((e) => e.id),
        ).catch(() => {});
        continue;
      }
      for (const seat of seats) {
        if (seat.waiting === undefined || (entries.length === 0 && !timedOut)) continue;
        seat.waiting.deliver(entries.splice(0, seat.waiting.max));
      }
      if (entries.length > 0) {
        const keeper = seats[0] as ReaderSeat;
        keeper.buffered.push(...entries);
        keeper.onBuffered(entries);
      }
    }
  }

  /**
   * A failed read fails the receives waiting in it, but one stream's missing
   * group or key fails only that stream's: "NOGROUP No such key 'k' …" names
   * it. A group destroyed, or a key deleted, while the read blocked ends it
   * with an error that names none ("NOGROUP the consumer group this client
   * was blocked on no longer exists", "UNBLOCKED …"); the receives then keep
   * waiting, and the next read, which names the stream, fails only its own.
   */
  #fail(error: unknown, read: Read): void {
    const message = error instanceof Error ? error.message : "";
    const named = /^NOGROUP No such key '(.*)' or consumer group/s.exec(message)?.[1];
    if (named === undefined && read.streams.size > 1 && /^(NOGROUP|UNBLOCKED) /.test(message)) return;
    const streams = named !== undefined && read.streams.has(named) ? [named] : read.streams;
    for (const s of streams) for (const seat of this.#seats.get(s) ?? []) seat.waiting?.fail(error);
  }

  /**
   * Ends the read early (CLIENT UNBLOCK). Best effort: see the class
   * comment. The UNBLOCK travels on another connection and can overtake the
   * read on its way to the server; then it finds nothing blocked (0), and is
   * sent again shortly while the read is still in flight.
   */
  #wake(read: Read): void {
    if (read.woken || this.#clientId === undefined) return;
    read.woken = true;
    this.#command.client("UNBLOCK", this.#clientId).then(
      (unblocked) => {
        if (Number(unblocked) !== 0 || this.#read !== read || read.wakes++ >= MAX_WAKES) return;
        setTimeout(() => {
          if (this.#read !== read) return;
          read.woken = false;
          this.#wake(read);
        }, WAKE_AGAIN_MS);
      },
      () => {},
    );
  }

  #learnClientId(): void {
    this.#clientId = undefined;
    // A Cluster sends CLIENT to any node: the id could be another node's client, and UNBLOCK would wake a stranger.
    if (this.connection.isCluster) return;
    this.connection.client("ID").then(
      (id) => {
        this.#clientId = Number(id);
      },
      () => {},
    );
  }
}

/** The readers shared by the subscriptions made on one command connection, by group, consumer and BLOCK. */
const shared = new WeakMap<RedisClient, Map<string, GroupReader>>();

/**
 * The reader that a subscription of `target` made on `client` joins: one
 * per group (and consumer name, when one is given, and BLOCK time), on a
 * duplicate of `client` that the reader closes when its last subscription
 * leaves. On a Redis Cluster, one per stream as well: the keys of one
 * XREADGROUP must hash to one slot.
 */
export function sharedReader(
  client: RedisClient,
  target: { stream: string; group: string; consumer?: string },
  blockMs: number,
): GroupReader {
  let readers = shared.get(client);
  if (readers === undefined) {
    readers = new Map();
    shared.set(client, readers);
  }
  const perStream = client instanceof Cluster ? target.stream : "";
  const key = JSON.stringify([target.group, target.consumer ?? null, blockMs, perStream]);
  const existing = readers.get(key);
  if (existing !== undefined) return existing;
  const all = readers;
  const names = { group: target.group, consumer: target.consumer ?? uniqueConsumerName() };
  const reader = new GroupReader(duplicateForReads(client, blockMs), client, names, blockMs, {
    closeConnection: true,
    onEmpty: () => {
      if (all.get(key) === reader) all.delete(key);
    },
  });
  readers.set(key, reader);
  return reader;
}
