import { ErrorCode, openSubscription, openTopic, PubSubError } from "@portable-pubsub/core";
import { forSchema, migrationText, resolveServer } from "@portable-pubsub/driver-postgres";
import { describe, expect, it } from "vitest";
import { PG_URL, schemaFixture, skipPg, unique } from "./helpers.js";

/** The PubSubError `work` fails with. */
async function failure(work: Promise<unknown> | (() => unknown)): Promise<PubSubError> {
  try {
    await (typeof work === "function" ? work() : work);
  } catch (err) {
    expect(err).toBeInstanceOf(PubSubError);
    return err as PubSubError;
  }
  throw new Error("expected a PubSubError");
}

async function invalid(work: Promise<unknown> | (() => unknown)): Promise<string> {
  const err = await failure(work);
  expect(err.code).toBe(ErrorCode.InvalidArgument);
  return err.message;
}

describe("pg server settings", () => {
  it("takes serverUrl, else DATABASE_URL, else libpq's PG* variables, and shows no password", () => {
    const env = { DATABASE_URL: "postgres://app:hunter2@db.example:6543/orders", PGHOST: "pghost", PGPORT: "7777" };
    expect(resolveServer("postgresql://u:pw@opt:1/x", env)).toEqual({
      connectionString: "postgresql://u:pw@opt:1/x",
      host: "opt",
      port: 1,
      display: "opt:1/x",
    });
    expect(resolveServer(undefined, env)).toMatchObject({
      host: "db.example",
      port: 6543,
      display: "db.example:6543/orders",
    });
    expect(resolveServer(undefined, { PGHOST: "pghost", PGPORT: "7777", PGDATABASE: "d" })).toEqual({
      connectionString: undefined,
      host: "pghost",
      port: 7777,
      display: "pghost:7777/d",
    });
    expect(resolveServer(undefined, {})).toMatchObject({ host: "localhost", port: 5432 });
  });

  it("rejects a server URL that is not a postgres:// URL, without echoing it", async () => {
    const bad = await invalid(() => resolveServer("not a url hunter2"));
    expect(bad).toMatch(/^pg: the server URL \(the serverUrl option\) is not a URL; expected postgres:\/\//);
    expect(bad).not.toContain("hunter2");
    const scheme = await invalid(() => resolveServer("mysql://u:hunter2@h/d"));
    expect(scheme).toMatch(/must start with postgres:\/\/ or postgresql:\/\/, not mysql:\/\//);
    expect(scheme).not.toContain("hunter2");
  });

  it("ships the migration that declare=true runs, for any schema name", async () => {
    const sql = await migrationText("001_init.sql");
    expect(sql).toContain("CREATE TABLE IF NOT EXISTS pubsub.deliveries");
    const mine = forSchema(sql, "orders_bus");
    expect(mine).toContain("CREATE SCHEMA IF NOT EXISTS orders_bus;");
    expect(mine).toContain("REFERENCES orders_bus.subscriptions (id)");
    expect(mine).not.toMatch(/\bpubsub\./);
    expect(await invalid(() => forSchema(sql, "Robert'); DROP"))).toMatch(/is not a schema name/);
  });
});

describe("pg:// query parameters and options", () => {
  const serverUrl = "postgres://postgres@127.0.0.1:1/never"; // never reached: validation comes first
  it("rejects unknown, misplaced and malformed parameters with InvalidArgument", async () => {
    expect(await invalid(openTopic("pg://orders?subscription=x", { serverUrl }))).toMatch(
      /query parameter "subscription" is not supported; supported: declare, schema, notify/,
    );
    expect(await invalid(openTopic("pg://orders?bogus=1", { serverUrl }))).toMatch(/"bogus" is not supported/);
    expect(await invalid(openTopic("pg://orders?declare=maybe", { serverUrl }))).toMatch(/declare/);
    expect(await invalid(openTopic("pg://orders?schema=Bad-Name", { serverUrl }))).toMatch(/schema/);
    expect(await invalid(openSubscription("pg://orders", { serverUrl }))).toMatch(/subscription/);
    expect(await invalid(openSubscription("pg://orders?subscription=s&ackDeadline=soon", { serverUrl }))).toMatch(
      /ackDeadline.*duration/,
    );
    expect(await invalid(openSubscription("pg://orders?subscription=s&notify=sometimes", { serverUrl }))).toMatch(
      /notify/,
    );
    expect(await invalid(openSubscription("pg://orders?subscription=s&pollInterval=50ms", { serverUrl }))).toMatch(
      /pollInterval sets how often a receiver polls with notify=false; add notify=false/,
    );
    // @ts-expect-error: socketTimeout is redisstream's option, not pg's (and the run-time check refuses it too)
    expect(await invalid(openTopic("pg://orders", { serverUrl, socketTimeout: "5s" }))).toMatch(/socketTimeout/);
    // @ts-expect-error: a pool needs query(text, values)
    expect(await invalid(openTopic("pg://orders", { pool: { notAPool: true } }))).toMatch(/pool/);
    expect(await invalid(openTopic("pg://orders", { serverUrl, pool: { query: async () => ({ rows: [] }) } }))).toMatch(
      /the pool option replaces serverUrl and poolSize/,
    );
    expect(await invalid(openTopic("pg://u:hunter2@orders", { serverUrl }))).not.toContain("hunter2");
  });
});

describe.skipIf(skipPg)("pg:// open against PostgreSQL", () => {
  const fixture = schemaFixture("url");

  it("fails at open with NotFound for a missing topic or subscription, and creates them with declare=true", async () => {
    const name = unique("open");
    const base = `pg://${name}?schema=${fixture().schema}`;
    const topicMissing = await failure(openTopic(base, { serverUrl: PG_URL }));
    expect(topicMissing.code).toBe(ErrorCode.NotFound);
    expect(topicMissing.message).toContain(`topic "${name}" does not exist in schema ${fixture().schema}`);
    expect(topicMissing.message).toContain("declare=true");
    const subMissing = await failure(openSubscription(`${base}&subscription=s`, { serverUrl: PG_URL }));
    expect(subMissing.code).toBe(ErrorCode.NotFound);
    expect(subMissing.message).toContain(`subscription "s" of topic "${name}" does not exist`);

    const sub = await openSubscription(`${base}&subscription=s&declare=true`, { serverUrl: PG_URL });
    const topic = await openTopic(base, { serverUrl: PG_URL });
    const rows = await fixture().admin.query(
      `SELECT topic, name FROM ${fixture().schema}.subscriptions WHERE topic = $1`,
      [name],
    );
    expect(rows.rows).toEqual([{ topic: name, name: "s" }]);
    await topic.send({ body: "declared" });
    expect((await sub.receive({ signal: AbortSignal.timeout(5000) })).text()).toBe("declared");
    await topic.shutdown();
    await sub.shutdown();
  });

  it("says how to create the tables when the schema has none", async () => {
    const schema = unique("empty");
    const err = await failure(openTopic(`pg://t?schema=${schema}`, { serverUrl: PG_URL }));
    expect(err.code).toBe(ErrorCode.NotFound);
    expect(err.message).toMatch(/declare=true, or run the package's sql\/001_init\.sql/);
  });

  it("sends and receives in a schema whose name is as long as PostgreSQL allows (the NOTIFY channel fits)", async () => {
    const schema = `${unique("long")}_${"x".repeat(63)}`.slice(0, 63);
    try {
      const base = `pg://t?schema=${schema}&declare=true`;
      const sub = await openSubscription(`${base}&subscription=s`, { serverUrl: PG_URL });
      const topic = await openTopic(base, { serverUrl: PG_URL });
      await topic.send({ body: "long" });
      expect((await sub.receive({ signal: AbortSignal.timeout(5000) })).text()).toBe("long");
      await topic.shutdown();
      await sub.shutdown();
    } finally {
      await fixture().admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });

  it("creates the tables in a new schema with declare=true, twice at once without a conflict", async () => {
    const schema = unique("declare");
    try {
      const opened = await Promise.all(
        [1, 2, 3].map(() => openTopic(`pg://t?schema=${schema}&declare=true`, { serverUrl: PG_URL })),
      );
      const { rows } = await fixture().admin.query(`SELECT version FROM ${schema}.migrations ORDER BY version`);
      expect(rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }]);
      for (const t of opened) await t.shutdown();
    } finally {
      await fixture().admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });
});
