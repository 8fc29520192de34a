/**
 * A connection of the package's own pools that the server terminates while
 * it is checked out and runs no statement (the relay's claiming transaction
 * while its sends run; CI once saw this as an uncaught 'error' event from
 * the outbox-outage test) reports to the next statement on it, never as an
 * unhandled 'error' that would crash the application.
 */
import { quietPool } from "@portable-pubsub/driver-postgres";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PG_URL, requirePg, skipPg } from "./helpers.js";

describe.skipIf(skipPg)("quietPool", () => {
  const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
  admin.on("error", () => {});
  beforeAll(requirePg);
  afterAll(() => admin.end());

  it("keeps a checked-out connection killed between statements from emitting an unhandled error", async () => {
    const uncaught: unknown[] = [];
    const record = (err: unknown) => uncaught.push(err);
    process.on("uncaughtException", record);
    const pool = quietPool({ connectionString: PG_URL, max: 1 });
    try {
      const client = await pool.connect();
      const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      const pid = rows[0]?.pid;
      const killed = await admin.query("SELECT pg_terminate_backend($1) AS done", [pid]);
      expect(killed.rows[0]?.done).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      const next = await client.query("SELECT 1").then(
        () => "ran",
        (err: Error) => err.message,
      );
      expect(next).not.toBe("ran");
      client.release(true);
      // The pool connects anew.
      expect((await pool.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
      expect(uncaught).toEqual([]);
    } finally {
      process.off("uncaughtException", record);
      await pool.end();
    }
  });
});
