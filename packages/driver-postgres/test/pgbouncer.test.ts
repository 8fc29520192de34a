/**
 * pg:// and the outbox through PgBouncer in transaction pooling mode, the
 * setting that breaks session state: with `notify=false` nothing may depend
 * on one server connection outliving a transaction. The driver's pools are
 * larger than PgBouncer's (10 against 2), so statements really are spread
 * over shared server connections.
 */
import { type Message, openSubscription, openTopic } from "@portable-pubsub/core";
import { outbox } from "@portable-pubsub/driver-postgres";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, PG_URL, requirePg, skipPg, unique } from "./helpers.js";
import { type PgBouncer, pgBouncerUnavailable, startPgBouncer } from "./pgbouncer.js";

const SERVER_POOL = 2;

if (pgBouncerUnavailable && process.env.CI === "true") {
  throw new Error(`CI=true: the PgBouncer tests must run, but ${pgBouncerUnavailable}`);
}

describe.skipIf(skipPg || pgBouncerUnavailable !== undefined)("through PgBouncer, transaction pooling", () => {
  let bouncer: PgBouncer;
  const schema = unique("bouncer");
  const admin = new pg.Pool({ connectionString: PG_URL, max: 2 });
  admin.on("error", () => {});

  beforeAll(async () => {
    await requirePg();
    bouncer = await startPgBouncer({ poolSize: SERVER_POOL });
  });
  afterAll(async () => {
    await bouncer?.stop();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.end();
  });

  it("declares, sends and receives with notify=false: each of 1,000 messages once", async () => {
    const url = (query: string) => `pg://orders?schema=${schema}&declare=true&notify=false${query}`;
    // Declared through PgBouncer: the migration must not rely on a session (a session advisory lock would).
    const sub = await openSubscription(url("&subscription=billing&pollInterval=50ms"), { serverUrl: bouncer.url });
    const topic = await openTopic(url(""), { serverUrl: bouncer.url });
    const got: Message[] = [];
    const processing = sub.process(
      async (m) => {
        got.push(m);
      },
      { concurrency: 8 },
    );
    try {
      const bodies = Array.from({ length: 1000 }, (_, i) => `order-${i}`);
      const results = await Promise.allSettled(bodies.map((body) => topic.send({ body })));
      expect(results.filter((r) => r.status === "rejected")).toEqual([]);
      await eventually(() => got.length >= bodies.length, 60_000, "every message");
      await eventually(
        async () => Number((await admin.query(`SELECT count(*) AS n FROM ${schema}.deliveries`)).rows[0].n) === 0,
        20_000,
        "every delivery acked",
      );
      expect(got.map((m) => m.text()).sort()).toEqual([...bodies].sort());
      expect(await bouncer.serverConnections()).toBeLessThanOrEqual(SERVER_POOL);
    } finally {
      await sub.shutdown();
      await processing.catch(() => {});
      await topic.shutdown();
    }
  });

  it("relays the outbox with notify: false: written in a transaction through PgBouncer, sent once, in order", async () => {
    const to = `mem://${unique("bouncer-target")}`;
    const memTopic = await openTopic(to);
    const sub = await openSubscription(`${to}?subscription=s`);
    const got: string[] = [];
    const processing = sub.process(async (m) => {
      got.push(m.text());
    });
    const app = new pg.Pool({ connectionString: bouncer.url, max: 4 });
    app.on("error", () => {});
    const relay = await outbox.startRelay({ serverUrl: bouncer.url, schema, notify: false, batchSize: 20 });
    try {
      const bodies = Array.from({ length: 200 }, (_, i) => `event-${i}`);
      for (let from = 0; from < bodies.length; from += 50) {
        const tx = await app.connect();
        try {
          await tx.query("BEGIN");
          for (const body of bodies.slice(from, from + 50))
            await outbox.send(tx, to, { body }, { schema, notify: false });
          await tx.query("COMMIT");
        } finally {
          tx.release();
        }
      }
      await eventually(() => got.length >= bodies.length, 30_000, "every outbox message");
      await eventually(async () => (await relay.backlog()).rows === 0, 10_000, "an empty outbox");
      expect(got).toEqual(bodies);
      expect(relay.stats()).toMatchObject({ sent: 200, deleted: 200, failed: 0 });
    } finally {
      await relay.shutdown();
      await app.end();
      await sub.shutdown();
      await processing.catch(() => {});
      await memTopic.shutdown();
    }
  });
});
