/**
 * Message ids on pg://: the id is the `msg_id` column of `messages`; a row
 * without one (written by another program, or before migration 3) is
 * received with its row id. Migration 3 adds the column to tables that
 * already hold messages, and the outbox relays a row written before it with
 * the UUID it was given.
 */
import { openSubscription, openTopic } from "@portable-pubsub/core";
import { forSchema, MIGRATIONS, migrate, migrationText, outbox } from "@portable-pubsub/driver-postgres";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PG_URL, requirePg, skipPg, unique } from "./helpers.js";

describe.skipIf(skipPg)("pg message ids", () => {
  const admin = new pg.Pool({ connectionString: PG_URL, max: 2 });
  admin.on("error", () => {});
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(requirePg);
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });
  afterAll(() => admin.end());

  /** A schema with migrations 1 and 2 only: the tables as a release before message ids made them. */
  async function schemaBeforeIds(): Promise<string> {
    const schema = unique("ids");
    cleanups.push(() => admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
    for (const file of MIGRATIONS.slice(0, 2)) await admin.query(forSchema(await migrationText(file), schema));
    return schema;
  }

  it("fails a send to tables without migration 3 with FailedPrecondition, saying to run the migrations", async () => {
    const schema = await schemaBeforeIds();
    await admin.query(`INSERT INTO ${schema}.topics (name) VALUES ('t')`);
    await admin.query(`INSERT INTO ${schema}.subscriptions (topic, name) VALUES ('t', 's')`);
    const topic = await openTopic(`pg://t?schema=${schema}`, { serverUrl: PG_URL, retry: { maxAttempts: 1 } });
    cleanups.push(() => topic.shutdown());
    await expect(topic.send({ body: "x" })).rejects.toMatchObject({
      code: "FailedPrecondition",
      message: expect.stringMatching(/msg_id.*older version of the package; run its migrations \(pubsub pg migrate/s),
    });
  });

  it("migrates tables that hold messages and outbox rows, and receives each with the right id", async () => {
    const schema = await schemaBeforeIds();
    // What the driver wrote before ids: a topic, a subscription, a message and its delivery row; an outbox row.
    await admin.query(`INSERT INTO ${schema}.topics (name) VALUES ('t')`);
    await admin.query(`INSERT INTO ${schema}.subscriptions (topic, name) VALUES ('t', 's')`);
    const { rows } = await admin.query(
      `INSERT INTO ${schema}.messages (topic, body, metadata) VALUES ('t', 'old', '{"k":"v"}') RETURNING id::text AS id`,
    );
    const oldRowId = rows[0]?.id as string;
    await admin.query(
      `INSERT INTO ${schema}.deliveries (subscription_id, message_id) SELECT id, $1 FROM ${schema}.subscriptions`,
      [oldRowId],
    );
    const mem = `mem://${unique("outbox")}`;
    const { rows: outboxRows } = await admin.query(
      `INSERT INTO ${schema}.outbox (url, body) VALUES ($1, 'from the outbox') RETURNING message_id::text AS id`,
      [mem],
    );
    const outboxId = outboxRows[0]?.id as string;

    await migrate(admin, schema);
    await migrate(admin, schema); // again: nothing to do
    const { rows: versions } = await admin.query(`SELECT version FROM ${schema}.migrations ORDER BY version`);
    expect(versions).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }]);
    const { rows: types } = await admin.query(
      `SELECT table_name, column_name, data_type FROM information_schema.columns
       WHERE table_schema = $1 AND column_name IN ('msg_id', 'message_id') AND table_name IN ('messages', 'outbox')
       ORDER BY table_name`,
      [schema],
    );
    expect(types).toEqual([
      { table_name: "messages", column_name: "msg_id", data_type: "text" },
      { table_name: "outbox", column_name: "message_id", data_type: "text" },
    ]);

    const url = `pg://t?schema=${schema}&subscription=s`;
    const subscription = await openSubscription(url, { serverUrl: PG_URL });
    cleanups.push(() => subscription.shutdown());
    const topic = await openTopic(`pg://t?schema=${schema}`, { serverUrl: PG_URL });
    cleanups.push(() => topic.shutdown());
    await topic.send({ id: "order-17 ✓", body: "new" });
    const receive = () => subscription.receive({ signal: AbortSignal.timeout(10_000) });
    const old = await receive();
    const fresh = await receive();
    expect([old.text(), old.id, old.metadata, fresh.text(), fresh.id]).toEqual([
      "old",
      oldRowId,
      { k: "v" },
      "new",
      "order-17 ✓",
    ]);
    old.nack({ delayMs: 0 });
    fresh.nack({ delayMs: 0 });
    const again = [await receive(), await receive()];
    for (const m of again) m.ack();
    expect(again.map((m) => [m.text(), m.id, m.deliveryAttempt]).sort()).toEqual([
      ["new", "order-17 ✓", 2],
      ["old", oldRowId, 2],
    ]);
    const { rows: stored } = await admin.query(`SELECT msg_id FROM ${schema}.messages ORDER BY id`);
    expect(stored).toEqual([{ msg_id: null }, { msg_id: "order-17 ✓" }]);

    // The outbox row written before the migration goes out with its UUID as the message's id.
    await openTopic(mem).then((t) => t.shutdown()); // creates the mem topic
    const target = await openSubscription(`${mem}?subscription=s`);
    cleanups.push(() => target.shutdown());
    const relay = await outbox.startRelay({ serverUrl: PG_URL, schema });
    cleanups.push(() => relay.shutdown());
    const relayed = await target.receive({ signal: AbortSignal.timeout(10_000) });
    relayed.ack();
    expect([relayed.text(), relayed.id, relayed.metadata[outbox.OUTBOX_ID_KEY]]).toEqual([
      "from the outbox",
      outboxId,
      outboxId,
    ]);
  });
});
