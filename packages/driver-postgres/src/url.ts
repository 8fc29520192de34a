import {
  describeUrl,
  invalidArgument,
  MAX_TIMER_MS,
  type OptionsShape,
  param,
  parseOptions,
  parseQuery,
  type QueryParameters,
  resourceName,
  Subscription,
  type SubscriptionURLOpener,
  Topic,
  type TopicURLOpener,
} from "@portable-pubsub/core/driver";
import { z } from "zod";
import { DEFAULT_POOL_SIZE, PgLink, type Queryable, sharedLink } from "./connection.js";
import { DEFAULT_SCHEMA } from "./declare.js";
import { resolveServer } from "./server.js";
import { PgSubscriptionDriver } from "./subscription.js";
import { PgTopicDriver } from "./topic.js";

const DRIVER = "pg";

const schemaParam = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be lower-case letters, digits and "_", not starting with a digit');

const topicQuery = z
  .object({
    declare: param.flag().optional(),
    schema: schemaParam.optional(),
    notify: param.flag().optional(),
  })
  .strict();

const subscriptionQuery = z
  .object({
    subscription: param.name(),
    declare: param.flag().optional(),
    schema: schemaParam.optional(),
    notify: param.flag().optional(),
    ackDeadline: param.duration({ maxMs: 12 * 3600_000 }).optional(),
    pollInterval: param.duration({ maxMs: 60_000 }).optional(),
  })
  .strict();

/** The query parameters of pg:// URLs, under the one vocabulary of the kit. */
export const queryParameters: QueryParameters = {
  schemas: { topic: topicQuery, subscription: subscriptionQuery },
  own: ["schema", "notify", "pollInterval"],
  renamed: {},
};

/** The driver's own options of `openTopic` and `openSubscription` for `pg://` URLs. */
export interface PgURLOptions {
  /** postgres://[user[:password]@]host[:port]/database; default: DATABASE_URL, else libpq's PG* variables. */
  serverUrl?: string;
  /** The application's `pg.Pool` or client (anything with `query(text, values)`), used instead of a pool of the driver's. */
  pool?: Queryable;
  /** Connections of the driver's own pool, per server URL. Default 10. */
  poolSize?: number;
  /** How long opening waits to reach the database, in ms (or a duration such as "10s"); default 10 s, as on every driver. */
  connectTimeoutMs?: number | string;
}

declare module "@portable-pubsub/core" {
  interface TopicOptionsByScheme {
    pg: PgURLOptions;
  }
  interface SubscriptionOptionsByScheme {
    pg: PgURLOptions;
  }
}

const isQueryable = (value: unknown): value is Queryable =>
  typeof (value as { query?: unknown } | null | undefined)?.query === "function";

const driverOptions = z
  .object({
    /** postgres://[user[:password]@]host[:port]/database; default: DATABASE_URL, else libpq's PG* variables. */
    serverUrl: z.string().optional(),
    /** The application's `pg.Pool` or client (anything with `query(text, values)`), used instead of a pool of the driver's. */
    pool: z
      .custom<Queryable>(isQueryable, "must be a pg.Pool or client: an object with query(text, values)")
      .optional(),
    /** Connections of the driver's own pool, per server URL. */
    poolSize: param.int(1, 1000).optional(),
    connectTimeoutMs: param.duration({ maxMs: MAX_TIMER_MS }).optional(),
  } satisfies OptionsShape<PgURLOptions>)
  .strict();

/** The topic of `pg://TOPIC` (or `pg:///TOPIC`), percent-decoded. */
export function topicName(url: URL): string {
  return resourceName(url, { driver: DRIVER, kind: "topic" });
}

/**
 * The link for a URL's options (the application's pool, or the shared pool
 * of the server settings), with the options parsed once for the caller.
 */
function linkFor(url: URL, options: Record<string, unknown>): { link: PgLink; parsed: z.infer<typeof driverOptions> } {
  const parsed = parseOptions(driverOptions, options, DRIVER);
  if (parsed.pool !== undefined) {
    if (parsed.serverUrl !== undefined || parsed.poolSize !== undefined) {
      throw invalidArgument(
        `${DRIVER}: ${describeUrl(url)}: the pool option replaces serverUrl and poolSize; give one or the other`,
      );
    }
    return { link: PgLink.of(parsed.pool).use(), parsed };
  }
  return { link: sharedLink(resolveServer(parsed.serverUrl), parsed.poolSize ?? DEFAULT_POOL_SIZE), parsed };
}

/**
 * Opens `pg://TOPIC[?declare=true&schema=S&notify=false]`: sends to topic
 * TOPIC of the tables in schema S (default "pubsub"). The driver's `ready`,
 * which the URL mux awaits, checks that the topic exists, or with
 * declare=true creates it and the tables.
 */
export const openTopicURL: TopicURLOpener = async (url, options, portable) => {
  const query = parseQuery(url, topicQuery, DRIVER, queryParameters.renamed);
  const topic = topicName(url);
  const { link, parsed } = linkFor(url, options);
  const driver = new PgTopicDriver(link, topic, {
    schema: query.schema ?? DEFAULT_SCHEMA,
    declare: query.declare,
    notify: query.notify,
    connectTimeoutMs: parsed.connectTimeoutMs,
  });
  return new Topic(driver, portable);
};

/**
 * Opens `pg://TOPIC?subscription=NAME[&…]`: one consumer of subscription
 * NAME of topic TOPIC. Every subscription of a topic gets every message;
 * the consumers of one subscription compete. The driver's `ready` checks
 * that the subscription exists, or with declare=true creates it, its topic
 * and the tables.
 */
export const openSubscriptionURL: SubscriptionURLOpener = async (url, options, portable) => {
  const query = parseQuery(url, subscriptionQuery, DRIVER, queryParameters.renamed);
  const topic = topicName(url);
  if (query.pollInterval !== undefined && query.notify !== false) {
    throw invalidArgument(
      `${DRIVER}: ${describeUrl(url)}: pollInterval sets how often a receiver polls with notify=false; add notify=false, or leave pollInterval out`,
    );
  }
  const { link, parsed } = linkFor(url, options);
  const driver = new PgSubscriptionDriver(link, topic, query.subscription, {
    schema: query.schema ?? DEFAULT_SCHEMA,
    declare: query.declare,
    notify: query.notify,
    leaseMs: query.ackDeadline,
    connectTimeoutMs: parsed.connectTimeoutMs,
    pollIntervalMs: query.pollInterval,
  });
  return new Subscription(driver, portable);
};
