import {
  describeUrl,
  ErrorCode,
  invalidArgument,
  PubSubError,
  parseDurationMs,
  parseOptions,
  parseQuery,
  Subscription,
  type SubscriptionURLOpener,
  Topic,
  type TopicURLOpener,
} from "@portable-pubsub/core";
import type { RedisOptions } from "ioredis";
import { z } from "zod";
import {
  closeClient,
  commandClientOptions,
  createClient,
  DEFAULT_SOCKET_TIMEOUT_MS,
  readerClientOptions,
  resolveServerUrl,
} from "./connection.js";
import { ensureGroup, RedisSubscriptionDriver } from "./subscription.js";
import { RedisTopicDriver } from "./topic.js";

const DRIVER = "redisstream";
/** How long opening a subscription waits for Redis to create its group. */
const OPEN_TIMEOUT_MS = 10_000;

const duration = (what: string, max = Number.POSITIVE_INFINITY) =>
  z.unknown().transform((value, ctx) => {
    const ms = parseDurationMs(value);
    if (ms === undefined || ms <= 0 || ms > max) {
      const limit = Number.isFinite(max) ? ` of at most ${max} ms` : "";
      ctx.addIssue({
        code: "custom",
        message: `${what} must be a positive duration${limit}, such as 500ms, 30s or 2m`,
      });
      return z.NEVER;
    }
    return ms;
  });
const flag = z.enum(["true", "false"], { message: 'must be "true" or "false"' }).transform((v) => v === "true");
const positiveInt = z.coerce.number().int("must be a whole number").positive("must be positive");
const name = z.string().min(1, "must not be empty");

const topicQuery = z
  .object({
    maxLen: positiveInt.optional(),
    trim: z.enum(["approx", "exact"]).optional(),
    create: flag.optional(),
  })
  .strict();

const subscriptionQuery = z
  .object({
    group: name,
    consumer: name.optional(),
    ackDeadline: duration("ackDeadline").optional(),
    maxDeliveries: positiveInt.optional(),
    deadLetter: name.optional(),
    create: flag.optional(),
    start: z.enum(["new", "all"]).optional(),
    block: duration("block", 1000).optional(),
  })
  .strict();

const driverOptions = z
  .object({
    /** redis://[user:password@]host[:port][/db] or rediss://…; default: REDIS_SERVER_URL. */
    serverUrl: z.string().optional(),
    /** More ioredis options (tls, family, …), applied over the driver's. */
    redisOptions: z.record(z.string(), z.unknown()).optional(),
    /** How long a connection may stay silent while a reply is due before it is replaced. */
    socketTimeout: duration("socketTimeout").optional(),
  })
  .strict();

/** The stream key a URL names: `redisstream://orders`, or `redisstream:///app:orders` for keys with a colon. */
export function streamName(url: URL): string {
  const path = url.host ? url.host + url.pathname : url.pathname.replace(/^\//, "");
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch (err) {
    throw invalidArgument(`${DRIVER}: ${describeUrl(url)} has a badly percent-encoded stream name`, err);
  }
  if (!decoded) {
    throw invalidArgument(`${DRIVER}: ${describeUrl(url)} names no stream; use redisstream://STREAM`);
  }
  return decoded;
}

function connection(options: Record<string, unknown>) {
  const parsed = parseOptions(driverOptions, options, DRIVER);
  return {
    serverUrl: resolveServerUrl(parsed.serverUrl),
    extra: (parsed.redisOptions ?? {}) as RedisOptions,
    socketTimeoutMs: parsed.socketTimeout ?? DEFAULT_SOCKET_TIMEOUT_MS,
  };
}

/**
 * Opens `redisstream://STREAM[?maxLen=N&trim=approx|exact&create=true|false]`
 * on the server of the `serverUrl` option or REDIS_SERVER_URL.
 */
export const openTopicURL: TopicURLOpener = async (url, options, portable) => {
  const query = parseQuery(url, topicQuery, DRIVER);
  const stream = streamName(url);
  const { serverUrl, extra, socketTimeoutMs } = connection(options);
  const client = createClient(serverUrl, commandClientOptions(socketTimeoutMs), extra);
  const driver = new RedisTopicDriver(client, stream, {
    maxLen: query.maxLen,
    exactTrim: query.trim === "exact",
    create: query.create,
    closeClient: true,
  });
  return new Topic(driver, portable);
};

/**
 * Opens `redisstream://STREAM?group=GROUP[&…]`: one new consumer of the
 * group, which is created (with the stream) unless `create=false`.
 */
export const openSubscriptionURL: SubscriptionURLOpener = async (url, options, portable) => {
  const query = parseQuery(url, subscriptionQuery, DRIVER);
  const stream = streamName(url);
  if (query.maxDeliveries !== undefined && query.deadLetter === undefined) {
    throw invalidArgument(
      `${DRIVER}: ${describeUrl(url)}: maxDeliveries needs deadLetter=STREAM, the stream that receives entries delivered that often`,
    );
  }
  if (query.deadLetter === stream) {
    throw invalidArgument(`${DRIVER}: ${describeUrl(url)}: deadLetter must name another stream than "${stream}"`);
  }
  const { serverUrl, extra, socketTimeoutMs } = connection(options);
  const blockMs = query.block ?? 1000;
  const client = createClient(serverUrl, commandClientOptions(socketTimeoutMs), extra);
  const reader = createClient(serverUrl, readerClientOptions(blockMs, socketTimeoutMs), extra);
  const group = query.group;
  if (query.create ?? true) {
    try {
      await withOpenTimeout(ensureGroup(client, stream, group, query.start), serverUrl);
    } catch (err) {
      const never = new AbortController().signal;
      await Promise.all([closeClient(client, never, 0), closeClient(reader, never, 0)]);
      throw err;
    }
  }
  const driver = new RedisSubscriptionDriver(
    client,
    reader,
    { stream, group },
    {
      consumer: query.consumer,
      ackDeadlineMs: query.ackDeadline,
      deadLetter: query.deadLetter ? { stream: query.deadLetter, maxDeliveries: query.maxDeliveries ?? 5 } : undefined,
      blockMs,
      closeClient: true,
      closeReader: true,
    },
  );
  return new Subscription(driver, portable);
};

async function withOpenTimeout(work: Promise<void>, serverUrl: string): Promise<void> {
  work.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new PubSubError(
            ErrorCode.DeadlineExceeded,
            `${DRIVER}: could not reach Redis at ${describeUrl(serverUrl)} within ${OPEN_TIMEOUT_MS} ms to create the consumer group; is the server running?`,
          ),
        ),
      OPEN_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
