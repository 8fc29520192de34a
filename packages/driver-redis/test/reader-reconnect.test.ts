/**
 * A group reader whose connection was replaced while its read blocked:
 * ioredis sends the read again on the new connection, and the reader must
 * still be able to wake it (CLIENT UNBLOCK needs the new connection's id).
 */
import { readerClientOptions } from "@portable-pubsub/driver-redis";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GroupReader } from "../src/reader.js";
import { cleanupsAfterEach, commandClient, eventually, REDIS_URL, requireRedis, skipRedis, unique } from "./helpers.js";

/** Longer than the URL allows, so that a read nobody can wake outlasts the test's bound by far. */
const BLOCK_MS = 10_000;

describe.skipIf(skipRedis)("redisstream group reader after its connection was replaced", () => {
  beforeAll(requireRedis);
  const admin = commandClient();
  afterAll(() => admin.quit());
  const cleanups = cleanupsAfterEach();

  /** Waits until a connection named `name`, other than `previous`, blocks in XREADGROUP; returns its id. */
  async function blockedReader(name: string, previous?: string): Promise<string> {
    let id: string | undefined;
    await eventually(
      async () => {
        const list = String(await admin.client("LIST"));
        const line = list.split("\n").find((l) => l.includes(` name=${name} `) && l.includes(" cmd=xreadgroup"));
        id = line?.match(/^id=(\d+) /)?.[1];
        return id !== undefined && id !== previous;
      },
      5000,
      `a connection ${name} (other than ${previous}) blocking in XREADGROUP`,
    );
    return id as string;
  }

  it("wakes the read ioredis sent again on the new connection, as soon as another stream is wanted", async () => {
    const [first, second, group, name] = [unique("rc-a"), unique("rc-b"), unique("rc-g"), unique("rc-reader")];
    for (const stream of [first, second]) {
      await admin.xgroup("CREATE", stream, group, "$", "MKSTREAM");
      cleanups.push(() => admin.del(stream));
    }
    const connection = new Redis(REDIS_URL, { ...readerClientOptions(BLOCK_MS, 2000), connectionName: name });
    connection.on("error", () => {});
    const command = commandClient();
    cleanups.push(() => command.quit());
    const reader = new GroupReader(connection, command, { group, consumer: "c" }, BLOCK_MS, { closeConnection: true });
    const signal = AbortSignal.timeout(30_000);
    const seatA = reader.join(first);
    cleanups.push(() => reader.leave(seatA, AbortSignal.timeout(5000)));
    const readingA = seatA.read(10, signal);

    const before = await blockedReader(name);
    await admin.client("KILL", "ID", before);
    await blockedReader(name, before); // ioredis sent the read again on its new connection

    const seatB = reader.join(second);
    cleanups.push(() => reader.leave(seatB, AbortSignal.timeout(5000)));
    const id = await admin.xadd(second, "*", "body", "b");
    const start = performance.now();
    const entries = await seatB.read(10, signal);
    const waitedMs = performance.now() - start;
    expect(entries.map((e) => e.id)).toEqual([id]);
    // Woken, the read ends at once and the next one includes the second stream; not woken, it blocks its 10 s.
    expect(waitedMs).toBeLessThan(5000);
    seatA.wake();
    expect(await readingA).toEqual([]);
  }, 60_000);

  it("lets a subscription shut down at once while the read waits for its connection to come back", async () => {
    const [stream, group, name] = [unique("rc-d"), unique("rc-g"), unique("rc-reader")];
    await admin.xgroup("CREATE", stream, group, "$", "MKSTREAM");
    cleanups.push(() => admin.del(stream));
    // Reconnects only after 4 s: the read sent again waits that long for a connection.
    const connection = new Redis(REDIS_URL, {
      ...readerClientOptions(BLOCK_MS, 2000),
      connectionName: name,
      retryStrategy: () => 4000,
    });
    connection.on("error", () => {});
    const command = commandClient();
    cleanups.push(() => command.quit());
    const reader = new GroupReader(connection, command, { group, consumer: "c" }, BLOCK_MS, { closeConnection: true });
    const seat = reader.join(stream);
    const reading = seat.read(10, AbortSignal.timeout(30_000));
    await admin.client("KILL", "ID", await blockedReader(name));
    await eventually(() => connection.status !== "ready", 5000, "the reader's connection dropping");

    const start = performance.now();
    expect(await seat.drain(5000, AbortSignal.timeout(30_000))).toEqual([]);
    const drainedMs = performance.now() - start;
    expect(await reading).toEqual([]);
    await reader.leave(seat, AbortSignal.timeout(5000));
    // Waiting for the read, the drain took its whole 5 s bound; the read cannot bring anything while it waits.
    expect(drainedMs).toBeLessThan(2000);
    // Closed while it waited to reconnect, the connection does not come back.
    await new Promise((resolve) => setTimeout(resolve, 4500));
    expect(String(await admin.client("LIST"))).not.toContain(` name=${name} `);
  }, 60_000);
});
