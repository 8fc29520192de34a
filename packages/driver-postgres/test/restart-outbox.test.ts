/**
 * The outbox's target broker really restarted: a RabbitMQ node of the test's
 * own (driver-rabbit's test cluster of one node) is stopped while rows are
 * committed, and started again. The rows wait in the table, and every one is
 * sent once it is back, in order, once. outbox-outage.test.ts covers a broker
 * unreachable through a proxy; this is the broker process going away, its
 * connections closed by the server, and coming back with its durable queue.
 */
import { outbox } from "@portable-pubsub/driver-postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClusterNode, RabbitCluster } from "../../driver-rabbit/test/cluster.js";
import { commitOutbox, eventually, PG_URL, schemaFixture, skipPg } from "./helpers.js";
import { rabbitTarget } from "./rabbit-target.js";

const { OUTBOX_ID_KEY } = outbox;

describe.skipIf(skipPg)("outbox relay through a restart of the target broker", () => {
  const fixture = schemaFixture("outbox_restart");

  let cluster: RabbitCluster | undefined;
  beforeAll(async () => {
    cluster = await RabbitCluster.start(1, 90_000);
  }, 120_000);
  afterAll(async () => cluster?.close(), 60_000);

  it("keeps the rows committed while RabbitMQ is stopped, and sends every one once, in order, when it is back", async () => {
    const { schema, admin } = fixture();
    const own = cluster as RabbitCluster;
    const node = own.nodes[0] as ClusterNode;
    const target = await rabbitTarget("outbox-restart", node.url);
    const got = target.collect();
    const relay = await outbox.startRelay({
      serverUrl: PG_URL,
      schema,
      sendTimeoutMs: 2000,
      retry: { initialDelayMs: 100, maxDelayMs: 1000 },
      topicOptions: () => ({ serverUrl: node.url }),
    });
    try {
      const before = await commitOutbox(admin, schema, target.url, ["b0", "b1", "b2"]);
      await eventually(() => got.length === 3, 15_000, "the messages sent before the restart");
      await eventually(async () => (await relay.backlog()).rows === 0, 10_000, "their rows gone");

      await own.stopNode(node);
      const waiting = await commitOutbox(
        admin,
        schema,
        target.url,
        Array.from({ length: 100 }, (_, i) => `w${i}`),
      );
      // Sends fail or time out while the broker is down; the rows stay, with their attempts counted.
      await eventually(
        async () =>
          Number((await admin.query(`SELECT count(*) AS n FROM ${schema}.outbox WHERE attempts >= 1`)).rows[0].n) ===
          100,
        30_000,
        "every waiting row tried at least once",
      );
      expect(got.length).toBe(3);
      expect((await relay.backlog()).rows).toBe(100);
      expect(relay.health.state).toBe("ready");

      await own.startNode(node);
      const ids = () => new Set(got.map((m) => m.metadata[OUTBOX_ID_KEY]));
      await eventually(() => ids().size === 103, 60_000, "every waiting message after the broker came back");
      await eventually(async () => (await relay.backlog()).rows === 0, 20_000, "an empty outbox");
      expect([...ids()].sort()).toEqual([...before, ...waiting].sort());
      // No duplicate: a send the relay stopped waiting for stays with the topic, which sends it once the broker is
      // back; its row waits meanwhile and is deleted when that send resolves, never sent again at each retry.
      expect(got.length).toBe(103);
      const firstArrivals = [...new Map(got.map((m) => [m.metadata[OUTBOX_ID_KEY], m.text()])).values()];
      expect(firstArrivals.slice(3)).toEqual(Array.from({ length: 100 }, (_, i) => `w${i}`));
    } finally {
      if (!own.isRunning(node)) await own.startNode(node).catch(() => {});
      await relay.shutdown();
      await target.remove();
    }
  });
});
