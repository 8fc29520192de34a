/**
 * `rabbit://EXCHANGE` and `rabbit://QUEUE`: URL openers for the mux. The
 * server comes from the `serverUrl` option or RABBIT_SERVER_URL; query
 * parameters and options are validated with core's vocabulary, and unknown
 * ones are rejected. Openers do not wait for the broker: the mux awaits the
 * driver's `ready` and closes the driver when it fails.
 */
import {
  describeUrl,
  invalidArgument,
  type OptionsShape,
  param,
  parseOptions,
  parseQuery,
  type QueryParameters,
  resourceName,
  resourceUrl,
  Subscription,
  type SubscriptionURLOpener,
  Topic,
  type TopicURLOpener,
} from "@portable-pubsub/core/driver";
import { z } from "zod";
import { RabbitConnection } from "./amqp/connection.js";
import { type RabbitConnectionSettings, settingsShape } from "./amqp/settings.js";
import { rabbitSubscriptionDriver } from "./subscription.js";
import { rabbitTopicDriver } from "./topic.js";

const exchangeType = z.enum(["topic", "fanout", "direct", "headers"]);
const queueType = z.enum(["classic", "quorum", "stream"]);
const heartbeat = param.int(0, 3600);

const topicQuery = z
  .object({
    routingKey: z.string().optional(),
    routingKeyFrom: param.name().optional(),
    persistent: param.flag().optional(),
    mandatory: param.flag().optional(),
    declare: param.flag().optional(),
    exchangeType: exchangeType.optional(),
    toQueue: param.flag().optional(),
    heartbeat: heartbeat.optional(),
  })
  .strict();

const subscriptionQuery = z
  .object({
    prefetch: param.int(1, 65535).optional(),
    maxWait: param.duration().optional(),
    declare: param.flag().optional(),
    queueType: queueType.optional(),
    exchange: param.name().optional(),
    exchangeType: exchangeType.optional(),
    bindingKey: z.string().optional(),
    heartbeat: heartbeat.optional(),
  })
  .strict();

/** What `rabbit://` URLs take: the vocabulary's names and these of AMQP's own. */
export const queryParameters: QueryParameters = {
  schemas: { topic: topicQuery, subscription: subscriptionQuery },
  own: [
    "routingKey",
    "routingKeyFrom",
    "persistent",
    "mandatory",
    "exchangeType",
    "toQueue",
    "heartbeat",
    "queueType",
    "exchange",
    "bindingKey",
  ],
  renamed: {},
};

/**
 * The driver's own options of `openTopic` and `openSubscription` for
 * `rabbit://` URLs: connection settings, or a connection to share.
 */
export interface RabbitURLOptions extends RabbitConnectionSettings {
  /** A connection from `connectRabbit`, shared with what else uses it; instead of the settings. */
  connection?: RabbitConnection;
}

declare module "@portable-pubsub/core" {
  interface TopicOptionsByScheme {
    rabbit: RabbitURLOptions;
  }
  interface SubscriptionOptionsByScheme {
    rabbit: RabbitURLOptions;
  }
}

const driverOptions = z
  .object({
    ...settingsShape,
    connection: z.instanceof(RabbitConnection).optional(),
  } satisfies OptionsShape<RabbitURLOptions>)
  .strict();

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
 * Opens `rabbit://EXCHANGE`, or `rabbit://QUEUE?toQueue=true` (one queue,
 * through the default exchange). The mux then waits until connected (and
 * the exchange declared, with declare=true); see RabbitTopicDriver.ready.
 */
export const openTopicURL: TopicURLOpener = async (url, options, portable) => {
  const query = parseQuery(url, topicQuery, "rabbit");
  const exchange = resourceName(url, { driver: "rabbit", kind: "exchange" });
  const target = connectionTarget(parseOptions(driverOptions, options, "rabbit"), query.heartbeat);
  const { declare, exchangeType: type, heartbeat: _heartbeat, ...rest } = query;
  if (type !== undefined && !declare) {
    throw invalidArgument(`rabbit: ${describeUrl(url)}: exchangeType only applies with declare=true`);
  }
  const driver = rabbitTopicDriver(target, exchange, {
    ...rest,
    ...(declare ? { declare: type === undefined ? true : { type } } : {}),
    ...(portable.deadLetterTarget ? { deadLetterTarget: true } : {}),
  });
  return new Topic(driver, portable);
};

/**
 * Opens `rabbit://QUEUE`. The mux then waits until consuming; see
 * RabbitSubscriptionDriver.ready.
 */
export const openSubscriptionURL: SubscriptionURLOpener = async (url, options, portable) => {
  const query = parseQuery(url, subscriptionQuery, "rabbit");
  const queue = resourceName(url, { driver: "rabbit", kind: "queue" });
  const target = connectionTarget(parseOptions(driverOptions, options, "rabbit"), query.heartbeat);
  const { declare, queueType: kind, exchange, exchangeType: type, bindingKey, prefetch, maxWait } = query;
  if (!declare && (kind !== undefined || exchange !== undefined || type !== undefined || bindingKey !== undefined)) {
    throw invalidArgument(
      `rabbit: ${describeUrl(url)}: queueType, exchange, exchangeType and bindingKey only apply with declare=true`,
    );
  }
  const driver = rabbitSubscriptionDriver(target, queue, {
    ...(prefetch === undefined ? {} : { prefetch }),
    ...(maxWait === undefined ? {} : { maxWaitMs: maxWait }),
    ...(declare
      ? {
          declare: {
            ...(kind === undefined ? {} : { queueType: kind }),
            ...(exchange === undefined ? {} : { exchange }),
            ...(type === undefined ? {} : { exchangeType: type }),
            ...(bindingKey === undefined ? {} : { bindingKey }),
          },
        }
      : {}),
  });
  return new Subscription(driver, portable);
};

/**
 * `rabbit://QUEUE` (any query) → `rabbit://QUEUE?toQueue=true`: the topic
 * URL that reaches that queue alone, through the default exchange, never the
 * other queues bound to an exchange. For `pubsub redrive` without a target.
 */
export function topicURLFor(subscriptionUrl: URL): string | undefined {
  const queue = resourceName(subscriptionUrl, { driver: "rabbit", kind: "queue" });
  return `${resourceUrl("rabbit", queue)}?toQueue=true`;
}
