/**
 * What a relay is given and what it reports: its options (checked before it
 * starts), its counts, and the handle of a running relay.
 */
import { type Health, invalidArgument, type Logger, type OpenTopicOptions } from "@portable-pubsub/core/driver";
import type { ConnectingQueryable } from "../connection.js";

/** Options of {@link startRelay}. */
export interface RelayOptions {
  /** postgres://… of the database with the outbox table; default DATABASE_URL, else libpq's PG* variables. */
  serverUrl?: string;
  /** Your `pg.Pool`, used instead of a pool of the relay's (never ended by it); it needs 3 free connections (two batches in flight, one LISTEN). */
  pool?: ConnectingQueryable;
  /** The schema of the driver's tables, as `outbox.send`'s. Default "pubsub". */
  schema?: string;
  /** Create the outbox table (and the driver's others) when missing. Default false: NotFound at start. */
  declare?: boolean;
  /** Rows claimed and sent per transaction. Default 500. */
  batchSize?: number;
  /** LISTEN for `outbox.send`'s NOTIFY, to send at once. Default true; false: poll every `pollIntervalMs`. */
  notify?: boolean;
  /** How often an idle relay looks for rows: default 1 s with notify (a safety net), 250 ms without. */
  pollIntervalMs?: number;
  /**
   * How long the sends of one batch may take before its unsent rows go back to wait. Default 30 s. A send still
   * pending then is left to its topic: its row is not sent again while it is, and is deleted if it resolves.
   */
  sendTimeoutMs?: number;
  /** The backoff of a URL whose sends fail, and of a lost database: up to `initialDelayMs`, doubling, capped. */
  retry?: { initialDelayMs?: number; maxDelayMs?: number };
  /** The options `openTopic` gets for a URL (its driver's serverUrl, batching…). Default none. */
  topicOptions?: (url: string) => OpenTopicOptions;
  /** Receives the relay's events: a failed batch or URL, a lost database. Default: none. */
  logger?: Logger;
}

/** What a relay has done since it started. */
export interface RelayStats {
  /** Messages whose send resolved (each counted once per send, resends included). */
  sent: number;
  /** Rows deleted after their send: `sent` minus sends whose delete did not commit. */
  deleted: number;
  /** Sends that failed or timed out; their rows wait and are sent again. */
  failed: number;
  /** Transactions that claimed at least one row. */
  batches: number;
}

/** A running relay. */
export interface Relay {
  /** `ready` while the relay reaches the database, `reconnecting` while it does not, `closed` after shutdown. */
  readonly health: Health;
  /** Counts since start. */
  stats(): RelayStats;
  /** Rows waiting in the outbox table (not only this relay's) and the age of the oldest, in ms (0 when none). */
  backlog(): Promise<{ rows: number; oldestAgeMs: number }>;
  /**
   * Stops claiming, lets the batch in flight finish (its sends are bounded by
   * `sendTimeoutMs`), shuts the topics down and releases the database.
   * Returns only after all that; calling it again returns the same promise.
   */
  shutdown(): Promise<void>;
}

/** Refuses options that would make a relay that cannot work, each with what to give instead. */
export function checkRelayOptions(options: RelayOptions): void {
  if (options.pool !== undefined) {
    if (typeof (options.pool as Partial<ConnectingQueryable>).connect !== "function") {
      throw invalidArgument(
        "outbox relay: pool must be a pg.Pool (it needs connect() for its claiming transactions); give serverUrl to let the relay open its own",
      );
    }
    if (options.serverUrl !== undefined) {
      throw invalidArgument("outbox relay: the pool option replaces serverUrl; give one or the other");
    }
  }
  const positive = {
    batchSize: options.batchSize,
    sendTimeoutMs: options.sendTimeoutMs,
    pollIntervalMs: options.pollIntervalMs,
  };
  for (const [name, value] of Object.entries(positive)) {
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw invalidArgument(`outbox relay: ${name} must be a whole number above 0, got ${String(value)}`);
    }
  }
}
