/**
 * Issue 25, must have 6: the order service charges each order once. With
 * ORDERS_DATABASE_URL, its consumer has the PostgreSQL inbox and writes each
 * charge in the inbox's transaction (ctx.tx), where the order's done-mark is
 * written too. The service runs as a child process on RabbitMQ, is killed
 * with SIGKILL mid-run, and a second instance takes over: afterwards every
 * order has exactly one charge.
 */
import { randomUUID } from "node:crypto";
import { reachable } from "@portable-pubsub/conformance";
import { openSubscription, openTopic } from "@portable-pubsub/core";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PRICE_CENTS } from "../src/charges.js";
import { newOrder, OrderSchema, orderMessage } from "../src/index.js";
import { RABBIT, removeTopology, skipWithoutRabbit } from "./broker.js";
import { getJson, ServiceProcess } from "./service-process.js";

const PG_URL = process.env.PG_TEST_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const PG = { host: new URL(PG_URL).hostname, port: Number(new URL(PG_URL).port || 5432) };
const ORDERS = 400;

describe.skipIf(skipWithoutRabbit)("each order charged once, through the PostgreSQL inbox", () => {
  const id = randomUUID().slice(0, 8);
  const schema = `pps_charges_${id}`;
  const exchange = `order-service-charge-${id}`;
  const queue = `${exchange}-processor`;
  const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
  pool.on("error", () => {});
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    if (!(await reachable(PG))) {
      throw new Error(`PostgreSQL is not reachable at ${PG.host}:${PG.port}; start it (see packages/driver-postgres)`);
    }
    await pool.query(`CREATE SCHEMA ${schema}`);
    const declared = await openSubscription(`rabbit://${queue}?declare=true&exchange=${exchange}`, {
      serverUrl: RABBIT.serverUrl,
    });
    await declared.shutdown();
  });

  afterAll(async () => {
    for (const service of services) {
      service.kill("SIGKILL");
      await service.exited;
    }
    await removeTopology(exchange, queue);
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  });

  const count = async (sql: string) => Number((await pool.query(sql)).rows[0]?.n);
  async function waitFor(what: string, check: () => Promise<boolean>, ms = 60_000) {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const start = async () => {
    const service = await ServiceProcess.start([], {
      ORDERS_DATABASE_URL: PG_URL,
      ORDERS_SCHEMA: schema,
      OUTBOX_SCHEMA: schema,
      ORDERS_TOPIC_URL: `rabbit://${exchange}`,
      ORDERS_SUBSCRIPTION_URL: `rabbit://${queue}`,
      // Never used here (no order fails): a queue that exists, as a dead-letter target must be.
      ORDERS_DEAD_LETTER_URL: `rabbit://${queue}?toQueue=true`,
      RABBIT_SERVER_URL: RABBIT.serverUrl,
      ORDERS_CONCURRENCY: "8",
      PROCESS_DELAY: "20ms",
      // The killed instance's claims on the orders it held end this soon; their redeliveries wait until then.
      ORDERS_IDEMPOTENCY_LEASE: "2s",
      LOG_LEVEL: "info",
    });
    services.push(service);
    return service;
  };

  it("the consumer killed with SIGKILL mid-run, a second instance takes over: exactly one charge per order", {
    timeout: 120_000,
  }, async () => {
    const orders = Array.from({ length: ORDERS }, (_, i) => newOrder({ item: `item ${i}`, quantity: 1 + (i % 3) }));
    const topic = await openTopic(`rabbit://${exchange}`, { serverUrl: RABBIT.serverUrl, schema: OrderSchema });
    // Each order's id is its message id (a business key): a copy of it is the same message to the inbox.
    await Promise.all(orders.map((order) => topic.send({ id: order.id, ...orderMessage(order) })));
    await topic.shutdown();

    const charges = `${schema}.charges`;
    const first = await start();
    await waitFor(
      "a third of the orders charged",
      async () => (await count(`SELECT count(*) AS n FROM ${charges}`)) >= ORDERS / 3,
    );
    first.kill("SIGKILL");
    expect(await first.exited).toBeNull(); // killed by the signal: no exit code
    const chargedAtKill = await count(`SELECT count(*) AS n FROM ${charges}`);
    expect(chargedAtKill).toBeLessThan(ORDERS);

    const second = await start();
    await waitFor(
      "every order charged",
      async () => (await count(`SELECT count(DISTINCT order_id) AS n FROM ${charges}`)) === ORDERS,
    );
    const stats = (await getJson(`${second.url}/stats`)).body;
    second.kill("SIGTERM");
    expect(await second.exited).toBe(0);

    const { rows: twice } = await pool.query(
      `SELECT order_id, count(*)::int AS n FROM ${charges} GROUP BY order_id HAVING count(*) > 1`,
    );
    expect(twice).toEqual([]);
    const { rows } = await pool.query(`SELECT order_id::text AS id, amount_cents FROM ${charges} ORDER BY order_id`);
    expect(rows).toEqual(
      orders
        .map((order) => ({ id: order.id, amount_cents: order.quantity * PRICE_CENTS }))
        .sort((a, b) => (a.id < b.id ? -1 : 1)),
    );
    console.log(
      `charge once: ${ORDERS} orders, ${chargedAtKill} charged when the first instance was killed, the second processed ${stats.processed} and acked ${stats.duplicates} copies of charged orders without charging`,
    );
  });
});
