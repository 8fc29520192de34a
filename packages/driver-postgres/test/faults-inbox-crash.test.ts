/**
 * Issue 25, must have 3: exactly one effect through crashes. Two consumer
 * processes share a pg:// subscription, each with the PostgreSQL inbox and a
 * handler that inserts one row per message through ctx.tx; one of them is
 * killed with SIGKILL five times, each time while the other runs, and a
 * replacement starts. Afterwards the table holds exactly one row per message
 * sent: the rows of handlers that a kill interrupted were rolled back with
 * their transaction and written again by the redelivery's run, and the
 * copies of messages already done (their ack died with the process) are
 * acked without their handler. pg:// as the broker lets the test count what
 * is not acked yet, in flight or delayed: the subscription's delivery rows.
 */
import { openTopic } from "@portable-pubsub/core";
import { declareSubscription } from "@portable-pubsub/driver-postgres";
import { describe, expect, it } from "vitest";
import { eventually, PG_URL, schemaFixture, skipPg } from "./helpers.js";
import { type InboxConsumer, type InboxConsumerConfig, startInboxConsumer } from "./inbox-consumer.js";

const TOTAL = 2000;
const KILLS = 5;

describe.skipIf(skipPg)("the PostgreSQL inbox through consumer crashes", () => {
  const fixture = schemaFixture("inbox_crash");

  it(`consumers killed with SIGKILL ${KILLS} times while a replacement runs: exactly one row per message sent`, {
    timeout: 120_000,
  }, async () => {
    const { schema, admin } = fixture();
    const effects = `${schema}.effects`;
    await admin.query(`CREATE TABLE ${effects} (body text NOT NULL, pid integer NOT NULL)`);
    await declareSubscription(admin, schema, "orders", "charger");
    const consumers: InboxConsumer[] = [];
    try {
      const topic = await openTopic(`pg://orders?schema=${schema}`, { serverUrl: PG_URL });
      const bodies = Array.from({ length: TOTAL }, (_, i) => `order-${String(i).padStart(4, "0")}`);
      await Promise.all(bodies.map((body) => topic.send({ body })));
      await topic.shutdown();

      const config: InboxConsumerConfig = {
        // A killed consumer's deliveries come back after the 3 s visibility lease.
        url: `pg://orders?subscription=charger&schema=${schema}&ackDeadline=3s`,
        options: { serverUrl: PG_URL },
        pgUrl: PG_URL,
        schema,
        effects,
        // A killed consumer's claims hold their ids this long; their redeliveries wait for it, then run.
        leaseMs: 2000,
        concurrency: 8,
        handlerDelayMs: 10,
      };
      const start = async () => {
        const consumer = startInboxConsumer(config);
        consumers.push(consumer);
        await consumer.opened;
        return consumer;
      };
      const count = async (sql: string) => Number((await admin.query(sql)).rows[0]?.n);
      const rows = () => count(`SELECT count(*) AS n FROM ${effects}`);
      const unacked = () => count(`SELECT count(*) AS n FROM ${schema}.deliveries`);

      const live = [await start(), await start()];
      const killed: InboxConsumer[] = [];
      const rowsAtKill: number[] = [];
      for (let kill = 1; kill <= KILLS; kill++) {
        // Each kill comes once the work has moved on, and hits the consumer that has run longest.
        const threshold = Math.round((kill * TOTAL) / (KILLS + 2));
        await eventually(async () => (await rows()) >= threshold, 60_000, `${threshold} rows before kill ${kill}`);
        const victim = live.shift() as InboxConsumer;
        await victim.kill();
        expect(await victim.exited).toEqual({ code: null, signal: "SIGKILL" });
        killed.push(victim);
        rowsAtKill.push(await rows());
        live.push(await start());
      }
      await eventually(
        async () => (await count(`SELECT count(DISTINCT body) AS n FROM ${effects}`)) === TOTAL,
        90_000,
        `a row for each of the ${TOTAL} messages`,
      );
      // What is not acked yet (held by the live consumers, delayed, or left by the last kill) is all done
      // already: a last consumer acks every copy without running its handler.
      for (const consumer of live) await consumer.kill();
      const last = await start();
      await eventually(async () => (await unacked()) === 0, 60_000, "every delivery acked");
      await last.kill();
      expect(last.ran).toEqual([]);

      // Exactly one row per message sent: none missing, none twice.
      const { rows: twice } = await admin.query(
        `SELECT body, count(*)::int AS n FROM ${effects} GROUP BY body HAVING count(*) > 1`,
      );
      expect(twice).toEqual([]);
      const { rows: all } = await admin.query(`SELECT body FROM ${effects} ORDER BY body`);
      expect(all.map((r) => r.body)).toEqual(bodies);
      const { rows: marks } = await admin.query(
        `SELECT state, count(*)::int AS n FROM ${schema}.idempotency GROUP BY state`,
      );
      expect(marks).toEqual([{ state: "done", n: TOTAL }]);

      // The kills came mid-run (work was left each time) and interrupted handlers inside their transactions:
      // their rows were rolled back, and the messages ran again in another process.
      expect(killed).toHaveLength(KILLS);
      for (const at of rowsAtKill) expect(at).toBeLessThan(TOTAL);
      let interrupted = 0;
      for (const victim of killed) {
        const committed = await count(`SELECT count(*) AS n FROM ${effects} WHERE pid = ${victim.child.pid}`);
        expect(victim.ran.length).toBeGreaterThanOrEqual(committed);
        interrupted += victim.ran.length - committed;
      }
      expect(interrupted).toBeGreaterThanOrEqual(1);
      const duplicates = consumers.reduce((sum, c) => sum + c.duplicates.length, 0);
      const runs = consumers.reduce((sum, c) => sum + c.ran.length, 0);
      console.log(
        `inbox crash: ${TOTAL} messages, ${KILLS} kills, ${runs} handler runs, ${interrupted} rolled back by a kill, ${duplicates} copies of done ids acked without their handler, ${TOTAL} rows`,
      );
    } finally {
      for (const consumer of consumers) await consumer.kill();
    }
  });
});
