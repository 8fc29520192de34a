import { parseArgs } from "node:util";
import { ErrorCode, PubSubError, redactUrl } from "@portable-pubsub/core";
// The driver entry point, for one thing: durations spelled as in URL parameters ("500ms", "10s", "1m").
import { parseDurationMs } from "@portable-pubsub/core/driver";

/** How the service runs. Every setting comes from a flag, else an environment variable, else a default. */
export interface Config {
  host: string;
  /** 0 picks a free port (the "listening" log line says which). */
  port: number;
  topicUrl: string;
  subscriptionUrl: string;
  /** Orders processed at once. */
  concurrency: number;
  /** Simulated work per order, in ms. */
  processDelayMs: number;
  /** Deliveries an order gets; one that failed this many times goes to `deadLetterUrl`. */
  maxAttempts: number;
  /** The topic failed orders are sent to after `maxAttempts`. */
  deadLetterUrl: string;
  /** The first redelivery's delay is up to this (full jitter), doubling per attempt, in ms. */
  redeliveryDelayMs: number;
  /** The cap on a redelivery's delay, in ms. */
  redeliveryMaxDelayMs: number;
  /** How long `POST /orders` waits for the broker's confirm before answering 503. */
  sendTimeoutMs: number;
  /** The whole graceful shutdown must finish within this. */
  shutdownTimeoutMs: number;
  logLevel: "debug" | "info" | "warn" | "error";
  /** Post this many orders to itself, wait until they are processed, print a summary and exit. */
  selfTest: number | undefined;
  /**
   * PostgreSQL, where `POST /orders` writes each order with its `order.created` message in one transaction,
   * through the outbox (a relay, `src/relay-main.ts`, sends them); undefined: orders are sent to the topic directly.
   */
  databaseUrl: string | undefined;
  /** The PostgreSQL schema of the orders table. */
  ordersSchema: string;
  /** The PostgreSQL schema of the outbox (the pg:// driver's tables) and of the inbox's idempotency table. */
  outboxSchema: string;
  /**
   * With a database: how long the inbox's claim on an order holds while its handler runs. A consumer that dies
   * holds its orders this long; their redeliveries wait, then run. Longer than the slowest charge.
   */
  idempotencyLeaseMs: number;
}

const FLAGS = {
  host: { type: "string", env: "HOST", default: "127.0.0.1", help: "listen address (0.0.0.0 in a container)" },
  port: { type: "string", env: "PORT", default: "8080", help: "listen port; 0 picks a free one" },
  database: {
    type: "string",
    env: "ORDERS_DATABASE_URL",
    default: "",
    help: "PostgreSQL URL: orders are stored there with their message, through the outbox (run a relay too)",
  },
  "orders-schema": { type: "string", env: "ORDERS_SCHEMA", default: "public", help: "schema of the orders table" },
  "outbox-schema": {
    type: "string",
    env: "OUTBOX_SCHEMA",
    default: "pubsub",
    help: "schema of the outbox and of the inbox's idempotency table",
  },
  "idempotency-lease": {
    type: "string",
    env: "ORDERS_IDEMPOTENCY_LEASE",
    default: "30s",
    help: "with a database: how long a dead consumer's claim on an order holds",
  },
  topic: { type: "string", env: "ORDERS_TOPIC_URL", default: "mem://orders", help: "topic URL orders are sent to" },
  subscription: {
    type: "string",
    env: "ORDERS_SUBSCRIPTION_URL",
    default: "mem://orders?subscription=order-processor",
    help: "subscription URL orders are processed from",
  },
  concurrency: { type: "string", env: "ORDERS_CONCURRENCY", default: "8", help: "orders processed at once" },
  "process-delay": { type: "string", env: "PROCESS_DELAY", default: "0ms", help: "simulated work per order" },
  "max-attempts": {
    type: "string",
    env: "ORDERS_MAX_ATTEMPTS",
    default: "5",
    help: "deliveries of an order before it is dead-lettered",
  },
  "dead-letter": {
    type: "string",
    env: "ORDERS_DEAD_LETTER_URL",
    default: "mem://orders-dead",
    help: "topic URL failed orders go to",
  },
  "redelivery-delay": {
    type: "string",
    env: "REDELIVERY_DELAY",
    default: "100ms",
    help: "first redelivery delay, doubling per attempt",
  },
  "redelivery-max-delay": {
    type: "string",
    env: "REDELIVERY_MAX_DELAY",
    default: "60s",
    help: "the cap on a redelivery delay",
  },
  "send-timeout": { type: "string", env: "SEND_TIMEOUT", default: "10s", help: "broker confirm deadline per order" },
  "shutdown-timeout": { type: "string", env: "SHUTDOWN_TIMEOUT", default: "10s", help: "graceful shutdown deadline" },
  "log-level": { type: "string", env: "LOG_LEVEL", default: "info", help: "debug, info, warn or error" },
  "self-test": { type: "string", env: "SELF_TEST", default: "", help: "post N orders to itself, report, exit" },
} as const;

type Flag = keyof typeof FLAGS;

export const USAGE = `Usage: order-service [options]

An HTTP order service on portable-pubsub: POST /orders publishes, a background
consumer processes, GET /health reports the broker connection, SIGTERM drains.

Options (each also read from the environment variable shown):
${Object.entries(FLAGS)
  .map(([name, f]) => `  --${name.padEnd(20)} ${f.env.padEnd(24)} ${f.help} (default: ${f.default || "off"})`)
  .join("\n")}
  --help`;

/** Reads the configuration from `argv` (without node and the script) and `env`. Throws InvalidArgument. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): Config | "help" {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.keys(FLAGS).map((name) => [name, { type: "string" as const }]));
    values = parseArgs({ args: argv, options: { ...options, help: { type: "boolean" } }, strict: true }).values;
  } catch (err) {
    throw new PubSubError(ErrorCode.InvalidArgument, `${(err as Error).message}; see --help`);
  }
  if (values.help) return "help";
  const get = (name: Flag): string => {
    const flag = values[name];
    return typeof flag === "string" ? flag : (env[FLAGS[name].env] ?? FLAGS[name].default);
  };
  const logLevel = get("log-level");
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new PubSubError(
      ErrorCode.InvalidArgument,
      `--log-level must be debug, info, warn or error, got "${logLevel}"`,
    );
  }
  const selfTest = get("self-test");
  const subscriptionUrl = get("subscription");
  const deadLetterUrl = get("dead-letter");
  if (deadLetterUrl.startsWith("mem:") && !subscriptionUrl.startsWith("mem:")) {
    // The default: right for the zero-setup mem:// run, and a silent loss of every dead letter on a real broker.
    throw new PubSubError(
      ErrorCode.InvalidArgument,
      `--dead-letter is ${deadLetterUrl}, an in-process topic that dies with the process, while orders come from ${redactUrl(subscriptionUrl)}; set ORDERS_DEAD_LETTER_URL to a topic on that broker, such as rabbit://orders-dead?declare=true`,
    );
  }
  return {
    host: get("host"),
    port: integer("port", get("port"), 0, 65535),
    topicUrl: get("topic"),
    subscriptionUrl,
    concurrency: integer("concurrency", get("concurrency"), 1, 10_000),
    processDelayMs: durationMs("process-delay", get("process-delay"), true),
    maxAttempts: integer("max-attempts", get("max-attempts"), 1, 1000),
    deadLetterUrl,
    redeliveryDelayMs: durationMs("redelivery-delay", get("redelivery-delay"), true),
    redeliveryMaxDelayMs: durationMs("redelivery-max-delay", get("redelivery-max-delay"), true),
    sendTimeoutMs: durationMs("send-timeout", get("send-timeout"), false),
    shutdownTimeoutMs: durationMs("shutdown-timeout", get("shutdown-timeout"), false),
    logLevel: logLevel as Config["logLevel"],
    selfTest: selfTest === "" ? undefined : integer("self-test", selfTest, 1, 1_000_000),
    databaseUrl: get("database") === "" ? undefined : get("database"),
    ordersSchema: get("orders-schema"),
    outboxSchema: get("outbox-schema"),
    idempotencyLeaseMs: durationMs("idempotency-lease", get("idempotency-lease"), false),
  };
}

function integer(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) {
    throw new PubSubError(
      ErrorCode.InvalidArgument,
      `--${name} must be a whole number from ${min} to ${max}, got "${text}"`,
    );
  }
  return n;
}

function durationMs(name: string, text: string, zeroAllowed: boolean): number {
  const ms = parseDurationMs(text);
  if (ms === undefined || (!zeroAllowed && ms === 0)) {
    throw new PubSubError(
      ErrorCode.InvalidArgument,
      `--${name} must be a duration such as 500ms, 10s or 1m, got "${text}"`,
    );
  }
  return ms;
}
