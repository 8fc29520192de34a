import {
  type DriverMessage,
  type DriverServer,
  type DriverTelemetry,
  type HealthSource,
  type Redelivery,
  Subscription,
  type SubscriptionDriver,
  type SubscriptionOptions,
  WakeUp,
} from "@portable-pubsub/core/driver";
import { notifyChannel, type PgAckId, toDriverMessage } from "./codec.js";
import { PgLink, type Queryable, serverOf } from "./connection.js";
import { checkSchemaName, DEFAULT_SCHEMA, declareSubscription, findSubscription, migrate } from "./declare.js";
import { Deliveries, SWEEP_LIMIT } from "./deliveries.js";
import { pgErrors } from "./errors.js";
import { telemetryFor } from "./telemetry.js";

/** How long a claimed message stays leased to its consumer unless extended. */
export const DEFAULT_LEASE_MS = 30_000;
/** How often an idle receiver looks for rows with notify=false (PgBouncer in transaction mode). */
export const DEFAULT_POLL_INTERVAL_MS = 250;
/** How often an idle receiver looks with notify on: a safety net for a NOTIFY lost with its connection. */
const NOTIFY_POLL_MS = 1000;
/** How long one receive waits when nothing is there. */
const RECEIVE_WAIT_MS = 1000;
/** The retention sweep runs at most this often per subscription, after acks. */
const SWEEP_INTERVAL_MS = 2000;
/** How often an idle receiver checks that its subscription still exists (a removed one finds no rows, silently). */
const EXISTS_CHECK_MS = 5000;

/** How a subscription receives. */
export interface PgSubscriptionSettings {
  /** The schema of the driver's tables. Default "pubsub". */
  schema?: string;
  /** How long `ready` (so opening) may take to reach the database, in ms. Default 10 s, as on every driver. */
  connectTimeoutMs?: number;
  /** Have `ready` create the tables, the topic and the subscription when missing. Default false: NotFound. */
  declare?: boolean;
  /**
   * LISTEN for the topic's NOTIFY, to receive at once. Default true. false:
   * poll every `pollIntervalMs`, for PgBouncer in transaction pooling mode.
   */
  notify?: boolean;
  /** How long a received message stays invisible to other consumers unless its lease is extended. Default 30 s. */
  leaseMs?: number;
  /** How often an idle receiver looks for messages with notify=false. Default 250 ms. */
  pollIntervalMs?: number;
}

/** Options of {@link openPgSubscription}. */
export interface PgSubscriptionOptions extends Omit<SubscriptionOptions, "schema">, PgSubscriptionSettings {}

/**
 * One consumer of a subscription: it claims delivery rows with FOR UPDATE
 * SKIP LOCKED, so the consumers of one subscription compete, while every
 * subscription of the topic has rows of its own. See deliveries.ts for the
 * statements, and the README for why.
 */
export class PgSubscriptionDriver implements SubscriptionDriver {
  readonly resource: string;
  readonly errors = pgErrors;
  readonly canNack = true;
  readonly health: HealthSource;
  readonly server: DriverServer;
  readonly telemetry: DriverTelemetry;
  readonly leaseMs: number;
  readonly ackBatchLimits = { maxItems: 1000 };
  readonly topic: string;
  readonly name: string;
  readonly schema: string;
  readonly #link: PgLink;
  readonly #settings: PgSubscriptionSettings;
  readonly #deliveries: Deliveries;
  readonly #arrived = new WakeUp();
  readonly #pollMs: number;
  #id: Promise<string> | undefined;
  #checkedAt = Date.now();
  #unlisten: (() => void) | undefined;
  #lastSweep = 0;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;
  /** Acks came while a sweep ran: its statement may have read the deliveries before they went, so one more follows. */
  #sweepAgain = false;
  #closing = false;

  /** `link` is the database: `PgLink.of(pool)` for yours (left open at close). */
  constructor(link: PgLink, topic: string, name: string, settings: PgSubscriptionSettings = {}) {
    this.#link = link;
    this.topic = topic;
    this.name = name;
    this.schema = checkSchemaName(settings.schema ?? DEFAULT_SCHEMA);
    this.#settings = settings;
    this.leaseMs = settings.leaseMs ?? DEFAULT_LEASE_MS;
    const notify = (settings.notify ?? true) && link.canListen;
    this.#pollMs = notify ? NOTIFY_POLL_MS : (settings.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS);
    this.#deliveries = new Deliveries(link, this.schema);
    this.resource = `pg subscription "${name}" of topic "${topic}"`;
    this.health = link.health;
    this.server = serverOf(link, settings.connectTimeoutMs);
    this.telemetry = telemetryFor(link, topic, name);
    if (notify) this.#unlisten = link.listen(notifyChannel(this.schema), topic, () => this.#arrived.wakeAll());
  }

  /** Resolves once the subscription is found (or, with `declare`, created with its topic and the tables). */
  async ready(): Promise<void> {
    await this.#subscriptionId();
  }

  async receiveBatch(maxMessages: number, signal: AbortSignal): Promise<DriverMessage[]> {
    let id = await this.#subscriptionId();
    const deadline = Date.now() + RECEIVE_WAIT_MS;
    for (;;) {
      const rows = await this.#deliveries.claim(id, maxMessages, this.leaseMs);
      if (rows.length > 0) {
        this.#checkedAt = Date.now();
        return rows.map(toDriverMessage);
      }
      if (Date.now() - this.#checkedAt >= EXISTS_CHECK_MS) {
        // Looked up again: NotFound once the subscription was removed (with declare=true, made again).
        this.#checkedAt = Date.now();
        this.#id = undefined;
        id = await this.#subscriptionId();
      }
      const left = deadline - Date.now();
      if (left <= 0 || signal.aborted) return [];
      await this.#arrived.wait(Math.min(left, this.#pollMs), signal);
      if (signal.aborted) return [];
    }
  }

  /**
   * Deletes the rows, one statement per batch; a retention sweep follows
   * within SWEEP_INTERVAL_MS (one at a time, at most that often), to delete
   * the messages that no subscription needs any more.
   */
  async sendAcks(ackIds: unknown[]): Promise<void> {
    await this.#deliveries.ack(await this.#subscriptionId(), ackIds as PgAckId[]);
    this.#sweepSoon();
  }

  async sendNacks(ackIds: unknown[]): Promise<void> {
    await this.#move(ackIds as PgAckId[], () => 0);
  }

  /** Native delayed redelivery: `visible_at` moves to the end of the delay; the message is not sent again. */
  async redeliver(redeliveries: Redelivery[]): Promise<void> {
    await this.#move(
      redeliveries.map((r) => r.ackId as PgAckId),
      (i) => (redeliveries[i] as Redelivery).delayMs,
    );
  }

  async extendLeases(ackIds: unknown[]): Promise<void> {
    await this.#move(ackIds as PgAckId[], () => this.leaseMs);
  }

  /** The queryable (a `pg.Pool` for a subscription opened by URL). */
  native(): Queryable {
    return this.#link.db;
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#unlisten?.();
    this.#arrived.wakeAll();
    if (this.#sweeping === undefined) clearTimeout(this.#sweepTimer);
    await this.#sweeping;
    await this.#link.close();
  }

  async #move(ackIds: PgAckId[], delayOf: (i: number) => number): Promise<void> {
    const id = await this.#subscriptionId();
    await this.#deliveries.move(
      id,
      ackIds,
      ackIds.map((_, i) => delayOf(i)),
    );
  }

  #sweepSoon(): void {
    if (this.#closing) return;
    if (this.#sweeping !== undefined) {
      this.#sweepAgain = true;
      return;
    }
    if (this.#sweepTimer !== undefined) return;
    const wait = Math.max(0, this.#lastSweep + SWEEP_INTERVAL_MS - Date.now());
    this.#sweepTimer = setTimeout(() => {
      this.#lastSweep = Date.now();
      // Errors are left to the next sweep: a lost connection loses nothing here.
      this.#sweeping = this.#sweep()
        .catch(() => {})
        .finally(() => {
          this.#sweeping = undefined;
          this.#sweepTimer = undefined;
          if (this.#sweepAgain) {
            this.#sweepAgain = false;
            this.#sweepSoon();
          }
        });
    }, wait);
    this.#sweepTimer.unref();
  }

  async #sweep(): Promise<void> {
    while (!this.#closing && (await this.#deliveries.sweep()) >= SWEEP_LIMIT);
  }

  /** The subscription's id, looked up (or declared) once; a failure is not kept, so the next call looks again. */
  #subscriptionId(): Promise<string> {
    this.#id ??= this.#lookUp().catch((err: unknown) => {
      this.#id = undefined;
      throw err;
    });
    return this.#id;
  }

  async #lookUp(): Promise<string> {
    if (this.#settings.declare) {
      await migrate(this.#link, this.schema);
      return declareSubscription(this.#link, this.schema, this.topic, this.name);
    }
    return findSubscription(this.#link, this.schema, this.topic, this.name);
  }
}

/**
 * Opens subscription `name` of `topic` through `db`, a `pg.Pool` or client
 * you own and end: the subscription leaves it open at shutdown. With a
 * `pg.Pool`, LISTEN holds one of its connections; with anything else the
 * subscription polls.
 */
export function openPgSubscription(
  db: Queryable,
  topic: string,
  name: string,
  options: PgSubscriptionOptions = {},
): Subscription {
  const { schema, declare, notify, leaseMs, pollIntervalMs, ...portable } = options;
  const driver = new PgSubscriptionDriver(PgLink.of(db).use(), topic, name, {
    schema,
    declare,
    notify,
    leaseMs,
    pollIntervalMs,
  });
  return new Subscription(driver, portable);
}
