/**
 * The PostgreSQL inbox end to end (issue 25, must have 4 with pg, and the
 * atomic consume-write-publish step): messages consumed from RabbitMQ by
 * Subscriptions with `idempotency: { store: pgIdempotencyStore() }`, whose
 * handlers write through `ctx.tx`. A failed attempt's writes are rolled back
 * and the next attempt runs; two consumers of one id write once; a claim
 * whose process died (SIGKILL in its handler) expires after its lease and
 * the message is processed; a row and an `outbox.send` in ctx.tx commit with
 * the done-mark or not at all, and the relay sends the outbox message once.
 */
import { randomUUID } from "node:crypto";
import {
  type LogEvent,
  openSubscription,
  openTopic,
  type Subscription,
  type SubscriptionOptions,
  type Topic,
  transactionOf,
} from "@portable-pubsub/core";
import { outbox, type PgIdempotencyStore, pgIdempotencyStore } from "@portable-pubsub/driver-postgres";
import { delayQueueNames } from "@portable-pubsub/driver-rabbit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { eventually, PG_URL, schemaFixture, skipPg, unique } from "./helpers.js";
import { startInboxConsumer } from "./inbox-consumer.js";
import { RABBIT, rabbitTarget, requireRabbit } from "./rabbit-target.js";

describe.skipIf(skipPg)("the PostgreSQL inbox on rabbit://", () => {
  const fixture = schemaFixture("inbox");
  let store: PgIdempotencyStore;
  const opened: { shutdown(): Promise<void> }[] = [];
  const removals: (() => Promise<void>)[] = [];
  const keep = <T extends { shutdown(): Promise<void> }>(o: T): T => {
    opened.push(o);
    return o;
  };

  beforeAll(async () => {
    await requireRabbit();
    store = pgIdempotencyStore({ serverUrl: PG_URL, schema: fixture().schema });
  });
  afterEach(async () => {
    for (const o of opened.splice(0).reverse()) await o.shutdown().catch(() => {});
    for (const remove of removals.splice(0)) await remove();
  });
  afterAll(async () => {
    await store?.close();
  });

  /** A table of effects, one row per handler run that committed. */
  async function effectsTable(): Promise<{ name: string; rows(): Promise<Record<string, unknown>[]> }> {
    const name = `${fixture().schema}.${unique("effects")}`;
    await fixture().admin.query(`CREATE TABLE ${name} (body text NOT NULL, pid integer NOT NULL, attempt integer)`);
    return {
      name,
      rows: async () => (await fixture().admin.query(`SELECT body, pid, attempt FROM ${name} ORDER BY body`)).rows,
    };
  }

  /** An exchange and `queues` queues bound to it, each consumer's own, removed after the test. */
  async function exchangeWithQueues(queues: number): Promise<{ topic: Topic; queues: string[] }> {
    const exchange = `pps-test-inbox-${randomUUID().slice(0, 8)}`;
    const names = Array.from({ length: queues }, (_, i) => `${exchange}-q${i}`);
    for (const queue of names) {
      const declared = await openSubscription(`rabbit://${queue}?declare=true&exchange=${exchange}`, {
        serverUrl: RABBIT.serverUrl,
      });
      await declared.shutdown();
    }
    const topic = keep(await openTopic(`rabbit://${exchange}`, { serverUrl: RABBIT.serverUrl }));
    removals.push(async () => {
      const admin = await openTopic(`rabbit://${exchange}`, { serverUrl: RABBIT.serverUrl });
      const channel = admin.as<{
        deleteQueue(q: string): Promise<unknown>;
        deleteExchange(e: string): Promise<unknown>;
      }>();
      for (const queue of names) {
        for (const name of [queue, ...delayQueueNames(queue)]) await channel.deleteQueue(name).catch(() => {});
      }
      await channel.deleteExchange(exchange).catch(() => {});
      await admin.shutdown();
    });
    return { topic, queues: names };
  }

  const consumer = async (queue: string, options: SubscriptionOptions = {}): Promise<Subscription> =>
    keep(
      await openSubscription(`rabbit://${queue}`, {
        serverUrl: RABBIT.serverUrl,
        idempotency: { store, leaseMs: 1500 },
        redelivery: { initialDelayMs: 1, maxDelayMs: 1 },
        ...options,
      }),
    );

  it("a handler that fails on attempt 1 runs again on attempt 2; attempt 1's write is rolled back", async () => {
    const effects = await effectsTable();
    const { topic, queues } = await exchangeWithQueues(1);
    const sub = await consumer(queues[0] as string);
    const runs: (number | undefined)[] = [];
    void sub
      .process(async (message, ctx) => {
        runs.push(message.deliveryAttempt);
        await transactionOf(ctx, store).query(`INSERT INTO ${effects.name} VALUES ($1, $2, $3)`, [
          message.text(),
          process.pid,
          message.deliveryAttempt,
        ]);
        if (runs.length === 1) throw new Error("attempt 1 fails after its write");
      })
      .catch(() => {});
    await topic.send({ body: "charge order 1" });
    await eventually(() => runs.length === 2, 30_000, "the second run");
    await eventually(async () => (await effects.rows()).length === 1, 10_000, "the second run's row");
    await sub.shutdown();
    expect(runs).toEqual([1, 2]);
    expect(await effects.rows()).toEqual([{ body: "charge order 1", pid: process.pid, attempt: 2 }]);
  });

  it("two consumers that get the same id at once run the handler once: one row per message", async () => {
    const effects = await effectsTable();
    const { topic, queues } = await exchangeWithQueues(2); // each queue gets a copy of every message, same id
    const events: LogEvent[] = [];
    const logger = { info: (e: LogEvent) => events.push(e), warn: () => {}, error: () => {} };
    const bodies = Array.from({ length: 20 }, (_, i) => `order ${i}`);
    let runs = 0;
    for (const queue of queues) {
      const sub = await consumer(queue, { logger });
      void sub
        .process(
          async (message, ctx) => {
            runs++;
            await transactionOf(ctx, store).query(`INSERT INTO ${effects.name} (body, pid) VALUES ($1, $2)`, [
              message.text(),
              process.pid,
            ]);
            // Long enough that the other queue's copy arrives while this one runs.
            await new Promise((resolve) => setTimeout(resolve, 200));
          },
          { concurrency: 20 },
        )
        .catch(() => {});
    }
    await Promise.all(bodies.map((body) => topic.send({ body })));
    const duplicates = () => events.filter((e) => e.event === "pubsub.duplicate").length;
    await eventually(() => duplicates() === bodies.length, 30_000, "every second copy acked as a duplicate");
    expect(runs).toBe(bodies.length);
    expect((await effects.rows()).map((r) => r.body)).toEqual([...bodies].sort());
  });

  it("a claim whose process died in its handler expires after its lease, and the message is processed once", async () => {
    const effects = await effectsTable();
    const { topic, queues } = await exchangeWithQueues(1);
    const queue = queues[0] as string;
    const dying = startInboxConsumer({
      url: `rabbit://${queue}`,
      options: { serverUrl: RABBIT.serverUrl },
      pgUrl: PG_URL,
      schema: fixture().schema,
      effects: effects.name,
      leaseMs: 5000,
      mode: "die",
    });
    try {
      await dying.opened;
      await topic.send({ body: "charge order 7" });
      expect(await dying.exited).toEqual({ code: null, signal: "SIGKILL" });
      expect(dying.ran).toEqual(["charge order 7"]);
      // Its insert died with its transaction; its claim stays until the lease ends.
      expect(await effects.rows()).toEqual([]);
      const { rows: claims } = await fixture().admin.query(
        `SELECT state, expires_at > now() AS live FROM ${fixture().schema}.idempotency WHERE state = 'running'`,
      );
      expect(claims).toEqual([{ state: "running", live: true }]);

      const attempts: (number | undefined)[] = [];
      const sub = await consumer(queue);
      void sub
        .process(async (message, ctx) => {
          attempts.push(message.deliveryAttempt);
          await transactionOf(ctx, store).query(`INSERT INTO ${effects.name} (body, pid) VALUES ($1, $2)`, [
            message.text(),
            process.pid,
          ]);
        })
        .catch(() => {});
      await eventually(async () => (await effects.rows()).length === 1, 30_000, "the message processed");
      await sub.shutdown();
      expect(attempts).toHaveLength(1);
      // Its first redelivery found the dead process's live claim and was postponed; a later one ran.
      expect(attempts[0]).toBeGreaterThan(2);
      expect(await effects.rows()).toEqual([{ body: "charge order 7", pid: process.pid, attempt: null }]);
    } finally {
      await dying.kill();
    }
  });

  it("consume, write and publish are one step: a row and an outbox.send in ctx.tx commit with the done-mark, or not at all", async () => {
    const { schema, admin } = fixture();
    const effects = await effectsTable();
    const { topic, queues } = await exchangeWithQueues(1);
    const target = await rabbitTarget("inbox-out");
    removals.push(() => target.remove());
    const sub = await consumer(queues[0] as string);
    let runs = 0;
    void sub
      .process(async (message, ctx) => {
        runs++;
        const tx = transactionOf(ctx, store);
        await tx.query(`INSERT INTO ${effects.name} (body, pid) VALUES ($1, $2)`, [message.text(), process.pid]);
        await outbox.send(tx, target.url, { body: `charged: ${message.text()}` }, { schema });
        if (runs === 1) throw new Error("fails after its write and its send");
      })
      .catch(() => {});
    await topic.send({ body: "order 9" });
    await eventually(async () => (await effects.rows()).length === 1, 30_000, "the second run's row");
    await sub.shutdown();
    expect(runs).toBe(2);
    // One row and one outbox message: the first run's pair was rolled back together.
    const { rows } = await admin.query(`SELECT convert_from(body, 'UTF8') AS body FROM ${schema}.outbox`);
    expect(rows).toEqual([{ body: "charged: order 9" }]);

    const got: string[] = [];
    void target.subscription.process((m) => void got.push(m.text())).catch(() => {});
    const relay = await outbox.startRelay({
      serverUrl: PG_URL,
      schema,
      topicOptions: () => ({ serverUrl: RABBIT.serverUrl }),
    });
    try {
      await eventually(() => got.length === 1, 30_000, "the outbox message on the target");
      await eventually(async () => (await relay.backlog()).rows === 0, 10_000, "an empty outbox");
    } finally {
      await relay.shutdown();
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual(["charged: order 9"]);
  });
});
