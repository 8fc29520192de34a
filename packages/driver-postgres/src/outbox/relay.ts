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
import { checkRelayOptions, type Relay, type RelayOptions, type RelayStats } from "./relay-options.js";
import { claimStatement, findOutboxTable, type OutboxRow, RelayRows } from "./relay-rows.js";
import { SendsInDoubt, settleWithin } from "./sends-in-doubt.js";

/** Rows a relay claims and sends per transaction unless told otherwise. */
export const DEFAULT_RELAY_BATCH = 500;
/** How long a batch waits for its sends' confirms before their rows go back to wait. */
const DEFAULT_SEND_TIMEOUT_MS = 30_000;
/** How often an idle relay looks for rows when NOTIFY is on (a safety net) and when it is off. */
const POLL_MS = { notify: 1000, poll: 250 };

/** A claimed batch: its rows, locked by the open transaction on `client`. */
interface ClaimedBatch {
  client: pg.PoolClient;
  rows: OutboxRow[];
  /** The error that broke the connection, if one did: the connection is then discarded, not reused. */
  broken: Error | undefined;
  onError: (err: Error) => void;
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
  readonly #inDoubt = new SendsInDoubt();
  readonly #sendTimeoutMs: number;
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
    this.#sendTimeoutMs = options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
    this.#schema = checkSchemaName(options.schema ?? DEFAULT_SCHEMA);
    if (options.pool) {
      this.#pool = options.pool;
      this.#display = "the application's pool";
    } else {
      const server = resolveServer(options.serverUrl);
      this.#ownPool = quietPool({ ...poolConfig(server, 4), application_name: "portable-pubsub relay" });
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

  /**
   * Claims and sends batch after batch. Two batches overlap: the next is
   * claimed (SKIP LOCKED keeps the two apart) once the sends of the one
   * before have been handed to their topics, so the database's round trips
   * run while the broker confirms; the sends still go out in claim order.
   */
  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const batchSize = this.#options.batchSize ?? DEFAULT_RELAY_BATCH;
    const pollMs = this.#options.pollIntervalMs ?? (this.#options.notify === false ? POLL_MS.poll : POLL_MS.notify);
    const { initialDelayMs = 100, maxDelayMs = 5000 } = this.#options.retry ?? {};
    let failures = 0;
    let finishing: Promise<void> | undefined;
    while (!signal.aborted) {
      this.#notified = false;
      let claimed = 0;
      try {
        const batch = await this.#claim(batchSize);
        claimed = batch?.rows.length ?? 0;
        const next = batch && this.#finish(batch);
        // Settled here or below, never unobserved: a failure is the loop's to report.
        next?.finished.catch(() => {});
        await next?.issued;
        const before = finishing;
        finishing = next?.finished;
        await before;
        if (claimed < batchSize) {
          finishing = undefined;
          await next?.finished;
        }
        if (failures > 0 || this.#tracker.current().state !== "ready")
          this.#tracker.set("ready", undefined, this.#display);
        failures = 0;
      } catch (err) {
        await finishing?.catch(() => {});
        finishing = undefined;
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
    await finishing?.catch(() => {});
  }

  /** How long until the first blocked URL may be tried again (Infinity: none blocked). */
  #nextUnblockMs(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const { until } of this.#blocked.values()) next = Math.min(next, Math.max(0, until - Date.now()));
    return next;
  }

  /**
   * Opens a transaction and claims up to `batchSize` due rows in it;
   * undefined (the transaction ended) when there are none.
   */
  async #claim(batchSize: number): Promise<ClaimedBatch | undefined> {
    const now = Date.now();
    const blocked = [...this.#blocked].filter(([, b]) => b.until > now).map(([url]) => url);
    const client = await this.#pool.connect();
    // A connection that dies while no statement runs on it (during the sends) reports here, not to a query.
    const batch: ClaimedBatch = {
      client,
      rows: [],
      broken: undefined,
      onError: (err: Error) => {
        batch.broken ??= err;
      },
    };
    client.on("error", batch.onError);
    try {
      await client.query("BEGIN");
      const { rows } = await client.query<OutboxRow>(claimStatement(this.#schema), [batchSize, blocked]);
      if (rows.length > 0) {
        batch.rows = rows;
        return batch;
      }
      await client.query("COMMIT");
      this.#endBatch(batch);
      return undefined;
    } catch (err) {
      await this.#abandon(batch, err);
      throw err;
    }
  }

  /**
   * Sends a claimed batch, deletes what was sent and holds back what was
   * not, and commits. `issued` resolves once every send was handed to its
   * topic; `finished` once the transaction ended (rejecting if it failed).
   */
  #finish(batch: ClaimedBatch): { issued: Promise<void>; finished: Promise<void> } {
    this.#stats.batches++;
    const byUrl = new Map<string, OutboxRow[]>();
    for (const row of batch.rows) {
      const group = byUrl.get(row.url) ?? [];
      group.push(row);
      byUrl.set(row.url, group);
    }
    const signal = AbortSignal.timeout(this.#sendTimeoutMs);
    const sent: string[] = [];
    const held: { ids: string[]; delayMs: number; error: string }[] = [];
    let groupsLeft = byUrl.size;
    let markIssued = () => {};
    const issued = new Promise<void>((resolve) => {
      markIssued = () => {
        if (--groupsLeft === 0) resolve();
      };
    });
    const sending = [...byUrl].map(async ([url, group]) => {
      const outcome = await this.#sendGroup(url, group, signal, markIssued);
      sent.push(...outcome.sent);
      if (outcome.failed.length > 0) held.push({ ids: outcome.failed, ...this.#block(url, outcome.error) });
      else this.#blocked.delete(url);
    });
    const finished = (async () => {
      try {
        await Promise.all(sending);
        await this.#rows.settle(batch.client, sent, held);
        await batch.client.query("COMMIT");
        this.#stats.deleted += sent.length;
        this.#endBatch(batch);
      } catch (err) {
        await this.#abandon(batch, err);
        throw err;
      }
    })();
    return { issued, finished };
  }

  /** Rolls a failed batch's transaction back and gives its connection back (a lost one is discarded). */
  async #abandon(batch: ClaimedBatch, err: unknown): Promise<void> {
    batch.broken = err as Error;
    await batch.client.query("ROLLBACK").catch(() => {});
    this.#endBatch(batch);
  }

  #endBatch(batch: ClaimedBatch): void {
    batch.client.off("error", batch.onError);
    batch.client.release(batch.broken && isConnectionLoss(batch.broken) ? batch.broken : undefined);
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

  /** Sends one URL's rows in id order (calling `issued` once all were handed to the topic); returns the ids whose send resolved and those that failed. */
  async #sendGroup(
    url: string,
    rows: OutboxRow[],
    signal: AbortSignal,
    issued: () => void,
  ): Promise<{ sent: string[]; failed: string[]; error: string }> {
    let topic: Topic;
    try {
      topic = await this.#topic(url, signal);
    } catch (err) {
      issued();
      this.#stats.failed += rows.length;
      return { sent: [], failed: rows.map((r) => r.id), error: (err as Error).message };
    }
    const sent: string[] = [];
    const failed: string[] = [];
    let error = "";
    const fresh: OutboxRow[] = [];
    this.#inDoubt.prune();
    for (const row of rows) {
      const need = this.#inDoubt.need(row.id);
      if (need === "send") fresh.push(row);
      else if (need === "sent") sent.push(row.id);
      else {
        failed.push(row.id);
        error ||= "an earlier send of the row is still waiting for the broker's confirm";
      }
    }
    // No signal: a send the relay stops waiting for is left to the topic (its driver sends it once the broker is
    // back) and tracked, rather than cancelled and sent again.
    const sends = fresh.map((row) =>
      topic.send({
        id: row.message_id,
        body: row.body,
        metadata: { ...row.metadata, [OUTBOX_ID_KEY]: row.message_id },
      }),
    );
    issued();
    const outcomes = await settleWithin(sends, signal);
    outcomes.forEach((outcome, i) => {
      const id = (fresh[i] as OutboxRow).id;
      if (outcome?.status === "fulfilled") sent.push(id);
      else {
        failed.push(id);
        if (outcome === undefined) this.#inDoubt.track(id, sends[i] as Promise<void>);
        error ||=
          outcome === undefined ? `no confirm within ${this.#sendTimeoutMs} ms` : (outcome.reason as Error).message;
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
