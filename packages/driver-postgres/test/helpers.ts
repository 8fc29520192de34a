import { randomUUID } from "node:crypto";
import { reachable, skipUnlessReachable } from "@portable-pubsub/conformance";
import { migrate, outbox } from "@portable-pubsub/driver-postgres";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";

/** The database the tests use: PG_TEST_URL, or the local one (trust auth, database test). */
export const PG_URL = process.env.PG_TEST_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const parsed = new URL(PG_URL);
export const PG_ADDRESS = { host: parsed.hostname, port: Number(parsed.port || 5432) };

/** Skip the PostgreSQL-backed tests only when it is unreachable and CI is not set; under CI=true they fail instead. */
export const skipPg = await skipUnlessReachable(PG_ADDRESS);

/** For a `beforeAll` of every PostgreSQL-backed suite: under CI=true an unreachable server fails at once. */
export async function requirePg(): Promise<void> {
  if (!(await reachable(PG_ADDRESS))) {
    throw new Error(
      `PostgreSQL is not reachable at ${PG_ADDRESS.host}:${PG_ADDRESS.port}; start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) with a database test (CI=true: these tests must not skip)`,
    );
  }
}

/** A name unique to this run: a topic, a subscription, or (lower-case, no "-") a schema. */
export function unique(prefix: string): string {
  return `pps_${prefix.replace(/[^a-z0-9_]/gi, "_").toLowerCase()}_${randomUUID().slice(0, 8)}`;
}

/** The same server URL with another host and port (the fault proxy's). */
export function urlVia(address: { host: string; port: number }): string {
  const url = new URL(PG_URL);
  url.hostname = address.host;
  url.port = String(address.port);
  return url.toString();
}

/**
 * A schema of the driver's tables made for one test file, on a pool of its
 * own; `drop` removes the schema with everything in it. Tests never touch
 * anything else of the shared database.
 */
export async function testSchema(prefix: string): Promise<{ schema: string; admin: pg.Pool; drop(): Promise<void> }> {
  const admin = new pg.Pool({ connectionString: PG_URL, max: 4 });
  admin.on("error", () => {});
  const schema = unique(prefix);
  await migrate(admin, schema);
  return {
    schema,
    admin,
    async drop() {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      await admin.end();
    },
  };
}

/**
 * For a describe block against PostgreSQL: before all, checks the server and
 * makes a schema of the driver's tables; after all, drops it. Returns the
 * schema's name and admin pool (available once the block's tests run).
 */
export function schemaFixture(prefix: string): () => Awaited<ReturnType<typeof testSchema>> {
  let fixture: Awaited<ReturnType<typeof testSchema>> | undefined;
  beforeAll(async () => {
    await requirePg();
    fixture = await testSchema(prefix);
  });
  afterAll(async () => fixture?.drop());
  return () => {
    if (!fixture) throw new Error("the schema fixture is not ready: call it inside a test");
    return fixture;
  };
}

/** Resolves once `predicate` holds, polling; rejects after `ms`. */
export async function eventually(predicate: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Commits one transaction that writes `bodies` to the outbox for `url`; returns their outbox ids. */
export async function commitOutbox(db: pg.Pool, schema: string, url: string, bodies: string[]): Promise<string[]> {
  const tx = await db.connect();
  try {
    await tx.query("BEGIN");
    const ids: string[] = [];
    for (const body of bodies) ids.push((await outbox.send(tx, url, { body }, { schema })).id);
    await tx.query("COMMIT");
    return ids;
  } finally {
    tx.release();
  }
}
