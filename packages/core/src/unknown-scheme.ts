/**
 * The error of a URL whose scheme no driver registered, with the scheme the
 * user most likely meant: the one for a broker's own name or server URL form
 * (`redis://`, `amqp://`), or the nearest registered one for a typo
 * (`rabit://`).
 */
import { closestName } from "./driver/suggest.js";
import { invalidArgument, type PubSubError } from "./errors.js";

interface BrokerScheme {
  /** The scheme that opens this broker's topics and subscriptions. */
  scheme: string;
  broker: string;
  /** Set when the name is also the broker's server URL form, which users pass by mistake: where that URL goes. */
  serverUrl?: string;
}

const RABBIT: BrokerScheme = { scheme: "rabbit", broker: "RabbitMQ", serverUrl: "RABBIT_SERVER_URL" };
const REDIS: BrokerScheme = { scheme: "redisstream", broker: "Redis Streams", serverUrl: "REDIS_SERVER_URL" };
const POSTGRES: BrokerScheme = { scheme: "pg", broker: "PostgreSQL" };
const GCP: BrokerScheme = { scheme: "gcppubsub", broker: "Google Cloud Pub/Sub" };

/** Schemes users try for a broker, by the broker's name or its server URL's scheme. */
const BROKER_NAMES: Readonly<Record<string, BrokerScheme>> = {
  amqp: RABBIT,
  amqps: RABBIT,
  rabbitmq: RABBIT,
  redis: REDIS,
  rediss: REDIS,
  redisstreams: REDIS,
  postgres: POSTGRES,
  postgresql: POSTGRES,
  gcp: GCP,
  pubsub: GCP,
  gcloud: GCP,
  googlepubsub: GCP,
  jetstream: { scheme: "nats", broker: "NATS JetStream" },
  memory: { scheme: "mem", broker: "the in-process broker" },
};

/**
 * InvalidArgument for `scheme`, which no driver registered: names the scheme
 * meant, when one is likely, and the `known` ones.
 */
export function unknownSchemeError(scheme: string, operation: string, known: readonly string[]): PubSubError {
  const registered = `registered schemes: ${known.map((s) => `${s}://`).join(", ")}`;
  return invalidArgument(
    `${operation}: no driver for scheme "${scheme}://"; ${suggestion(scheme, known)}${registered}`,
  );
}

function suggestion(scheme: string, known: readonly string[]): string {
  const meant = BROKER_NAMES[scheme];
  if (meant && !known.includes(meant.scheme)) {
    return `the ${meant.broker} scheme is ${meant.scheme}://, which is not available yet; `;
  }
  if (meant) {
    const server = meant.serverUrl
      ? ` (${scheme}:// is the form of the server URL, which goes in ${meant.serverUrl} or the serverUrl option)`
      : "";
    return `did you mean ${meant.scheme}://, for ${meant.broker}${server}? `;
  }
  const near = closestName(scheme, known);
  return near === undefined ? "" : `did you mean ${near}://? `;
}
