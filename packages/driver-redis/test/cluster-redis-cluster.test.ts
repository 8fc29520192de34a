/**
 * redisstream:// on a Redis Cluster of the test's own (three masters with a
 * replica each): a round trip and consumer-group semantics through
 * `redis-cluster://`, and the stream's master killed with SIGKILL under
 * load, which with `replicas=1` loses nothing and fails no send.
 */
import "@portable-pubsub/driver-redis/register";
import { type Message, openSubscription, openTopic, type Subscription, type Topic } from "@portable-pubsub/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterSetup } from "./cluster-harness.js";
import { distinctMessages, missingFromStream, pacedLoad } from "./cluster-load.js";
import { until } from "./redis-processes.js";

const RATE = 400;
const shutdown = () => ({ signal: AbortSignal.timeout(20_000) });

describe("redisstream on a Redis Cluster", () => {
  let setup: ClusterSetup;
  const opened: (Topic | Subscription)[] = [];
  beforeAll(async () => {
    setup = await ClusterSetup.start();
  }, 90_000);
  afterAll(async () => {
    for (const handle of opened.splice(0)) await handle.shutdown(shutdown()).catch(() => {});
    await setup?.close();
  });

  async function open(topicUrl: string, subscriptionUrl: string) {
    const serverUrl = setup.serverUrl;
    const topic = await openTopic(topicUrl, { serverUrl });
    const sub = await openSubscription(subscriptionUrl, { serverUrl });
    opened.push(topic, sub);
    return { topic, sub };
  }

  it("round-trips messages with metadata, on streams whose slots are on different masters", async () => {
    const streams = ["alpha", "bravo", "charlie", "delta"];
    const masters = new Set(await Promise.all(streams.map((s) => setup.masterOf(s))));
    expect(masters.size).toBeGreaterThan(1);
    for (const stream of streams) {
      const { topic, sub } = await open(`redisstream://${stream}`, `redisstream://${stream}?group=rt`);
      await topic.send({ body: `to ${stream}`, metadata: { k: stream } });
      const message = await sub.receive();
      expect(message.text()).toBe(`to ${stream}`);
      expect(message.metadata).toEqual({ k: stream });
      message.ack();
    }
  });

  it("gives each group every message once, redelivers a nack, and keeps nothing pending once acked", async () => {
    const { topic, sub: first } = await open("redisstream://shared", "redisstream://shared?group=g");
    const other = await openSubscription("redisstream://shared?group=h", { serverUrl: setup.serverUrl });
    opened.push(other);
    await Promise.all(Array.from({ length: 20 }, (_, i) => topic.send({ body: `m${i}` })));
    const take = async (sub: Subscription, n: number) => {
      const got: Message[] = [];
      while (got.length < n) got.push(await sub.receive());
      return got;
    };
    const [inG, inH] = await Promise.all([take(first, 20), take(other, 20)]);
    const expected = Array.from({ length: 20 }, (_, i) => `m${i}`).sort();
    expect(inG.map((m) => m.text()).sort()).toEqual(expected);
    expect(inH.map((m) => m.text()).sort()).toEqual(expected);
    const [nacked, ...rest] = inG as [Message, ...Message[]];
    for (const m of [...rest, ...inH]) m.ack();
    nacked.nack();
    const again = await first.receive();
    expect(again.text()).toBe(nacked.text());
    again.ack();
    const master = await setup.masterOf("shared");
    await until(
      async () => {
        const [g, h] = (await Promise.all([
          setup.ask(master, ["XPENDING", "shared", "g"]),
          setup.ask(master, ["XPENDING", "shared", "h"]),
        ])) as [unknown[], unknown[]];
        return g[0] === 0 && h[0] === 0;
      },
      10_000,
      "no entries pending in groups g and h",
    );
  });

  it("with replicas=1: a master killed with SIGKILL under load loses nothing and fails no send", async () => {
    const { topic, sub } = await open("redisstream://load?replicas=1", "redisstream://load?group=g&ackDeadline=5s");
    const load = pacedLoad(topic, sub, RATE);
    await new Promise((r) => setTimeout(r, 3000));
    const killedAt = Date.now();
    const sentBefore = load.sent;
    const old = await setup.killMasterOf("load");
    const promoted = await setup.waitFailover("load", old);
    const failoverMs = Date.now() - killedAt;
    // The promoted replica has no replica of its own: WAIT 1 holds the sends until the killed node is back as one.
    await setup.restart(old);
    const backMs = Date.now() - killedAt;
    // Waits past the ack deadline: entries read by a XREADGROUP whose reply died with the master come back by XAUTOCLAIM.
    const result = await load.finish(sentBefore + 6 * RATE, 15_000);
    const missing = await missingFromStream(promoted, "load", result.acked);
    console.log(
      `[redis cluster, replicas=1] failover ${failoverMs} ms (master ${old} -> ${promoted}), old master back as a replica after ${backMs} ms; ${result.total} sends, ${result.failed.length} failed, ${missing.length} acknowledged and not in the stream after the failover, ${result.lost.length} never delivered, ${result.duplicates} duplicates`,
    );
    expect(distinctMessages(result.failed)).toEqual([]);
    expect(missing).toEqual([]);
    expect(result.lost).toEqual([]);
    expect(result.total).toBeGreaterThanOrEqual(8 * RATE);
  }, 120_000);
});
