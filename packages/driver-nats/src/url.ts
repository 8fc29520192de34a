import type { ConnectionOptions } from "@nats-io/transport-node";
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
  START_VALUES,
  Subscription,
  type SubscriptionURLOpener,
  Topic,
  type TopicURLOpener,
} from "@portable-pubsub/core/driver";
import { z } from "zod";
import { CONNECT_TIMEOUT_MS, connectionOptions, NatsLink } from "./connection.js";
import { resolveServers } from "./server.js";
import { NatsSubscriptionDriver } from "./subscription.js";
import { NatsTopicDriver } from "./topic.js";

const DRIVER = "nats";

/** JetStream keeps at most 5 copies of a stream. */
const MAX_REPLICAS = 5;

const topicQuery = z
  .object({
    declare: param.flag().optional(),
    stream: param.name().optional(),
    replicas: param.int(1, MAX_REPLICAS).optional(),
  })
  .strict();

const subscriptionQuery = z
  .object({
    consumer: param.name(),
    declare: param.flag().optional(),
    replicas: param.int(1, MAX_REPLICAS).optional(),
    subject: param.name().optional(),
    filter: param.name().optional(),
    ackDeadline: param.duration().optional(),
    maxAckPending: param.int(1).optional(),
    start: z.enum(START_VALUES).optional(),
    prefetch: param.int(1, 10_000).optional(),
  })
  .strict();

/**
 * What `nats://` URLs take: the vocabulary's names, these of JetStream's
 * own, and the old names `ackWait` (of `ackDeadline`) and `deliver` (of `start`).
 */
export const queryParameters: QueryParameters = {
  schemas: { topic: topicQuery, subscription: subscriptionQuery },
  own: ["stream", "replicas", "consumer", "subject", "filter", "maxAckPending"],
  renamed: { ackWait: "ackDeadline", deliver: "start" },
};

/** The driver's own options of `openTopic` and `openSubscription` for `nats://` URLs. */
export interface NatsURLOptions {
  /** `nats://[user:password@]host[:port]`, several separated by commas; default: the NATS_SERVER_URL environment variable. */
  serverUrl?: string;
  /** More nats.js connection options (tls, authenticator, …), applied over the driver's. */
  natsOptions?: Partial<ConnectionOptions>;
  /** How long a PubAck or JetStream API reply may take: ms, or "5s". */
  requestTimeout?: number | string;
  /** How often the connection pings the server, ms or "10s"; two unanswered pings start a reconnect. */
  pingInterval?: number | string;
  /** How long opening waits to connect, in ms (or a duration such as "10s"); default 10 s, as on every driver. */
  connectTimeoutMs?: number | string;
}

declare module "@portable-pubsub/core" {
  interface TopicOptionsByScheme {
    nats: NatsURLOptions;
  }
  interface SubscriptionOptionsByScheme {
    nats: NatsURLOptions;
  }
}

const driverOptions = z
  .object({
    serverUrl: z.string().optional(),
    natsOptions: z.record(z.string(), z.unknown()).optional(),
    requestTimeout: param.duration().optional(),
    pingInterval: param.duration().optional(),
    /** How long opening waits for NATS (and one connection attempt may take); default 10 s. */
    connectTimeoutMs: param.duration({ maxMs: MAX_TIMER_MS }).optional(),
  } satisfies OptionsShape<NatsURLOptions>)
  .strict();

/** The subject of `nats://SUBJECT` (or `nats:///SUBJECT`), percent-decoded. */
export function subjectName(url: URL): string {
  return resourceName(url, { driver: DRIVER, kind: "subject" });
}

/** The stream of `nats://STREAM?consumer=NAME`, percent-decoded. */
export function streamName(url: URL): string {
  const name = resourceName(url, { driver: DRIVER, kind: "stream" });
  if (/[.*>/\\\s]/.test(name)) {
    throw invalidArgument(
      `${DRIVER}: ${describeUrl(url)}: "${name}" is not a stream name; a subscription URL names a stream (without ".", "*", ">", "/", "\\" or spaces) and its consumer: nats://STREAM?consumer=NAME`,
    );
  }
  return name;
}

/** The link on the connection of these options and NATS_SERVER_URL, shared with the Topics and Subscriptions opened with the same. */
function linkFor(options: Record<string, unknown>): { link: NatsLink; requestTimeoutMs?: number } {
  const parsed = parseOptions(driverOptions, options, DRIVER);
  const servers = resolveServers(parsed.serverUrl);
  const connectTimeoutMs = parsed.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
  const extra = parsed.natsOptions as Partial<ConnectionOptions>;
  const connect = connectionOptions(servers, parsed.pingInterval, extra, connectTimeoutMs);
  return {
    link: NatsLink.sharing(connect, servers.display, connectTimeoutMs),
    requestTimeoutMs: parsed.requestTimeout,
  };
}

/**
 * Opens `nats://SUBJECT[?declare=true&stream=NAME&replicas=N]`: publishes to SUBJECT
 * through JetStream, on the server of the `serverUrl` option or
 * NATS_SERVER_URL. The driver's `ready`, which the URL mux awaits, connects
 * and checks that a stream stores the subject (or creates one).
 */
export const openTopicURL: TopicURLOpener = async (url, options, portable) => {
  const query = parseQuery(url, topicQuery, DRIVER, queryParameters.renamed);
  const subject = subjectName(url);
  for (const [key, what] of [
    ["stream", "names"],
    ["replicas", "sets the replicas of"],
  ] as const) {
    if (query[key] !== undefined && !query.declare) {
      throw invalidArgument(
        `${DRIVER}: ${describeUrl(url)}: ${key} ${what} the stream declare=true creates; add declare=true`,
      );
    }
  }
  const { link, requestTimeoutMs } = linkFor(options);
  const { declare, stream, replicas } = query;
  const driver = new NatsTopicDriver(link, subject, { declare, stream, replicas, requestTimeoutMs });
  return new Topic(driver, portable);
};

/** Parameters that only shape what declare=true creates. */
const DECLARE_ONLY = ["subject", "replicas", "filter", "ackDeadline", "maxAckPending", "start"] as const;

/**
 * Opens `nats://STREAM?consumer=NAME[&…]`: one puller of the durable pull
 * consumer NAME of stream STREAM. The driver's `ready`, which the URL mux
 * awaits, finds the consumer (or, with declare=true, creates it and the
 * stream) and starts consuming.
 */
export const openSubscriptionURL: SubscriptionURLOpener = async (url, options, portable) => {
  const query = parseQuery(url, subscriptionQuery, DRIVER, queryParameters.renamed);
  const stream = streamName(url);
  if (!query.declare) {
    const given = DECLARE_ONLY.filter((key) => query[key] !== undefined);
    if (given.length > 0) {
      throw invalidArgument(
        `${DRIVER}: ${describeUrl(url)}: ${given.join(", ")} shape${given.length === 1 ? "s" : ""} the stream or consumer declare=true creates; add declare=true, or set ${given.length === 1 ? "it" : "them"} on the existing consumer`,
      );
    }
  }
  const { link, requestTimeoutMs } = linkFor(options);
  const driver = new NatsSubscriptionDriver(link, stream, query.consumer, {
    declare: query.declare
      ? {
          subjects: query.subject ? [query.subject] : undefined,
          replicas: query.replicas,
          filterSubject: query.filter,
          ackWaitMs: query.ackDeadline,
          maxAckPending: query.maxAckPending,
          deliver: query.start,
        }
      : undefined,
    prefetch: query.prefetch,
    requestTimeoutMs,
  });
  return new Subscription(driver, portable);
};
