/**
 * pgIdempotencyStore on the real server, in what is its own: the table made
 * on first use (by several stores at once), pruning, the inbox transaction
 * (`runInTransaction`: the handler's writes and the done-mark commit
 * together, a concurrent run of one id commits once), and its errors. The
 * store contract every store meets is idempotency-conformance.test.ts.
 */
import { ErrorCode, errorCode, PubSubError } from "@portable-pubsub/core";
import { outbox, pgIdempotencyStore } from "@portable-pubsub/driver-postgres";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { eventually, PG_URL, schemaFixture, skipPg, unique } from "./helpers.js";

const LONG = { leaseMs: 60_000, windowMs: 60_000 };

describe.skipIf(skipPg)("pgIdempotencyStore", () => {
  const fixture = schemaFixture("idem_store");
  const stores: { close(): Promise<void> }[] = [];
  const store = (options: Parameters<typeof pgIdempotencyStore>[0] = {}) => {
    const made = pgIdempotencyStore({ serverUrl: PG_URL, schema: fixture().schema, ...options });
    stores.push(made);
    return made;
  };
  afterAll(async () => {
    for (const made of stores) await made.close();
  });

  it("creates its table on first use, once, with eight stores claiming at once; each id is claimed by one", async () => {
    const table = unique("made");
    const eight = Array.from({ length: 8 }, () => store({ table }));
    const outcomes = await Promise.all(eight.map((s, i) => s.claim(["a", "b"], { owner: `o${i}`, ...LONG })));
    expect(outcomes.flat().filter((o) => o === "claimed")).toHaveLength(2);
    expect(outcomes.flat().filter((o) => o === "running")).toHaveLength(14);
    const { admin, schema } = fixture();
    const tables = await admin.query(
      "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1 AND tablename = $2",
      [schema, table],
    );
    expect(tables.rows).toEqual([{ n: 1 }]);
    const { rows } = await admin.query(`SELECT id, state FROM ${schema}.${table} ORDER BY id`);
    expect(rows).toEqual([
      { id: "a", state: "running" },
      { id: "b", state: "running" },
    ]);
  });

  it("with declare: false, a missing table is NotFound saying how to create it", async () => {
    const missing = store({ table: unique("missing"), declare: false });
    const err = await missing.claim(["a"], { owner: "o", ...LONG }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PubSubError);
    expect(errorCode(err)).toBe(ErrorCode.NotFound);
    expect((err as Error).message).toMatch(/idempotency table pps_idem_store_\w+\.pps_missing_\w+ does not exist/);
    expect((err as Error).message).toContain("idempotencyTableSql");
  });

  it("claims, completes and releases ids in the rows the table shows", async () => {
    const table = unique("rows");
    const s = store({ table });
    expect(await s.claim(["x", "y", "z"], { owner: "a", ...LONG })).toEqual(["claimed", "claimed", "claimed"]);
    await s.complete(["x"], { owner: "a", windowMs: 60_000 });
    await s.release(["y"], { owner: "a" });
    const { rows } = await fixture().admin.query(
      `SELECT id, state, owner, expires_at > now() + interval '50 seconds' AS long FROM ${fixture().schema}.${table} ORDER BY id`,
    );
    expect(rows).toEqual([
      { id: "x", state: "done", owner: "a", long: true },
      { id: "z", state: "running", owner: "a", long: true },
    ]);
  });

  it("keeps ids with the characters an array literal escapes, each as it was sent", async () => {
    const table = unique("odd");
    const s = store({ table });
    const ids = ["NULL", "a,b", "{x}", 'say "hi"', "back\\slash", "it's", "ümlaut €", "😀", " ", "Order-1", "order-1"];
    expect(await s.claim(ids, { owner: "a", ...LONG })).toEqual(ids.map(() => "claimed"));
    await s.complete(ids, { owner: "a", windowMs: 60_000 });
    expect(await s.claim(ids, { owner: "b", ...LONG })).toEqual(ids.map(() => "done"));
    const { rows } = await fixture().admin.query(`SELECT id FROM ${fixture().schema}.${table}`);
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
  });

  it("prunes rows whose lease or window ended, and no others: on demand, and by itself on a claim", async () => {
    const table = unique("prune");
    const s = store({ table, pruneIntervalMs: 3_600_000 });
    const short = { owner: "a", leaseMs: 50, windowMs: 50 };
    await s.claim(["lease-ends"], short);
    await s.claim(["window-ends"], short);
    await s.complete(["window-ends"], short);
    await s.claim(["held"], { owner: "a", ...LONG });
    await s.claim(["kept"], { owner: "a", ...LONG });
    await s.complete(["kept"], { owner: "a", windowMs: 60_000 });
    const ids = async () =>
      (await fixture().admin.query(`SELECT id FROM ${fixture().schema}.${table} ORDER BY id`)).rows.map((r) => r.id);
    expect(await ids()).toEqual(["held", "kept", "lease-ends", "window-ends"]);
    await new Promise((r) => setTimeout(r, 200));
    expect(await s.prune()).toBe(2);
    expect(await ids()).toEqual(["held", "kept"]);

    await s.claim(["again"], short);
    await new Promise((r) => setTimeout(r, 200));
    const eager = store({ table, pruneIntervalMs: 1 });
    await eager.claim(["other"], { owner: "a", ...LONG }); // starts a pruning in the background
    await eager.close(); // waits for it
    expect(await ids()).toEqual(["held", "kept", "other"]);
  });

  it("runs a handler's writes and the done-mark in one transaction: committed together, or rolled back with its error", async () => {
    const { admin, schema } = fixture();
    const table = unique("inbox");
    const effects = `${schema}.${unique("effects")}`;
    await admin.query(`CREATE TABLE ${effects} (id text, attempt int)`);
    // The application's pool: the store borrows connections from it and gives each back idle.
    const applicationName = unique("app");
    const pool = new pg.Pool({ connectionString: PG_URL, max: 3, application_name: applicationName });
    pool.on("error", () => {});
    const s = pgIdempotencyStore({ pool, schema, table });
    const done = { owner: "a", windowMs: 60_000 };
    expect(await s.claim(["m1"], { owner: "a", ...LONG })).toEqual(["claimed"]);
    const failure = new Error("the handler failed");
    const thrown = await s
      .runInTransaction("m1", done, async (tx) => {
        await tx.query(`INSERT INTO ${effects} VALUES ('m1', 1)`);
        throw failure;
      })
      .catch((e: unknown) => e);
    expect(thrown).toBe(failure);
    expect((await admin.query(`SELECT * FROM ${effects}`)).rows).toEqual([]);
    expect((await admin.query(`SELECT state FROM ${schema}.${table}`)).rows).toEqual([{ state: "running" }]);

    expect(
      await s.runInTransaction("m1", done, async (tx) => {
        await tx.query(`INSERT INTO ${effects} VALUES ('m1', 2)`);
      }),
    ).toBe("completed");
    expect((await admin.query(`SELECT * FROM ${effects}`)).rows).toEqual([{ id: "m1", attempt: 2 }]);
    expect(await s.claim(["m1"], { owner: "b", ...LONG })).toEqual(["done"]);

    // A later run of a done id is rolled back: its write is not there.
    expect(
      await s.runInTransaction("m1", done, async (tx) => {
        await tx.query(`INSERT INTO ${effects} VALUES ('m1', 3)`);
      }),
    ).toBe("duplicate");
    expect((await admin.query(`SELECT * FROM ${effects}`)).rows).toEqual([{ id: "m1", attempt: 2 }]);
    // Every connection went back to the pool idle, none left in a transaction; closing the store leaves the pool open.
    await s.close();
    expect(pool.idleCount).toBe(pool.totalCount);
    const { rows } = await pool.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state <> 'idle' AND pid <> pg_backend_pid()",
      [applicationName],
    );
    expect(rows).toEqual([{ n: 0 }]);
    await pool.end();
  });

  it("two runs of one id at once (a lease taken over) commit once", async () => {
    const { admin, schema } = fixture();
    const effects = `${schema}.${unique("effects")}`;
    await admin.query(`CREATE TABLE ${effects} (run text)`);
    const table = unique("race");
    const s = store({ table });
    const windowMs = 60_000;
    expect(await s.claim(["m", "n"], { owner: "a", leaseMs: 50, windowMs })).toEqual(["claimed", "claimed"]);
    await new Promise((r) => setTimeout(r, 200));
    expect(await s.claim(["m", "n"], { owner: "b", ...LONG })).toEqual(["claimed", "claimed"]);

    // b marks m done while a is still in its handler: a then finds it done and rolls back.
    let finishA: () => void = () => {};
    const aMayFinish = new Promise<void>((resolve) => {
      finishA = resolve;
    });
    let aInserted: () => void = () => {};
    const aHasInserted = new Promise<void>((resolve) => {
      aInserted = resolve;
    });
    const a = s.runInTransaction("m", { owner: "a", windowMs }, async (tx) => {
      await tx.query(`INSERT INTO ${effects} VALUES ('a')`);
      aInserted();
      await aMayFinish;
    });
    await aHasInserted;
    const b = await s.runInTransaction("m", { owner: "b", windowMs }, async (tx) => {
      await tx.query(`INSERT INTO ${effects} VALUES ('b')`);
    });
    finishA();
    expect([b, await a]).toEqual(["completed", "duplicate"]);
    expect((await admin.query(`SELECT run FROM ${effects}`)).rows).toEqual([{ run: "b" }]);

    // n's done-mark is written, not yet committed, by another transaction: a's done-mark waits for its
    // commit, then re-reads the row (READ COMMITTED), finds it done and rolls back.
    const other = await admin.connect();
    try {
      await other.query("BEGIN");
      await other.query(
        `UPDATE ${schema}.${table} SET state = 'done', expires_at = now() + interval '1 hour' WHERE id = 'n'`,
      );
      const waiting = s.runInTransaction("n", { owner: "a", windowMs }, async (tx) => {
        await tx.query(`INSERT INTO ${effects} VALUES ('a-n')`);
      });
      const blocked = async () =>
        (
          await admin.query(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
            [`%${table}%`],
          )
        ).rows[0]?.n === 1;
      await eventually(blocked, 10_000, "a's done-mark waiting for the row lock");
      await other.query("COMMIT");
      expect(await waiting).toBe("duplicate");
    } finally {
      other.release();
    }
    expect((await admin.query(`SELECT run FROM ${effects} ORDER BY run`)).rows).toEqual([{ run: "b" }]);
  });

  it("an outbox.send in the handler's transaction is sent only when the done-mark commits", async () => {
    const { admin, schema } = fixture();
    const s = store({ table: unique("outbox") });
    const url = "mem://pps-test-inbox-outbox";
    const done = { owner: "a", windowMs: 60_000 };
    await s
      .runInTransaction("m1", done, async (tx) => {
        await outbox.send(tx, url, { body: "rolled back" }, { schema, notify: false });
        throw new Error("handler failed after its send");
      })
      .catch(() => {});
    expect(
      await s.runInTransaction("m1", done, async (tx) => {
        await outbox.send(tx, url, { body: "committed" }, { schema, notify: false });
      }),
    ).toBe("completed");
    expect(
      await s.runInTransaction("m1", done, async (tx) => {
        await outbox.send(tx, url, { body: "duplicate" }, { schema, notify: false });
      }),
    ).toBe("duplicate");
    const { rows } = await admin.query(`SELECT convert_from(body, 'UTF8') AS body FROM ${schema}.outbox`);
    expect(rows).toEqual([{ body: "committed" }]);
  });

  it("fails with PubSubErrors that never hold the password; after close, FailedPrecondition", async () => {
    const unreachable = pgIdempotencyStore({ serverUrl: "postgres://app:s3cr3t-pw@127.0.0.1:1/test" });
    const err = await unreachable.claim(["a"], { owner: "o", ...LONG }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PubSubError);
    expect((err as Error).message).toContain("127.0.0.1:1/test");
    expect((err as Error).message).not.toContain("s3cr3t-pw");
    const inTx = await unreachable.runInTransaction("a", { owner: "o", windowMs: 1 }, async () => {}).catch((e) => e);
    expect(inTx).toBeInstanceOf(PubSubError);
    expect((inTx as Error).message).not.toContain("s3cr3t-pw");
    await unreachable.close();
    const closed = await unreachable.complete(["a"], { owner: "o", windowMs: 1 }).catch((e: unknown) => e);
    expect(errorCode(closed)).toBe(ErrorCode.FailedPrecondition);
  });

  it("a handler that waits for a connection its pool never frees in time is told to raise poolSize (ResourceExhausted)", async () => {
    const s = store({ table: unique("busy"), poolSize: 1 });
    const done = { owner: "a", windowMs: 60_000 };
    let free: () => void = () => {};
    const holding = new Promise<void>((resolve) => {
      free = resolve;
    });
    let started: () => void = () => {};
    const holds = new Promise<void>((resolve) => {
      started = resolve;
    });
    const first = s.runInTransaction("m1", done, async () => {
      started();
      await holding;
    });
    await holds;
    const second = await s.runInTransaction("m2", done, async () => {}).catch((e: unknown) => e);
    free();
    expect(await first).toBe("completed");
    expect(errorCode(second)).toBe(ErrorCode.ResourceExhausted);
    expect((second as Error).message).toMatch(
      /^connect for a handler's transaction to pg idempotency table \w+\.pps_busy_\w+ on 127\.0\.0\.1:5432\/test: all 1 connections of the store's pool stayed busy for 5 s; give pgIdempotencyStore a poolSize above the concurrency/,
    );
  });

  it("refuses options it cannot work with, saying what to give", () => {
    const client = { query: async () => ({ rows: [] }) };
    expect(() => pgIdempotencyStore({ pool: client as never })).toThrow(/pool must be a pg.Pool/);
    expect(() => pgIdempotencyStore({ table: "Bad-Name" })).toThrow(/not a table name/);
    expect(() => pgIdempotencyStore({ schema: "1x" })).toThrow(/not a schema name/);
    expect(() => pgIdempotencyStore({ poolSize: 0 })).toThrow(/poolSize must be a whole number above 0/);
  });
});
