/**
 * `rabbit://EXCHANGE` and `rabbit://QUEUE`: URL openers for the mux. The
 * server comes from the `serverUrl` option or RABBIT_SERVER_URL; query
 * parameters are validated by zod through core's parseQuery, and unknown
 * ones are rejected.
 */
import {
  describeUrl,
  invalidArgument,
  parseDurationMs,
  parseOptions,
  parseQuery,
  Subscription,
  type SubscriptionURLOpener,
  Topic,
  type TopicURLOpener,
} from "@portable-pubsub/core";
import { z } from "zod";
import { RabbitConnection } from "./connection.js";
import { toPubSubError } from "./errors.js";
import { settingsShape } from "./settings.js";
import { rabbitSubscriptionDriver } from "./subscription.js";
import { rabbitTopicDriver } from "./topic.js";

const flag = z
  .enum(["true", "false", "1", "0"], { message: "must be true or false" })
  .transform((v) => v === "true" || v === "1");
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const exchangeType = z.enum(["topic", "fanout", "direct", "headers"]);
const name = z.string().min(1, "must not be empty");

const topicQuery = z
  .object({
    routingKey: z.string().optional(),
    routingKeyFrom: name.optional(),
    persistent: flag.optional(),
    mandatory: flag.optional(),
    maxBuffered: int(1, 10_000_000).optional(),
    declare: flag.optional(),
    exchangeType: exchangeType.optional(),
    heartbeat: int(0, 3600).optional(),
  })
  .strict();

const subscriptionQuery = z
  .object({
    prefetch: int(1, 65535).optional(),
    maxWait: z
      .string()
      .transform((value, ctx) => {
        const ms = parseDurationMs(value);
        if (ms === undefined || ms <= 0) {
          ctx.addIssue({ code: "custom", message: "must be a positive duration such as 500ms or 1s" });
          return z.NEVER;
        }
        return ms;
      })
      .optional(),
    declare: flag.optional(),
    exchange: name.optional(),
    exchangeType: exchangeType.optional(),
    bindingKey: z.string().optional(),
    heartbeat: int(0, 3600).optional(),
  })
  .strict();

/** The second argument of openTopic / openSubscription for rabbit:// URLs: connection settings, or a connection. */
const driverOptions = z.object({ ...settingsShape, connection: z.instanceof(RabbitConnection).optional() }).strict();

export function resourceName(url: URL, kind: string): string {
  const raw = url.host + url.pathname;
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch (err) {
    throw invalidArgument(`rabbit: ${describeUrl(url)} has a badly escaped ${kind} name`, err);
  }
  if (!decoded)
    throw invalidArgument(`rabbit: ${describeUrl(url)} names no ${kind}; use rabbit://${kind.toUpperCase()}`);
  return decoded;
}

function connectionTarget(options: z.output<typeof driverOptions>, heartbeat: number | undefined) {
  const { connection, ...settings } = options;
  if (connection) {
    if (Object.keys(settings).length > 0 || heartbeat !== undefined) {
      throw invalidArgument("rabbit: give either the connection option or connection settings, not both");
    }
    return connection;
  }
  return heartbeat === undefined ? settings : { ...settings, heartbeat };
}

/**
 * Opens `rabbit://EXCHANGE`. Resolves once connected (and the exchange
 * declared, with declare=true); rejects when the broker cannot be reached
 * or the declaration fails. With `failFast: false` it resolves at once and
 * sends wait for the first connection.
 */
export const openTopicURL: TopicURLOpener = async (url, options, portable) => {
  const query = parseQuery(url, topicQuery, "rabbit");
  const exchange = resourceName(url, "exchange");
  const target = connectionTarget(parseOptions(driverOptions, options, "rabbit"), query.heartbeat);
  const { declare, exchangeType: type, heartbeat: _heartbeat, ...rest } = query;
  if (type !== undefined && !declare) {
    throw invalidArgument(`rabbit: ${describeUrl(url)}: exchangeType only applies with declare=true`);
  }
  const driver = rabbitTopicDriver(target, exchange, {
    ...rest,
    ...(declare ? { declare: type === undefined ? true : { type } } : {}),
  });
  try {
    // With failFast off, the caller asked to wait out a broker that is not there yet: open at once, connect later.
    if (driver.connection.failFast) await driver.whenReady();
  } catch (err) {
    await driver.close(AbortSignal.timeout(1000)).catch(() => {});
    throw toPubSubError(err, `open ${driver.resource}`);
  }
  return new Topic(driver, portable);
};

/**
 * Opens `rabbit://QUEUE`. Resolves once consuming; rejects when the broker
 * cannot be reached, the queue is missing (NotFound; declare=true creates
 * it) or the declaration fails. With `failFast: false` it resolves at once.
 */
export const openSubscriptionURL: SubscriptionURLOpener = async (url, options, portable) => {
  const query = parseQuery(url, subscriptionQuery, "rabbit");
  const queue = resourceName(url, "queue");
  const target = connectionTarget(parseOptions(driverOptions, options, "rabbit"), query.heartbeat);
  const { declare, exchange, exchangeType: type, bindingKey, prefetch, maxWait } = query;
  if (!declare && (exchange !== undefined || type !== undefined || bindingKey !== undefined)) {
    throw invalidArgument(
      `rabbit: ${describeUrl(url)}: exchange, exchangeType and bindingKey only apply with declare=true`,
    );
  }
  const driver = rabbitSubscriptionDriver(target, queue, {
    ...(prefetch === undefined ? {} : { prefetch }),
    ...(maxWait === undefined ? {} : { maxWaitMs: maxWait }),
    ...(declare
      ? {
          declare: {
            ...(exchange === undefined ? {} : { exchange }),
            ...(type === undefined ? {} : { exchangeType: type }),
            ...(bindingKey === undefined ? {} : { bindingKey }),
          },
        }
      : {}),
  });
  try {
    // With failFast off, the caller asked to wait out a broker that is not there yet: open at once, connect later.
    if (driver.connection.failFast) await driver.whenReady();
  } catch (err) {
    await driver.close(AbortSignal.timeout(1000)).catch(() => {});
    throw toPubSubError(err, `open ${driver.resource}`);
  }
  return new Subscription(driver, portable);
};
