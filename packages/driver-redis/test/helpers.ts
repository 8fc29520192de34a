import { randomUUID } from "node:crypto";
import { reachable, skipUnlessReachable } from "@portable-pubsub/conformance";
import { commandClientOptions, readerClientOptions } from "@portable-pubsub/driver-redis";
import { Redis } from "ioredis";
import { afterEach } from "vitest";

/** The Redis the tests use: REDIS_SERVER_URL, or the local one. */
export const REDIS_URL = process.env.REDIS_SERVER_URL ?? "redis://127.0.0.1:6379";
export const REDIS_ADDRESS = { host: new URL(REDIS_URL).hostname, port: Number(new URL(REDIS_URL).port || 6379) };

/**
 * Whether to skip the Redis-backed tests: only when Redis is unreachable and
 * CI is not set. Under CI=true an unreachable Redis fails the tests instead.
 */
export const skipRedis = await skipUnlessReachable(REDIS_ADDRESS);

/**
 * For a `beforeAll` of every Redis-backed suite: under CI=true an unreachable
 * Redis fails the suite at once, instead of letting each test wait for its timeout.
 */
export async function requireRedis(): Promise<void> {
  if (!(await reachable(REDIS_ADDRESS))) {
    throw new Error(
      `Redis is not reachable at ${REDIS_ADDRESS.host}:${REDIS_ADDRESS.port}; start it with ` +
        `redis-server --daemonize yes --port 6379 --save "" (CI=true: these tests must not skip)`,
    );
  }
}

/** A stream or group name unique to this run. */
export function unique(prefix: string): string {
  return `pps-test-${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A client with the driver's command options, its errors swallowed, to `url` (default: the test Redis). */
export function commandClient(url = REDIS_URL): Redis {
  const client = new Redis(url, commandClientOptions(2000));
  client.on("error", () => {});
  return client;
}

/** A client with the driver's reader options. */
export function readerClient(url = REDIS_URL, blockMs = 1000): Redis {
  const client = new Redis(url, readerClientOptions(blockMs, 2000));
  client.on("error", () => {});
  return client;
}

/** Resolves once `predicate` holds, polling; rejects after `ms`. */
export async function eventually(predicate: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * For a suite: the list of clean-ups its tests push (delete a stream, shut a
 * subscription down), run after each test, last pushed first, each failure ignored.
 */
export function cleanupsAfterEach(): (() => Promise<unknown>)[] {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });
  return cleanups;
}
