import { randomUUID } from "node:crypto";
import { AckPolicy, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { reachable, skipUnlessReachable } from "@portable-pubsub/conformance";
import { connectionOptions, parseServerUrls } from "@portable-pubsub/driver-nats";
import { afterEach } from "vitest";

/** The NATS the tests use: NATS_SERVER_URL, or the local one. */
export const NATS_URL = process.env.NATS_SERVER_URL ?? "nats://127.0.0.1:4222";
const first = parseServerUrls(NATS_URL).servers[0] as string;
export const NATS_ADDRESS = {
  host: first.slice(0, first.lastIndexOf(":")),
  port: Number(first.slice(first.lastIndexOf(":") + 1)),
};

/** Skip the NATS-backed tests only when NATS is unreachable and CI is not set; under CI=true they fail instead. */
export const skipNats = await skipUnlessReachable(NATS_ADDRESS);

/** For a `beforeAll` of every NATS-backed suite: under CI=true an unreachable server fails at once. */
export async function requireNats(): Promise<void> {
  if (!(await reachable(NATS_ADDRESS))) {
    throw new Error(
      `NATS is not reachable at ${NATS_ADDRESS.host}:${NATS_ADDRESS.port}; start it with ` +
        "nats-server -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server (CI=true: these tests must not skip)",
    );
  }
}

/** A stream, subject or consumer name unique to this run (no "." so it serves as all three). */
export function unique(prefix: string): string {
  return `pps_${prefix.replace(/[^A-Za-z0-9_-]/g, "_")}_${randomUUID().slice(0, 8)}`;
}

/** A connection with the driver's options (fast pings for tests) to `url` (default: the test server). */
export function natsConnection(url = NATS_URL, extra: Record<string, unknown> = {}): Promise<NatsConnection> {
  return connect(connectionOptions(parseServerUrls(url), 1000, extra));
}

/** An admin connection and its JetStream manager, for setting up and looking at streams. */
export async function admin(url = NATS_URL): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
  const nc = await connect({ servers: parseServerUrls(url).servers, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  return { nc, jsm: await jetstreamManager(nc) };
}

/** Resolves once `predicate` holds, polling; rejects after `ms`. */
export async function eventually(predicate: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Creates stream `prefix_…` storing the subject of its own name, with durable pull consumer "c" (explicit acks). */
export async function streamWithConsumer(jsm: JetStreamManager, prefix: string, ackWaitMs: number): Promise<string> {
  const stream = unique(prefix);
  await jsm.streams.add({ name: stream, subjects: [stream] });
  await jsm.consumers.add(stream, {
    durable_name: "c",
    ack_policy: AckPolicy.Explicit,
    ack_wait: ackWaitMs * 1_000_000,
  });
  return stream;
}

/**
 * For one describe block: `setup(ackWaitMs)` makes a stream of one subject with durable pull
 * consumer "c", a connection for the drivers and an admin connection; `defer` registers more
 * cleanups. After each test, cleanups run newest first, and all of them are removed.
 */
export function consumerFixtures(prefix: string) {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });
  const defer = (cleanup: () => Promise<unknown>) => void cleanups.push(cleanup);
  async function setup(ackWaitMs: number) {
    const { nc: adminNc, jsm } = await admin();
    const nc: NatsConnection = await natsConnection();
    const stream = await streamWithConsumer(jsm, prefix, ackWaitMs);
    defer(async () => {
      await nc.close();
      await jsm.streams.delete(stream);
      await adminNc.close();
    });
    return { adminNc, jsm, nc, stream };
  }
  return { defer, setup };
}
