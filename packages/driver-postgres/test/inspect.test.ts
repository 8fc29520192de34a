import { inspectURL } from "@portable-pubsub/driver-postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PG_URL, requirePg, skipPg, testSchema, unique } from "./helpers.js";

describe.skipIf(skipPg)("pg doctor hook", () => {
  let fixture: Awaited<ReturnType<typeof testSchema>>;
  const saved = process.env.DATABASE_URL;
  beforeAll(async () => {
    await requirePg();
    fixture = await testSchema("inspect");
    process.env.DATABASE_URL = PG_URL;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved;
    await fixture?.drop();
  });
  const signal = () => AbortSignal.timeout(10_000);

  it("reports the server version, the tables, the topic, and a subscription's backlog and oldest age", async () => {
    const topic = unique("doctor");
    const { admin, schema } = fixture;
    await admin.query(`INSERT INTO ${schema}.topics (name) VALUES ($1)`, [topic]);
    await admin.query(`INSERT INTO ${schema}.subscriptions (topic, name) VALUES ($1, 's')`, [topic]);
    await admin.query(
      `WITH m AS (INSERT INTO ${schema}.messages (topic, body, created_at) VALUES ($1, '\\x01', now() - interval '90 seconds') RETURNING id)
       INSERT INTO ${schema}.deliveries (subscription_id, message_id) SELECT s.id, m.id FROM ${schema}.subscriptions s, m WHERE s.topic = $1`,
      [topic],
    );
    const found = await inspectURL(new URL(`pg://${topic}?subscription=s&schema=${schema}`), { signal: signal() });
    expect(found.broker).toMatch(/^PostgreSQL \d+/);
    expect(found.roles).toEqual(["topic", "subscription"]);
    expect(found.checks.map((c) => [c.subject, c.status])).toEqual([
      ["broker", "ok"],
      ["tables", "ok"],
      ["topic", "ok"],
      ["subscription", "ok"],
    ]);
    expect(found.checks[3]?.detail).toMatch(/: 1 messages pending, the oldest pending is (89|9\d) s old$/);

    const missing = await inspectURL(new URL(`pg://${topic}?subscription=nope&schema=${schema}`), { signal: signal() });
    expect(missing.checks.at(-1)).toMatchObject({ subject: "subscription", status: "fail", code: "NotFound" });
    const noTables = await inspectURL(new URL(`pg://${topic}?schema=${unique("none")}`), { signal: signal() });
    expect(noTables.checks.map((c) => [c.subject, c.status])).toEqual([
      ["broker", "ok"],
      ["tables", "fail"],
    ]);
    await expect(inspectURL(new URL(`pg://${topic}?schema=x;drop`), { signal: signal() })).rejects.toThrow(
      /is not a schema name/,
    );
  });

  it("reports a server it cannot reach as a failed check, without the password", async () => {
    process.env.DATABASE_URL = "postgres://postgres:hunter2@127.0.0.1:1/test";
    try {
      const found = await inspectURL(new URL("pg://t"), { signal: signal() });
      expect(found.checks).toHaveLength(1);
      expect(found.checks[0]).toMatchObject({ subject: "broker", status: "fail" });
      expect(JSON.stringify(found)).not.toContain("hunter2");
    } finally {
      process.env.DATABASE_URL = PG_URL;
    }
  });
});
