import {
  type DriverMessage,
  type DriverServer,
  type DriverTelemetry,
  type HealthSource,
  Topic,
  type TopicDriver,
  type TopicOptions,
} from "@portable-pubsub/core/driver";
import { checkStorable, insertMessages } from "./codec.js";
import { PgLink, type Queryable, serverOf } from "./connection.js";
import { checkSchemaName, DEFAULT_SCHEMA, declareTopic, findTopic, migrate } from "./declare.js";
import { pgErrors } from "./errors.js";
import { telemetryFor } from "./telemetry.js";

/** How a topic sends. */
export interface PgTopicSettings {
  /** The schema of the driver's tables. Default "pubsub". */
  schema?: string;
  /** Have `ready` create the tables and the topic when missing. Default false: `ready` fails with NotFound. */
  declare?: boolean;
  /** Send a NOTIFY at each batch's commit, to wake receivers at once. Default true. */
  notify?: boolean;
  /** How long `ready` (so opening) may take to reach the database, in ms. Default 10 s, as on every driver. */
  connectTimeoutMs?: number;
}

/**
 * Options of {@link openPgTopic}: the portable ones and the topic's. Here `schema` is the
 * PostgreSQL schema of the tables; a typed topic (a Standard Schema) opens through `openTopic("pg://…", { schema })`.
 */
export interface PgTopicOptions extends Omit<TopicOptions, "schema">, PgTopicSettings {}

/**
 * Sends to one topic: each batch is one INSERT statement (its own
 * transaction) that stores every payload once and a delivery row per
 * subscription, so the batch becomes visible to every subscription at its
 * commit, or not at all. A statement that fails on a lost connection is
 * retried by core; one whose reply was lost after it committed is then
 * stored twice (at-least-once).
 */
export class PgTopicDriver implements TopicDriver {
  readonly resource: string;
  readonly errors = pgErrors;
  readonly health: HealthSource;
  readonly server: DriverServer;
  readonly telemetry: DriverTelemetry;
  readonly topic: string;
  readonly schema: string;
  readonly #link: PgLink;
  readonly #settings: PgTopicSettings;

  /** `link` is the database: `PgLink.of(pool)` for yours (left open at close). */
  constructor(link: PgLink, topic: string, settings: PgTopicSettings = {}) {
    this.#link = link;
    this.topic = topic;
    this.schema = checkSchemaName(settings.schema ?? DEFAULT_SCHEMA);
    this.#settings = settings;
    this.resource = `pg topic "${topic}"`;
    this.health = link.health;
    this.server = serverOf(link, settings.connectTimeoutMs);
    this.telemetry = telemetryFor(link, topic);
  }

  /** Resolves once the topic is found (or, with `declare`, created with the tables). NotFound otherwise. */
  async ready(): Promise<void> {
    if (this.#settings.declare) {
      await migrate(this.#link, this.schema);
      await declareTopic(this.#link, this.schema, this.topic);
    } else {
      await findTopic(this.#link, this.schema, this.topic);
    }
  }

  checkMessage(message: DriverMessage): void {
    checkStorable(message, this.resource);
  }

  async sendBatch(messages: DriverMessage[]): Promise<void> {
    await insertMessages(this.#link, this.schema, this.topic, messages, this.#settings.notify ?? true);
  }

  /** The queryable (a `pg.Pool` for a topic opened by URL). */
  native(): Queryable {
    return this.#link.db;
  }

  async close(): Promise<void> {
    await this.#link.close();
  }
}

/**
 * Opens a topic that sends to `topic` through `db`, a `pg.Pool` or client
 * you own and end: the topic leaves it open at shutdown.
 */
export function openPgTopic(db: Queryable, topic: string, options: PgTopicOptions = {}): Topic {
  const { schema, declare, notify, ...portable } = options;
  return new Topic(new PgTopicDriver(PgLink.of(db).use(), topic, { schema, declare, notify }), portable);
}
