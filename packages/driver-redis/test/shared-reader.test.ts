import { openSubscription, openTopic, type Subscription, type Topic } from "@portable-pubsub/core";
import { RedisSubscriptionDriver } from "@portable-pubsub/driver-redis";
import { beforeAll, describe, expect, it } from "vitest";
import {
  cleanupsAfterEach,
  commandClient,
  eventually,
  REDIS_ADDRESS,
  requireRedis,
  skipRedis,
  unique,
} from "./helpers.js";

const serverUrl = `redis://${REDIS_ADDRESS.host}:${REDIS_ADDRESS.port}`;

/**
 * Cost per subscription: the subscriptions opened by URL on one server share
 * one command connection, and those of one consumer group one blocking
 * reader, whatever their streams (issue 27).
 */
describe.skipIf(skipRedis)("redisstream subscriptions share their connections", () => {
  beforeAll(requireRedis);
  const admin = commandClient();
  const cleanups = cleanupsAfterEach();

  /** The options of every open in one test: its connections carry `name`, so CLIENT LIST can count them. */
  const named = (name: string) => ({ serverUrl, redisOptions: { connectionName: name } });

  /** Connections Redis has open with this client name. */
  async function connections(name: string): Promise<number> {
    const list = String(await admin.client("LIST"));
    return list.split("\n").filter((line) => line.includes(` name=${name} `)).length;
  }

  function stream(prefix: string): string {
    const name = unique(prefix);
    cleanups.push(() => admin.del(name));
    return name;
  }

  async function open(url: string, name: string, options = {}): Promise<Subscription> {
    const sub = await openSubscription(url, { ...named(name), ...options });
    cleanups.push(() => sub.shutdown());
    return sub;
  }

  async function topic(s: string, name: string): Promise<Topic> {
    const t = await openTopic(`redisstream://${s}`, named(name));
    cleanups.push(() => t.shutdown());
    return t;
  }

  const receive = (sub: Subscription) => sub.receive({ signal: AbortSignal.timeout(30_000) });

  it("opens 100 subscriptions in 4 groups on 1 + 4 connections, and each receives exactly its own messages", async () => {
    const name = unique("conns");
    const groups = Array.from({ length: 4 }, (_, g) => unique(`group${g}`));
    const streams = Array.from({ length: 100 }, (_, i) => stream(`s${i}`));
    const subs = await Promise.all(
      streams.map((s, i) => open(`redisstream://${s}?group=${groups[i % 4]}&start=all`, name)),
    );
    const topics = await Promise.all(streams.map((s) => topic(s, name)));
    expect(await connections(name)).toBe(1 + groups.length);

    await Promise.all(topics.map((t, i) => Promise.all([t.send({ body: `a-${i}` }), t.send({ body: `b-${i}` })])));
    const received = await Promise.all(
      subs.map(async (sub) => {
        const bodies: string[] = [];
        for (let n = 0; n < 2; n++) {
          const message = await receive(sub);
          bodies.push(new TextDecoder().decode(message.body));
          message.ack();
        }
        return bodies.sort();
      }),
    );
    expect(received).toEqual(streams.map((_, i) => [`a-${i}`, `b-${i}`]));
    // Nothing more arrives anywhere: no entry went to a subscription of another stream.
    // Acks are batched (sent at the end of the event loop's turn): wait for them, then nothing is pending.
    const pending = async () =>
      (await Promise.all(streams.map((s, i) => admin.xpending(s, groups[i % 4] as string)))).map(
        (summary) => (summary as [number])[0],
      );
    await eventually(async () => (await pending()).every((n) => n === 0), 10_000, "every ack applied");
    expect(await pending()).toEqual(streams.map(() => 0));
    expect(await connections(name)).toBe(1 + groups.length);

    await Promise.all([...subs, ...topics].map((handle) => handle.shutdown()));
    await eventually(async () => (await connections(name)) === 0, 10_000, "every connection closed");
  });

  it("keeps delivering to the other subscriptions of a group while one does not take its messages", async () => {
    const name = unique("slow");
    const group = unique("group");
    const [slowStream, fastStream] = [stream("slow"), stream("fast")];
    // The slow one takes one message and never comes back: its portable buffer holds a batch of 5, then it stops fetching.
    const slow = await open(`redisstream://${slowStream}?group=${group}&start=all`, name, { maxReceiveBatchSize: 5 });
    const fast = await open(`redisstream://${fastStream}?group=${group}&start=all`, name);
    const [slowTopic, fastTopic] = [await topic(slowStream, name), await topic(fastStream, name)];
    await Promise.all(Array.from({ length: 200 }, (_, i) => slowTopic.send({ body: `slow-${i}` })));
    const held = await receive(slow);
    expect(new TextDecoder().decode(held.body)).toBe("slow-0");

    const bodies: string[] = [];
    for (let i = 0; i < 50; i++) {
      await fastTopic.send({ body: `fast-${i}` });
      const message = await receive(fast);
      bodies.push(new TextDecoder().decode(message.body));
      message.ack();
    }
    expect(bodies).toEqual(Array.from({ length: 50 }, (_, i) => `fast-${i}`));
    // The slow stream was left out of the group's reads once its subscription held a full buffer.
    expect(await pendingCount(slowStream, group)).toBeLessThan(200);
    expect(await connections(name)).toBe(2);
    held.ack();
  });

  async function pendingCount(s: string, group: string): Promise<number> {
    return Number(((await admin.xpending(s, group)) as [number])[0]);
  }

  it("shuts one subscription of a group down without disturbing the others, and closes the reader with the last", async () => {
    const name = unique("close");
    const group = unique("group");
    const streams = [stream("one"), stream("two"), stream("three")];
    const subs = await Promise.all(streams.map((s) => open(`redisstream://${s}?group=${group}&start=all`, name)));
    const topics = await Promise.all(streams.map((s) => topic(s, name)));
    // Each subscription waits in a receive, so the group's read is blocked on all three streams when one leaves.
    const waiting = subs.map((sub) => receive(sub));
    waiting[0]?.catch(() => {});
    await subs[0]?.shutdown();
    expect(await connections(name)).toBe(2);

    await Promise.all(topics.map((t, i) => t.send({ body: `after-${i}` })));
    for (const [i, promise] of waiting.entries()) {
      if (i === 0) continue;
      const message = await promise;
      expect(new TextDecoder().decode(message.body)).toBe(`after-${i}`);
      message.ack();
    }
    // The first stream's entry stays for its group: no remaining subscription took it.
    expect(await pendingCount(streams[0] as string, group)).toBe(0);
    const [reopened] = [await open(`redisstream://${streams[0]}?group=${group}`, name)];
    const late = await receive(reopened);
    expect(new TextDecoder().decode(late.body)).toBe("after-0");
    late.ack();

    await Promise.all([subs[1], subs[2], reopened].map((sub) => sub?.shutdown()));
    // The topics keep the command connection; the group's reader closed with its last subscription.
    await eventually(async () => (await connections(name)) === 1, 10_000, "the reader closed");
  });

  it("fails only the subscription whose group is destroyed while the shared read blocks", async () => {
    const name = unique("destroy");
    const group = unique("group");
    const [gone, kept] = [stream("gone"), stream("kept")];
    const [goneSub, keptSub] = [
      await open(`redisstream://${gone}?group=${group}`, name),
      await open(`redisstream://${kept}?group=${group}`, name),
    ];
    const keptTopic = await topic(kept, name);
    const failed = goneSub.receive({ signal: AbortSignal.timeout(30_000) }).then(
      () => "received",
      (err: { code?: string }) => err.code,
    );
    const arriving = receive(keptSub);
    // Both receives wait in one blocked read when the group of one stream goes: Redis ends that read with an error naming no stream.
    await eventually(
      async () =>
        String(await admin.client("LIST"))
          .split("\n")
          .some((line) => line.includes(` name=${name} `) && line.includes("cmd=xreadgroup")),
      10_000,
      "the group's read blocking",
    );
    await admin.xgroup("DESTROY", gone, group);
    expect(await failed).toBe("NotFound");
    await keptTopic.send({ body: "still here" });
    const message = await arriving;
    expect(new TextDecoder().decode(message.body)).toBe("still here");
    message.ack();
  });

  it("keeps the leases of entries a shared read brought beyond what their receive asked for", async () => {
    const client = commandClient();
    const group = unique("group");
    const [small, big] = [stream("small"), stream("big")];
    const settings = { ackDeadlineMs: 300, createGroupAt: "all" as const };
    const drivers = [small, big].map(
      (s) => new RedisSubscriptionDriver(client, undefined, { stream: s, group }, settings),
    );
    const stop = new AbortController();
    cleanups.push(async () => {
      stop.abort();
      for (const driver of drivers) await driver.close(AbortSignal.timeout(5000));
      client.disconnect();
    });
    for (const driver of drivers) await driver.ready(AbortSignal.timeout(10_000));
    const [smallDriver, bigDriver] = drivers as [RedisSubscriptionDriver, RedisSubscriptionDriver];
    // One read for both: COUNT is the larger ask, so the small one's stream brings 10 where its receive takes 1.
    for (let i = 0; i < 10; i++) await admin.xadd(small, "*", "body", `m-${i}`);
    const first = smallDriver.receiveBatch(1, stop.signal);
    void bigDriver.receiveBatch(100, stop.signal);
    const taken = await first;
    expect(taken.map((m) => Buffer.from(m.body).toString())).toEqual(["m-0"]);
    await smallDriver.sendAcks(taken.map((m) => m.ackId));
    // Three ack deadlines pass while 9 entries wait in the buffer; another consumer's XAUTOCLAIM must find none.
    await new Promise((r) => setTimeout(r, 900));
    const claimed = (await admin.xautoclaim(small, group, "thief", 300, "0-0", "JUSTID")) as [string, string[]];
    expect(claimed[1]).toHaveLength(0);
    const rest = await smallDriver.receiveBatch(100, stop.signal);
    expect(rest.map((m) => Buffer.from(m.body).toString())).toEqual(Array.from({ length: 9 }, (_, i) => `m-${i + 1}`));
  });
});
