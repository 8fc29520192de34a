import { settledWithin } from "@portable-pubsub/core/driver";
import { parseEntries, type RedisStreamEntry } from "./codec.js";
import type { RedisClient } from "./connection.js";

type Outcome = { entries: RedisStreamEntry[] } | { error: unknown };

/** Extra time, beyond BLOCK, that a receive waits for a reply before it returns empty-handed. */
const REPLY_GRACE_MS = 1000;

/**
 * The blocking `XREADGROUP … BLOCK ms … >` of one consumer, on a connection
 * of its own (a blocking command holds its connection until it returns).
 *
 * A read is never abandoned: when a receive stops waiting for it (its signal
 * fired, or the reply is late because the connection stalled), the read
 * stays in flight and the next receive takes its reply. So entries that
 * Redis has already assigned to this consumer are handed out, not left in
 * the pending list until the ack deadline. ioredis re-sends the read on a
 * new connection if the old one dies (see connection.ts), and its socket
 * timeout replaces a stalled connection.
 */
export class BlockingReader {
  readonly #reader: RedisClient;
  readonly #command: RedisClient;
  readonly #args: (string | number)[];
  readonly #blockMs: number;
  readonly #stream: string;
  /** The read whose reply no caller has taken yet; it may have settled already. */
  #inflight: Promise<Outcome> | undefined;
  /** True while a read is on the server, waiting. */
  #blocked = false;
  #clientId: number | undefined;
  readonly #onReady = () => this.#learnClientId();

  /** `command` is another connection, used only to wake the reader with CLIENT UNBLOCK. */
  constructor(
    reader: RedisClient,
    command: RedisClient,
    target: { stream: string; group: string; consumer: string },
    blockMs: number,
  ) {
    this.#reader = reader;
    this.#command = command;
    this.#blockMs = blockMs;
    this.#stream = target.stream;
    this.#args = ["GROUP", target.group, target.consumer, "COUNT", 0, "BLOCK", blockMs, "STREAMS", target.stream, ">"];
    reader.on("ready", this.#onReady);
    if (reader.status === "ready") this.#learnClientId();
  }

  /**
   * Returns new entries: up to `max` from a fresh read, or whatever the read
   * already in flight brings (which may be more). Returns [] when nothing
   * arrived within BLOCK (plus a grace), or when `signal` fires.
   */
  async read(max: number, signal: AbortSignal): Promise<RedisStreamEntry[]> {
    const inflight = this.#inflight ?? this.#issue(max);
    const outcome = await settledWithin(inflight, signal, this.#blockMs + REPLY_GRACE_MS);
    if (outcome === undefined) return [];
    this.#consumed(inflight);
    if ("error" in outcome) throw outcome.error;
    return outcome.entries;
  }

  /** Waits (at most `ms`, or until `signal`) for the read in flight, waking it first; returns what it brought. */
  async drain(ms: number, signal: AbortSignal): Promise<RedisStreamEntry[]> {
    const inflight = this.#inflight;
    if (!inflight) return [];
    this.wake();
    const outcome = await settledWithin(inflight, signal, ms);
    if (outcome === undefined) return [];
    this.#consumed(inflight);
    return "entries" in outcome ? outcome.entries : [];
  }

  /**
   * Ends the current BLOCK early (CLIENT UNBLOCK from the command
   * connection), so that a nack or a shutdown need not wait for it. Best
   * effort: without the permission to run CLIENT, the read ends on its own.
   */
  wake(): void {
    if (!this.#blocked || this.#clientId === undefined) return;
    this.#command.client("UNBLOCK", this.#clientId).catch(() => {});
  }

  /** Stops listening to the reader's events. */
  stop(): void {
    this.#reader.off("ready", this.#onReady);
  }

  #issue(max: number): Promise<Outcome> {
    this.#args[4] = max;
    const promise: Promise<Outcome> = this.#reader.callBuffer("XREADGROUP", ...this.#args).then(
      (reply) => ({ entries: parseReply(this.#stream, reply) }),
      (error: unknown) => ({ error }),
    );
    this.#inflight = promise;
    this.#blocked = true;
    void promise.then(() => {
      this.#blocked = false;
    });
    return promise;
  }

  /** The reply of `read` has been handed over: the next call issues a new read. */
  #consumed(read: Promise<Outcome>): void {
    if (this.#inflight === read) this.#inflight = undefined;
  }

  #learnClientId(): void {
    this.#clientId = undefined;
    // A Cluster sends CLIENT to any node: the id could be another node's client, and UNBLOCK would wake a stranger.
    if (this.#reader.isCluster) return;
    this.#reader.client("ID").then(
      (id) => {
        this.#clientId = Number(id);
      },
      () => {},
    );
  }
}

/** XREADGROUP replies `[[stream, [[id, fields], …]]]`, or null when BLOCK timed out. */
function parseReply(stream: string, reply: unknown): RedisStreamEntry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const [first] = reply as [unknown[]];
  return parseEntries(stream, first?.[1]);
}
