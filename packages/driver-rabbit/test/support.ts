/**
 * What the rabbit:// tests share: where the broker is, whether to run
 * without one, and small helpers for the broker's own tools.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { skipUnlessReachable } from "@portable-pubsub/conformance";
import type { Subscription, Topic } from "@portable-pubsub/core";
import { delayQueueNames } from "@portable-pubsub/driver-rabbit";
import { type Channel, connect, type GetMessage, type Options } from "amqplib";
import { afterEach } from "vitest";

export const BROKER = { host: "127.0.0.1", port: 5672 };
export const SERVER_URL = `amqp://guest:guest@${BROKER.host}:${BROKER.port}`;

/**
 * Without CI, tests that need RabbitMQ are skipped when it is not running;
 * with CI=true they run, and fail, so that a missing broker is never a pass.
 */
export const skipWithoutBroker = await skipUnlessReachable(BROKER);

const run = promisify(execFile);

/** Runs `rabbitmqctl` with `args`; rejects with its output on failure. */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run("rabbitmqctl", args, { timeout: 60_000 });
  return stdout;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 50 ms until it holds; rejects after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Runs `work` on a fresh raw amqplib channel of a fresh connection to `serverUrl`, for setup and cleanup. */
export async function withAdmin<T>(work: (channel: Channel) => Promise<T>, serverUrl = SERVER_URL): Promise<T> {
  const connection = await connect(serverUrl);
  connection.on("error", () => {});
  try {
    const channel = await connection.createChannel();
    channel.on("error", () => {});
    return await work(channel);
  } finally {
    await connection.close().catch(() => {});
  }
}

/** A unique resource name for this run. */
export const unique = (name: string) => `pps-test-${name}-${randomUUID().slice(0, 8)}`;

/** Declares exchange `exchange` (fanout unless given) and, if named, queue `queue` bound to it; returns a cleanup. */
export async function makeExchangeAndQueue(
  exchange: string,
  queue: string | undefined,
  options: { durable?: boolean; type?: string; bindingKey?: string; queueArgs?: Record<string, unknown> } = {},
): Promise<() => Promise<void>> {
  const durable = options.durable ?? false;
  await withAdmin(async (ch) => {
    await ch.assertExchange(exchange, options.type ?? "fanout", { durable });
    if (queue) {
      await ch.assertQueue(queue, { durable, arguments: options.queueArgs });
      await ch.bindQueue(queue, exchange, options.bindingKey ?? "");
    }
  });
  return () => removeExchangeAndQueue(exchange, queue);
}

/**
 * Deletes queue `queue` (if named) with its delay queues, then exchange `exchange`, on the broker at
 * `serverUrl`; never rejects, as cleanup must not hide a test's own failure. Other packages' tests that
 * declare on RabbitMQ use it too.
 */
export async function removeExchangeAndQueue(
  exchange: string,
  queue: string | undefined,
  serverUrl = SERVER_URL,
): Promise<void> {
  await withAdmin(async (ch) => {
    // The delay queues of a redelivery too: they would expire half an hour after their last use.
    if (queue) for (const name of [queue, ...delayQueueNames(queue)]) await ch.deleteQueue(name).catch(() => {});
    await ch.deleteExchange(exchange).catch(() => {});
  }, serverUrl).catch(() => {});
}

/** What a test opens and shuts down: a typed or untyped Topic or Subscription alike. */
type Shutdownable = Topic<never> | Subscription<never> | Topic | Subscription;

/**
 * Registers an afterEach that runs what the test deferred, last first, and
 * returns for the test file: `defer` and `shutdownLater`; `exchangeAndQueue(name)`,
 * a fanout exchange and a queue bound to it, both fresh names for `name`, deleted
 * after the test; and `opened(openTopic(…))`, the opened Topic or Subscription,
 * shut down after the test.
 */
export function cleanupAfterEach() {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });
  const defer = (cleanup: () => Promise<unknown>) => {
    cleanups.push(cleanup);
  };
  const shutdownLater = (...objects: Shutdownable[]) => {
    for (const o of objects) defer(() => o.shutdown({ signal: AbortSignal.timeout(5000) }));
  };
  const exchangeAndQueue = async (name: string) => {
    const names = { exchange: unique(name), queue: unique(name) };
    defer(await makeExchangeAndQueue(names.exchange, names.queue));
    return names;
  };
  // Takes the open's promise, not its options, so that openTopic's and openSubscription's typing stays theirs.
  const opened = async <T extends Shutdownable>(opening: Promise<T>): Promise<T> => {
    const object = await opening;
    shutdownLater(object);
    return object;
  };
  return { defer, shutdownLater, exchangeAndQueue, opened };
}

/** Gets one message from `queue` with a plain channel, waiting up to 5 s for it. */
export async function getOne(queue: string): Promise<GetMessage> {
  return withAdmin(async (ch) => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const got = await ch.get(queue, { noAck: true });
      if (got) return got;
      if (Date.now() > deadline) throw new Error(`nothing arrived in ${queue}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
}

/** Publishes with a plain confirm channel, as another AMQP program would; resolves once the broker confirmed. */
export async function publishPlain(
  exchange: string,
  messages: { body: string; properties: Options.Publish }[],
): Promise<void> {
  const connection = await connect(SERVER_URL);
  try {
    const channel = await connection.createConfirmChannel();
    for (const m of messages) channel.publish(exchange, "", Buffer.from(m.body), m.properties);
    await channel.waitForConfirms();
  } finally {
    await connection.close().catch(() => {});
  }
}
