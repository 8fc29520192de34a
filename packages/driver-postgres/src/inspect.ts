/**
 * The `pubsub doctor` hook for pg:// (core's UrlInspector): connects with
 * DATABASE_URL (or libpq's PG* variables) and looks, without changing
 * anything, at the server (its version), the driver's tables in the URL's
 * schema, the topic, and, when the URL has `?subscription=NAME`, that
 * subscription's backlog and the age of its oldest pending message.
 */
import {
  type Check,
  ErrorCode,
  type Inspection,
  raceSignal,
  redactUrl,
  resourceName,
  type UrlInspector,
} from "@portable-pubsub/core/driver";
import pg from "pg";
import { CONNECT_TIMEOUT_MS } from "./connection.js";
import { checkSchemaName, DEFAULT_SCHEMA } from "./declare.js";
import { pgErrors } from "./errors.js";
import { resolveServer, SERVER_URL_ENV } from "./server.js";

/** The `pubsub doctor` hook: passive checks of the server, tables, topic and subscription a pg:// URL names. */
export const inspectURL: UrlInspector = async (url, { signal }): Promise<Inspection> => {
  const topic = resourceName(url, { driver: "pg", kind: "topic" });
  const subscription = url.searchParams.get("subscription") ?? undefined;
  const schema = checkSchemaName(url.searchParams.get("schema") ?? DEFAULT_SCHEMA);
  const checks: Check[] = [];
  const roles: ("topic" | "subscription")[] = [];
  let broker: string | undefined;
  let server: string | undefined;
  try {
    const settings = resolveServer(undefined);
    server = settings.display;
    const db = new pg.Client({
      connectionString: settings.connectionString,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      application_name: "portable-pubsub doctor",
    });
    db.on("error", () => {});
    try {
      await raceSignal(db.connect(), signal, "doctor: connect");
      const version = (await db.query("SHOW server_version")).rows[0]?.server_version as string | undefined;
      broker = `PostgreSQL ${version ?? "(version unknown)"}`;
      checks.push({ subject: "broker", status: "ok", detail: `connected to ${settings.display}, ${broker}` });
      const tables = await tablesCheck(db, schema);
      checks.push(tables);
      if (tables.status !== "ok") return finish();
      const topicFound = await db.query(`SELECT 1 FROM ${schema}.topics WHERE name = $1`, [topic]);
      if (topicFound.rows.length === 0) {
        checks.push({
          subject: "topic",
          status: "fail",
          code: ErrorCode.NotFound,
          detail: `no topic "${topic}" in schema ${schema}: opening it fails with NotFound`,
          fix: `open pg://${topic}?declare=true, or INSERT INTO ${schema}.topics (name) VALUES ('${topic}')`,
        });
      } else {
        roles.push("topic");
        const subs = await db.query(`SELECT count(*)::int AS n FROM ${schema}.subscriptions WHERE topic = $1`, [topic]);
        const n = subs.rows[0]?.n as number;
        checks.push({
          subject: "topic",
          status: n > 0 ? "ok" : "warn",
          detail: `topic "${topic}" exists with ${n} subscription${n === 1 ? "" : "s"}`,
          ...(n > 0
            ? {}
            : { fix: "messages sent to a topic without subscriptions are not stored; create a subscription first" }),
        });
      }
      if (subscription !== undefined) {
        const sub = await subscriptionCheck(db, schema, topic, subscription);
        if (sub.status !== "fail") roles.push("subscription");
        checks.push(sub);
      }
    } finally {
      await db.end().catch(() => {});
    }
  } catch (err) {
    checks.push({
      subject: "broker",
      status: "fail",
      code: pgErrors.errorCode(err),
      detail: redactUrl(err instanceof Error ? err.message : String(err)),
      fix: `check ${SERVER_URL_ENV} (postgres://user[:password]@host:5432/database) or PGHOST, PGUSER, PGDATABASE: that PostgreSQL runs there and the user may log in`,
    });
  }
  return finish();

  function finish(): Inspection {
    return { ...(broker ? { broker } : {}), ...(server ? { server } : {}), checks, ...(roles.length ? { roles } : {}) };
  }
};

async function tablesCheck(db: pg.Client, schema: string): Promise<Check> {
  const { rows } = await db.query("SELECT to_regclass($1) IS NOT NULL AS present", [`${schema}.migrations`]);
  if (rows[0]?.present !== true) {
    return {
      subject: "tables",
      status: "fail",
      code: ErrorCode.NotFound,
      detail: `schema ${schema} has no pg:// tables`,
      fix: "open the URL with declare=true, or run the package's sql/001_init.sql (with your schema name in place of pubsub)",
    };
  }
  const version = await db.query(`SELECT max(version) AS v FROM ${schema}.migrations`);
  return {
    subject: "tables",
    status: "ok",
    detail: `schema ${schema} has the pg:// tables, version ${version.rows[0]?.v}`,
  };
}

async function subscriptionCheck(db: pg.Client, schema: string, topic: string, name: string): Promise<Check> {
  const { rows } = await db.query(
    `SELECT s.id,
       (SELECT count(*)::int FROM ${schema}.deliveries d WHERE d.subscription_id = s.id) AS backlog,
       (SELECT extract(epoch FROM now() - min(m.created_at))::float8 FROM ${schema}.deliveries d
          JOIN ${schema}.messages m ON m.id = d.message_id WHERE d.subscription_id = s.id) AS oldest_s
     FROM ${schema}.subscriptions s WHERE s.topic = $1 AND s.name = $2`,
    [topic, name],
  );
  const row = rows[0];
  if (!row) {
    return {
      subject: "subscription",
      status: "fail",
      code: ErrorCode.NotFound,
      detail: `no subscription "${name}" of topic "${topic}" in schema ${schema}: receiving fails with NotFound`,
      fix: `open pg://${topic}?subscription=${name}&declare=true, or INSERT INTO ${schema}.subscriptions (topic, name) VALUES ('${topic}', '${name}')`,
    };
  }
  const oldest = row.oldest_s === null ? "none pending" : `the oldest pending is ${Math.round(row.oldest_s)} s old`;
  return {
    subject: "subscription",
    status: "ok",
    detail: `subscription "${name}" of topic "${topic}": ${row.backlog} messages pending, ${oldest}`,
  };
}
