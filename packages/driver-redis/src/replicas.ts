import type { ChainableCommander } from "ioredis";
import type { RedisClient } from "./connection.js";

/** How long one WAIT waits for the replicas by default, in ms. */
export const DEFAULT_REPLICAS_TIMEOUT_MS = 1000;

/** Events after which the writes of a pipeline may have gone over another connection than its WAIT. */
const RECONNECTS = ["close", "-node", "+node"] as const;

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
  /** Counts the reconnections of the client (for a Cluster: of any node). */
  #generation = 0;
  readonly #bump = () => {
    this.#generation++;
  };

  constructor(client: RedisClient, replicas: number, timeoutMs: number, resource: string) {
    this.#client = client;
    this.#replicas = replicas;
    this.#timeoutMs = timeoutMs;
    this.#resource = resource;
    for (const event of RECONNECTS) client.on(event, this.#bump);
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

  stop(): void {
    for (const event of RECONNECTS) this.#client.off(event, this.#bump);
  }
}
