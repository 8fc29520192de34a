/**
 * The outbox relay: claims committed outbox rows (FOR UPDATE SKIP LOCKED, in
 * id order, a batch at a time), sends each to its URL through core's
 * `openTopic` (any driver), and deletes the rows in the claiming transaction
 * once their sends resolved. The row locks are what keeps two relays from
 * sending the same row; a relay that dies mid-batch releases them with its
 * connection, and the next claim sends that batch again (duplicates, each
 * with the message's id). A URL whose send fails waits with backoff
 * (its rows stay in the table); a lost database connection is retried.
 */
import {
  backoffDelay,
  type Health,
  HealthTracker,
  invalidArgument,
  type Logger,
  type OpenTopicOptions,
  openTopic,
  type PubSubError,
  type Topic,
  toPubSubError,
  WakeUp,
} from "@portable-pubsub/core/driver";
import type pg from "pg";
import { type ConnectingQueryable, PgLink, poolConfig, quietPool } from "../connection.js";
import { checkSchemaName, DEFAULT_SCHEMA, migrate } from "../declare.js";
import { isConnectionLoss, pgErrors } from "../errors.js";
import { resolveServer } from "../server.js";
import { OUTBOX_ID_KEY, outboxChannel } from "./outbox.js";
import { claimStatement, findOutboxTable, type OutboxRow, RelayRows } from "./relay-rows.js";

/** Rows a relay claims and sends per transaction unless told otherwise. */
export const DEFAULT_RELAY_BATCH = 500;
/** How often an idle relay looks for rows when NOTIFY is on (a safety net) and when it is off. */
const POLL_MS = { notify: 1000, poll: 250 };

/** Options of {@link startRelay}. */
export interface RelayOptions {
  /** postgres://… of the database with the outbox table; default DATABASE_URL, else libpq's PG* variables. */
  serverUrl?: string;
  /** Your `pg.Pool`, used instead of a pool of the relay's (never ended by it); it needs 2 free connections. */
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
  /** How long the sends of one batch may take before its unsent rows go back to wait. Default 30 s. */
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

/**
 * Starts a relay on the outbox table of `schema`: resolves once the table is
 * found (or created, with `declare`), then sends what is committed there in
 * the background until `shutdown`. Several relays may run at once, in one
 * process or many. Fails with a PubSubError when the database cannot be
 * reached or the table is missing.
 */
export async function startRelay(options: RelayOptions = {}): Promise<Relay> {
  const relay = new OutboxRelay(options);
  await relay.start();
  return relay;
}

/** Refuses options that would make a relay that cannot work, each with what to give instead. */
function checkRelayOptions(options: RelayOptions): void {
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

class OutboxRelay implements Relay {
  readonly #schema: string;
  readonly #options: RelayOptions;
  readonly #pool: ConnectingQueryable;
  readonly #ownPool: pg.Pool | undefined;
  readonly #link: PgLink;
  readonly #display: string;
  readonly #tracker = new HealthTracker("connecting", pgErrors.errorCode);
  readonly #wake = new WakeUp();
  readonly #abort = new AbortController();
  readonly #topics = new Map<string, Promise<Topic>>();
  readonly #rows: RelayRows;
  readonly #stats: RelayStats = { sent: 0, deleted: 0, failed: 0, batches: 0 };
  /** URLs whose sends failed, and until when this relay leaves their rows alone. */
  readonly #blocked = new Map<string, { until: number; failures: number }>();
  #notified = false;
  #unlisten: () => void = () => {};
  #loop: Promise<void> = Promise.resolve();
  #shutdown: Promise<void> | undefined;

  constructor(options: RelayOptions) {
    checkRelayOptions(options);
    this.#options = options;
    this.#schema = checkSchemaName(options.schema ?? DEFAULT_SCHEMA);
    if (options.pool) {
      this.#pool = options.pool;
      this.#display = "the application's pool";
    } else {
      const server = resolveServer(options.serverUrl);
      this.#ownPool = quietPool({ ...poolConfig(server, 3), application_name: "portable-pubsub relay" });
      this.#pool = this.#ownPool;
      this.#display = server.display;
    }
    this.#link = PgLink.of(this.#pool, this.#display).use();
    this.#rows = new RelayRows(this.#schema);
  }

  get health(): Health {
    return this.#tracker.current();
  }

  get #resource(): string {
    return `pg outbox relay of schema ${this.#schema} on ${this.#display}`;
  }

  async start(): Promise<void> {
    try {
      if (this.#options.declare) await migrate(this.#pool, this.#schema);
      else await findOutboxTable(this.#pool, this.#schema);
    } catch (err) {
      await this.#release();
      throw this.#error(err, "start");
    }
    this.#tracker.set("ready", undefined, this.#display);
    if (this.#options.notify !== false) {
      this.#unlisten = this.#link.listen(outboxChannel(this.#schema), "", () => {
        this.#notified = true;
        this.#wake.wakeAll();
      });
    }
    this.#loop = this.#run();
  }

  stats(): RelayStats {
    return { ...this.#stats };
  }

  async backlog(): Promise<{ rows: number; oldestAgeMs: number }> {
    try {
      return await this.#rows.backlog(this.#pool);
    } catch (err) {
      throw this.#error(err, "read the backlog of");
    }
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      this.#abort.abort();
      this.#wake.wakeAll();
      await this.#loop;
      await this.#release();
      this.#tracker.set("closed");
    })();
    return this.#shutdown;
  }

  async #release(): Promise<void> {
    this.#unlisten();
    const topics = [...this.#topics.values()];
    this.#topics.clear();
    await Promise.all(topics.map(async (t) => (await t.catch(() => undefined))?.shutdown().catch(() => {})));
    await this.#link.close();
    await this.#ownPool?.end().catch(() => {});
  }

  #error(err: unknown, operation: string): PubSubError {
    return toPubSubError({ resource: this.#resource, errors: pgErrors, close: async () => {} }, err, operation);
  }

  #log(level: "info" | "warn" | "error", event: string, message: string, fields: Record<string, unknown> = {}): void {
    try {
      this.#options.logger?.[level]({ event, resource: this.#resource, message, ...fields });
    } catch {
      // A throwing logger must not stop the relay.
    }
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const batchSize = this.#options.batchSize ?? DEFAULT_RELAY_BATCH;
    const pollMs = this.#options.pollIntervalMs ?? (this.#options.notify === false ? POLL_MS.poll : POLL_MS.notify);
    const { initialDelayMs = 100, maxDelayMs = 5000 } = this.#options.retry ?? {};
    let failures = 0;
    while (!signal.aborted) {
      this.#notified = false;
      let claimed: number;
      try {
        claimed = await this.#relayBatch(batchSize);
        if (failures > 0 || this.#tracker.current().state !== "ready")
          this.#tracker.set("ready", undefined, this.#display);
        failures = 0;
      } catch (err) {
        const error = err as Error;
        this.#tracker.set("reconnecting", error);
        this.#log("warn", "pubsub.outbox.database", `outbox relay: ${error.message}; retrying`, {
          attempt: failures + 1,
          lost: isConnectionLoss(err),
        });
        await this.#wake.wait(backoffDelay(failures++, initialDelayMs, maxDelayMs), signal);
        continue;
      }
      if (claimed >= batchSize || this.#notified) continue;
      await this.#wake.wait(Math.min(pollMs, this.#nextUnblockMs()), signal);
    }
  }

  /** How long until the first blocked URL may be tried again (Infinity: none blocked). */
  #nextUnblockMs(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const { until } of this.#blocked.values()) next = Math.min(next, Math.max(0, until - Date.now()));
    return next;
  }

  /** One transaction: claim, send, delete what was sent, hold back what was not. Returns the rows claimed. */
  async #relayBatch(batchSize: number): Promise<number> {
    const now = Date.now();
    const blocked = [...this.#blocked].filter(([, b]) => b.until > now).map(([url]) => url);
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    // A connection that dies while no statement runs on it (during the sends) reports here, not to a query.
    const onError = (err: Error) => {
      broken ??= err;
    };
    client.on("error", onError);
    try {
      await client.query("BEGIN");
      const { rows } = await client.query<OutboxRow>(claimStatement(this.#schema), [batchSize, blocked]);
      if (rows.length === 0) {
        await client.query("COMMIT");
        return 0;
      }
      this.#stats.batches++;
      const byUrl = new Map<string, OutboxRow[]>();
      for (const row of rows) {
        const group = byUrl.get(row.url) ?? [];
        group.push(row);
        byUrl.set(row.url, group);
      }
      const signal = AbortSignal.timeout(this.#options.sendTimeoutMs ?? 30_000);
      const sent: string[] = [];
      const held: { ids: string[]; delayMs: number; error: string }[] = [];
      await Promise.all(
        [...byUrl].map(async ([url, group]) => {
          const outcome = await this.#sendGroup(url, group, signal);
          sent.push(...outcome.sent);
          if (outcome.failed.length > 0) held.push({ ids: outcome.failed, ...this.#block(url, outcome.error) });
          else this.#blocked.delete(url);
        }),
      );
      await this.#rows.settle(client, sent, held);
      await client.query("COMMIT");
      this.#stats.deleted += sent.length;
      return rows.length;
    } catch (err) {
      broken = err as Error;
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      client.off("error", onError);
      client.release(broken && isConnectionLoss(broken) ? broken : undefined);
    }
  }

  /** Marks `url` as failing: its rows wait a backoff that grows with each failure in a row. */
  #block(url: string, error: string): { delayMs: number; error: string } {
    const { initialDelayMs = 100, maxDelayMs = 5000 } = this.#options.retry ?? {};
    const failures = (this.#blocked.get(url)?.failures ?? 0) + 1;
    // At least half the capped delay, so that a down broker is not hammered by an unlucky draw of zero.
    const cap = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(failures - 1, 30));
    const delayMs = Math.round(cap / 2 + backoffDelay(failures - 1, initialDelayMs, maxDelayMs) / 2);
    this.#blocked.set(url, { until: Date.now() + delayMs, failures });
    this.#log(
      "warn",
      "pubsub.outbox.send_failed",
      `outbox relay: sending to ${url} failed (${error}); retrying in ${delayMs} ms`,
      {
        url,
        failures,
      },
    );
    return { delayMs, error };
  }

  /** Sends one URL's rows in id order; returns the ids whose send resolved and those that failed. */
  async #sendGroup(
    url: string,
    rows: OutboxRow[],
    signal: AbortSignal,
  ): Promise<{ sent: string[]; failed: string[]; error: string }> {
    let topic: Topic;
    try {
      topic = await this.#topic(url, signal);
    } catch (err) {
      this.#stats.failed += rows.length;
      return { sent: [], failed: rows.map((r) => r.id), error: (err as Error).message };
    }
    const results = await Promise.allSettled(
      rows.map((row) =>
        topic.send(
          { id: row.message_id, body: row.body, metadata: { ...row.metadata, [OUTBOX_ID_KEY]: row.message_id } },
          { signal },
        ),
      ),
    );
    const sent: string[] = [];
    const failed: string[] = [];
    let error = "";
    results.forEach((result, i) => {
      const id = (rows[i] as OutboxRow).id;
      if (result.status === "fulfilled") sent.push(id);
      else {
        failed.push(id);
        error ||= (result.reason as Error).message;
      }
    });
    this.#stats.sent += sent.length;
    this.#stats.failed += failed.length;
    return { sent, failed, error };
  }

  /** The open topic of `url`, opened on first use; a failed open is forgotten so that the next batch tries again. */
  #topic(url: string, signal: AbortSignal): Promise<Topic> {
    let topic = this.#topics.get(url);
    if (!topic) {
      const options = { ...(this.#options.topicOptions?.(url) ?? {}), signal } as OpenTopicOptions;
      topic = openTopic(url, options);
      this.#topics.set(url, topic);
      topic.catch(() => {
        if (this.#topics.get(url) === topic) this.#topics.delete(url);
      });
    }
    return topic;
  }
}
