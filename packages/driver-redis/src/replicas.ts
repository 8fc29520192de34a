import type { DriverMessage } from "@portable-pubsub/core/driver";
import type { ChainableCommander } from "ioredis";
import type { RedisClient } from "./connection.js";

/** How long one WAIT waits for the replicas by default, in ms. */
export const DEFAULT_REPLICAS_TIMEOUT_MS = 1000;

/**
 * Confirms a topic's writes with `WAIT replicas timeout`, one per batch,
 * appended to the pipeline of its XADDs.
 *
 * Redis replicates asynchronously: a master that dies after it replied to an
 * XADD, but before a replica had it, loses the entry in the failover. WAIT
 * returns how many replicas have every write made so far on its connection,
 * so a batch is confirmed only if WAIT ran on the connection its XADDs went
 * over. ioredis re-sends what was in flight when a connection died, WAIT
 * included, and a WAIT on a fresh connection, which made no write, counts
 * every replica at once: so any reconnection during a send voids its
 * confirmation, and the whole batch is sent again (a duplicate, never a loss).
 */
export class ReplicaWait {
  readonly #client: RedisClient;
  readonly #replicas: number;
  readonly #timeoutMs: number;
  readonly #resource: string;
  /**
   * Counts the live connections lost: closes after a ready (for a Cluster,
   * also any node's connection ending). A failed connection attempt carried
   * no command, so it does not count: batches queued while offline go out
   * together on the next connection.
   */
  #generation = 0;
  #live: boolean;
  readonly #onReady = () => {
    this.#live = true;
  };
  readonly #onClose = () => {
    if (this.#live) this.#generation++;
    this.#live = false;
  };
  readonly #onNodeGone = () => {
    this.#generation++;
  };
  /** Per batch: entries added over the current connection that WAIT has not confirmed yet. */
  readonly #held = new WeakMap<readonly DriverMessage[], { generation: number; messages: Set<DriverMessage> }>();

  constructor(client: RedisClient, replicas: number, timeoutMs: number, resource: string) {
    this.#client = client;
    this.#replicas = replicas;
    this.#timeoutMs = timeoutMs;
    this.#resource = resource;
    this.#live = client.status === "ready";
    client.on("ready", this.#onReady);
    client.on("close", this.#onClose);
    client.on("-node", this.#onNodeGone);
  }

  /** Appends the WAIT to `pipeline`; returns what `check` needs. */
  append(pipeline: ChainableCommander): number {
    pipeline.call("wait", String(this.#replicas), String(this.#timeoutMs));
    return this.#generation;
  }

  /**
   * Returns undefined if WAIT's `result` (its `[error, reply]` of the
   * pipeline) confirmed the writes on enough replicas over one connection;
   * otherwise the error to throw, retryable: NOREPLICAS, which the driver's
   * error mapping knows, or WAIT's own error.
   */
  check(result: [Error | null, unknown] | undefined, generation: number): Error | undefined {
    if (result === undefined) return new Error("Connection is closed.");
    const [err, reply] = result;
    if (err) return err;
    if (generation !== this.#generation) {
      return new Error(
        `NOREPLICAS send to ${this.#resource}: the connection to Redis was replaced during the send, so WAIT cannot vouch for its writes; they are sent again`,
      );
    }
    const count = Number(reply);
    if (count >= this.#replicas) return undefined;
    return new Error(
      `NOREPLICAS send to ${this.#resource}: WAIT confirmed the writes on ${count} of the ${this.#replicas} replicas asked for (replicas=${this.#replicas}) within ${this.#timeoutMs} ms`,
    );
  }

  /**
   * Remembers that `messages` of `batch` were added over the connection of
   * `generation` but not confirmed: a WAIT over that same connection covers
   * them, so the retry need not add them again.
   */
  hold(batch: readonly DriverMessage[], generation: number, messages: DriverMessage[]): void {
    this.#held.set(batch, { generation, messages: new Set(messages) });
  }

  /** The held entries of `batch`, if the connection they went over is still the current one; otherwise none. */
  held(batch: readonly DriverMessage[]): Set<DriverMessage> | undefined {
    const held = this.#held.get(batch);
    if (held === undefined || held.generation === this.#generation) return held?.messages;
    this.#held.delete(batch);
    return undefined;
  }

  stop(): void {
    this.#client.off("ready", this.#onReady);
    this.#client.off("close", this.#onClose);
    this.#client.off("-node", this.#onNodeGone);
  }
}
