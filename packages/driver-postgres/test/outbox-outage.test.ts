import { randomUUID } from "node:crypto";
import { FaultProxy } from "@portable-pubsub/conformance";
import { type Message, openSubscription, openTopic } from "@portable-pubsub/core";
import { outbox } from "@portable-pubsub/driver-postgres";
import { describe, expect, it } from "vitest";
import { commitOutbox, eventually, PG_URL, schemaFixture, skipPg } from "./helpers.js";
import { RABBIT, rabbitTarget, requireRabbit } from "./rabbit-target.js";

const { OUTBOX_ID_KEY } = outbox;

describe.skipIf(skipPg)("outbox relay through outages", () => {
  const fixture = schemaFixture("outbox_outage");

  it("keeps rows while the target broker is unreachable, and sends them when it is back", async () => {
    await requireRabbit();
    const { schema, admin } = fixture();
    const target = await rabbitTarget("outbox-down");
    // The relay reaches RabbitMQ through a proxy: refusing and cutting there is the broker being down for this
    // relay alone, without touching the shared server.
    const proxy = await FaultProxy.start({ upstream: RABBIT });
    const got = target.collect();
    const relay = await outbox.startRelay({
      serverUrl: PG_URL,
      schema,
      sendTimeoutMs: 1500,
      retry: { initialDelayMs: 100, maxDelayMs: 1000 },
      topicOptions: () => ({ serverUrl: `amqp://guest:guest@${proxy.address}` }),
    });
    try {
      const before = await commitOutbox(admin, schema, target.url, ["b0", "b1", "b2"]);
      await eventually(() => got.length === 3, 10_000, "the messages sent before the outage");
      // Their confirms may still be on the way: wait for their rows' delete, so that only waiting rows can repeat.
      await eventually(async () => (await relay.backlog()).rows === 0, 10_000, "the rows sent before the outage gone");

      proxy.refuse(true);
      expect(proxy.cut()).toBeGreaterThan(0);
      const waiting = await commitOutbox(
        admin,
        schema,
        target.url,
        Array.from({ length: 50 }, (_, i) => `w${i}`),
      );
      // Several sends time out and back off meanwhile; the rows stay, and the relay's database side is fine.
      await new Promise((r) => setTimeout(r, 4000));
      expect(got.length).toBe(3);
      expect((await relay.backlog()).rows).toBe(50);
      const { rows } = await admin.query(
        `SELECT min(attempts)::int AS attempts, bool_and(last_error IS NOT NULL) AS errors FROM ${schema}.outbox`,
      );
      expect(rows[0]?.attempts).toBeGreaterThanOrEqual(1);
      expect(rows[0]?.errors).toBe(true);
      expect(relay.stats().failed).toBeGreaterThanOrEqual(50);
      expect(relay.health.state).toBe("ready");

      proxy.refuse(false);
      const ids = () => new Set(got.map((m) => m.metadata[OUTBOX_ID_KEY]));
      await eventually(() => ids().size === 53, 30_000, "every waiting message after the broker came back");
      await eventually(async () => (await relay.backlog()).rows === 0, 10_000, "an empty outbox");
      expect([...ids()].sort()).toEqual([...before, ...waiting].sort());
      // No duplicate: a send the relay stopped waiting for stays with the topic, which sends it once the broker is
      // reachable; its row waits meanwhile and is deleted when that send resolves, never sent again at each retry.
      expect(got.length).toBe(53);
      // In order within the waiting rows' first arrivals: one relay sends a URL's rows in id order.
      const firstArrivals = [...new Map(got.map((m) => [m.metadata[OUTBOX_ID_KEY], m.text()])).values()];
      expect(firstArrivals.slice(3)).toEqual(Array.from({ length: 50 }, (_, i) => `w${i}`));
    } finally {
      await relay.shutdown();
      await proxy.close();
      await target.remove();
    }
  });

  it("survives its database connections being terminated again and again: none lost", async () => {
    const { schema, admin } = fixture();
    const name = `outbox-terminate-${randomUUID()}`;
    const topic = await openTopic(`mem://${name}`);
    const sub = await openSubscription(`mem://${name}?subscription=s`);
    const got: Message[] = [];
    sub
      .process(async (m) => {
        got.push(m);
      })
      .catch(() => {});
    const relay = await outbox.startRelay({ serverUrl: PG_URL, schema, batchSize: 20, retry: { maxDelayMs: 200 } });
    let terminated = 0;
    let stop = false;
    const killer = (async () => {
      while (!stop) {
        const { rows } = await admin.query(
          `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = 'portable-pubsub relay' AND pid <> pg_backend_pid()`,
        );
        terminated += rows.filter((r) => r.done === true).length;
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    try {
      const written: string[] = [];
      for (let i = 0; i < 40; i++) {
        written.push(
          ...(await commitOutbox(admin, schema, `mem://${name}`, [`a${i}`, `b${i}`, `c${i}`, `d${i}`, `e${i}`])),
        );
        await new Promise((r) => setTimeout(r, 25));
      }
      const ids = () => new Set(got.map((m) => m.metadata[OUTBOX_ID_KEY]));
      await eventually(() => ids().size === written.length, 30_000, "every message");
      stop = true;
      await killer;
      await eventually(async () => (await relay.backlog()).rows === 0, 10_000, "an empty outbox");
      expect([...ids()].sort()).toEqual([...written].sort());
      expect(terminated).toBeGreaterThan(5);
      // A batch whose delete was cut off after its sends is sent again: at most one batch per termination.
      expect(got.length - written.length).toBeLessThanOrEqual(20 * terminated);
      await eventually(() => relay.health.state === "ready", 10_000, "health back to ready");
    } finally {
      stop = true;
      await killer;
      await relay.shutdown();
      await sub.shutdown();
      await topic.shutdown();
    }
  });
});
