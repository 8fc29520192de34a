import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { reachable } from "@portable-pubsub/conformance";
import { type Message, openSubscription, type Subscription } from "@portable-pubsub/core";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { EVENT_TYPE_KEY, Logger, ORDER_CREATED, OrderSchema, OrderService, OrderStore } from "../src/index.js";
import { RABBIT, removeTopology, skipWithoutRabbit } from "./broker.js";

/** The order a message carries, as the service's typed subscription reads it. */
const readOrder = (body: Uint8Array) => OrderSchema.parse(JSON.parse(Buffer.from(body).toString("utf8")));

const PG_URL = process.env.PG_TEST_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const PG = { host: new URL(PG_URL).hostname, port: Number(new URL(PG_URL).port || 5432) };
const RABBIT_URL = RABBIT.serverUrl;
const RELAY = fileURLToPath(new URL("../dist/relay-main.js", import.meta.url));
const CWD = fileURLToPath(new URL("..", import.meta.url));

/** The relay as its own process, as an operator runs it; resolves once it runs. */
async function startRelay(schema: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [RELAY], {
    cwd: CWD,
    env: { ...process.env, DATABASE_URL: PG_URL, OUTBOX_SCHEMA: schema, RABBIT_SERVER_URL: RABBIT_URL },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr?.setEncoding("utf8").on("data", (c: string) => {
    err += c;
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.setEncoding("utf8").on("data", (c: string) => {
      out += c;
      if (out.includes('"msg":"relay running"')) resolve();
    });
    child.on("exit", (code) => reject(new Error(`the relay exited with ${code}: ${err}${out}`)));
  });
  return child;
}

describe.skipIf(skipWithoutRabbit)("orders through the PostgreSQL outbox", () => {
  const id = randomUUID().slice(0, 8);
  const schema = `pps_orders_${id}`;
  const exchange = `order-service-outbox-${id}`;
  const queue = `${exchange}-processor`;
  const pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
  pool.on("error", () => {});
  let subscription: Subscription;
  const got: Message[] = [];

  beforeAll(async () => {
    if (!(await reachable(PG))) {
      throw new Error(`PostgreSQL is not reachable at ${PG.host}:${PG.port}; start it (see packages/driver-postgres)`);
    }
    await pool.query(`CREATE SCHEMA ${schema}`);
    subscription = await openSubscription(`rabbit://${queue}?declare=true&exchange=${exchange}`, {
      serverUrl: RABBIT_URL,
    });
    subscription
      .process(async (m) => {
        got.push(m);
      })
      .catch(() => {});
  });

  afterAll(async () => {
    await subscription?.shutdown({ signal: AbortSignal.timeout(5000) }).catch(() => {});
    await removeTopology(exchange, queue, `${queue}-svc`);
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  });

  const arrived = (orderId: string) => got.filter((m) => m.metadata["order-id"] === orderId);
  async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 15_000) {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const outboxRows = async () => (await pool.query(`SELECT count(*)::int AS n FROM ${schema}.outbox`)).rows[0]?.n;

  it("the order row and order.created commit together; a message waiting while the relay is dead arrives after its restart", async () => {
    let relay = await startRelay(schema);
    try {
      const store = await OrderStore.open(pool, {
        topicUrl: `rabbit://${exchange}`,
        ordersSchema: schema,
        outboxSchema: schema,
      });

      const first = await store.place({ item: "book", quantity: 2 });
      await waitFor("the first order.created", () => arrived(first.order.id).length === 1);
      const message = arrived(first.order.id)[0] as Message;
      expect(message.metadata[EVENT_TYPE_KEY]).toBe(ORDER_CREATED);
      expect(message.metadata["outbox-id"]).toBe(first.messageId);
      // The order's id is the message's id, on every send of it: what the consumer's inbox dedups by.
      expect([message.id, first.messageId]).toEqual([first.order.id, first.order.id]);
      expect(message.metadata["content-type"]).toBe("application/json");
      expect(readOrder(message.body)).toEqual(first.order);
      expect(await store.find(first.order.id)).toEqual(first.order);

      // An order the database refuses (quantity out of the table's range): no row, and no message either.
      await expect(store.place({ item: "crate", quantity: 0 })).rejects.toThrow(/check constraint/);

      // The relay deletes a row once the broker confirmed its send, which can be after the consumer got it:
      // killed before that, it would send the first again after its restart (at least once, as documented).
      await waitFor("the relay deleting the first order's outbox row", async () => (await outboxRows()) === 0);
      // The relay dies; an order placed meanwhile is committed, its message waits in the outbox.
      relay.kill("SIGKILL");
      await once(relay, "exit");
      const second = await store.place({ item: "lamp", quantity: 1, customer: "c-42" });
      expect(await store.find(second.order.id)).toEqual(second.order);
      await new Promise((r) => setTimeout(r, 1500));
      expect(arrived(second.order.id)).toHaveLength(0);
      const { rows } = await pool.query(`SELECT message_id::text AS id FROM ${schema}.outbox`);
      expect(rows).toEqual([{ id: second.messageId }]);

      relay = await startRelay(schema);
      await waitFor("the second order.created after the relay's restart", () => arrived(second.order.id).length === 1);
      await new Promise((r) => setTimeout(r, 500));
      expect(arrived(second.order.id)).toHaveLength(1);
      expect(readOrder((arrived(second.order.id)[0] as Message).body)).toEqual(second.order);
      expect(arrived(first.order.id)).toHaveLength(1);
      expect(got).toHaveLength(2);
      expect(await outboxRows()).toBe(0);
    } finally {
      if (relay.exitCode === null && relay.signalCode === null) {
        relay.kill("SIGTERM");
        await once(relay, "exit");
      }
    }
  });
  it("POST /orders stores the order and its order.created in one transaction; the relay sends it, the service processes it", async () => {
    const relay = await startRelay(schema);
    const config = loadConfig([], {
      PORT: "0",
      ORDERS_DATABASE_URL: PG_URL,
      ORDERS_SCHEMA: schema,
      OUTBOX_SCHEMA: schema,
      ORDERS_TOPIC_URL: `rabbit://${exchange}`,
      ORDERS_SUBSCRIPTION_URL: `rabbit://${queue}-svc?declare=true&exchange=${exchange}`,
      // Never used here (no order fails): a queue that exists, as a dead-letter target must be.
      ORDERS_DEAD_LETTER_URL: `rabbit://${queue}?toQueue=true`,
      LOG_LEVEL: "warn",
    });
    if (config === "help") throw new Error("unexpected help");
    process.env.RABBIT_SERVER_URL ??= RABBIT_URL;
    const service = await OrderService.start(config, new Logger("warn"));
    try {
      expect(service.store).toBeDefined();
      const res = await fetch(`${service.url}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ item: "kettle", quantity: 3 }),
      });
      expect(res.status).toBe(201);
      const reply = (await res.json()) as { id: string };
      const { id } = reply;
      expect([reply, res.headers.get("location")]).toEqual([{ id, status: "accepted" }, `/orders/${id}`]);
      expect(await service.store?.find(id)).toMatchObject({ id, item: "kettle", quantity: 3 });
      await waitFor("order.created through the relay", () => arrived(id).length === 1);
      expect(readOrder((arrived(id)[0] as Message).body)).toMatchObject({ id, item: "kettle", quantity: 3 });
      await waitFor("the service's own processing of it", () => service.processor.stats.processed === 1);
      const bad = await fetch(`${service.url}/orders`, { method: "POST", body: JSON.stringify({ item: "x" }) });
      expect(bad.status).toBe(400);
      expect((await pool.query(`SELECT count(*)::int AS n FROM ${schema}.orders`)).rows[0]?.n).toBe(3);
    } finally {
      await service.stop("test done");
      relay.kill("SIGTERM");
      await once(relay, "exit");
    }
  });
});
