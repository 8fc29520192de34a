/**
 * The transactional outbox's write side: `outbox.send(tx, url, message)`
 * stores one row in the caller's own transaction, so that the message exists
 * if and only if that transaction commits. The relay (relay.ts) sends it.
 */
import {
  checkOutgoingMessage,
  invalidArgument,
  type OutgoingMessage,
  toPubSubError,
} from "@portable-pubsub/core/driver";
import { checkStorable } from "../codec.js";
import type { Queryable } from "../connection.js";
import { checkSchemaName, DEFAULT_SCHEMA } from "../declare.js";
import { pgErrors } from "../errors.js";

/**
 * The metadata key that carries an outbox message's id on every send of it,
 * resends after a relay crash included. The relay overwrites a value the
 * application set.
 * @deprecated The id is the message's own id now (`msg.id` on receive,
 * carried in each broker's native field); this key repeats it, for consumers
 * written before.
 */
export const OUTBOX_ID_KEY = "outbox-id";

/** The NOTIFY channel that wakes the relays of `schema`, cut to PostgreSQL's 63-byte identifier limit. */
export function outboxChannel(schema: string): string {
  return `portable_pubsub_outbox.${schema}`.slice(0, 63);
}

/** Options of {@link send}. */
export interface OutboxSendOptions {
  /** The schema of the driver's tables, as the relay's. Default "pubsub". */
  schema?: string;
  /** NOTIFY the relays at commit, so that they send at once. Default true; false: they find it when they poll. */
  notify?: boolean;
}

/** What {@link send} stored. */
export interface OutboxSent {
  /**
   * The message's id: the one given (`message.id`) or the one generated, which
   * every send of it carries, and which a consumer receives as `msg.id`.
   */
  readonly id: string;
}

const insertSql = new Map<string, string>();

function insertStatement(schema: string): string {
  let sql = insertSql.get(schema);
  if (sql === undefined) {
    sql = `WITH i AS (INSERT INTO ${schema}.outbox (message_id, url, body, metadata) VALUES ($1, $2, $3, $4) RETURNING 1)
SELECT CASE WHEN $5::text IS NOT NULL THEN pg_notify($5, '') END AS notified FROM i`;
    insertSql.set(schema, sql);
  }
  return sql;
}

/** A URL the relay can open: it parses and names a scheme. Checked at `send`, where the mistake is made. */
function checkUrl(url: unknown): string {
  if (typeof url !== "string") throw invalidArgument(`outbox.send: url must be a string such as "rabbit://orders"`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidArgument(
      `outbox.send: "${url.replace(/\/\/[^@/]*@/, "//***@")}" is not a URL; give the topic URL the message goes to, such as "rabbit://orders"`,
    );
  }
  if (parsed.password !== "") {
    throw invalidArgument(
      "outbox.send: the URL holds a password, which the outbox table would store; give credentials to the relay (its topicOptions or the driver's environment variables) instead",
    );
  }
  return url;
}

/**
 * Writes `message` for `url` (a topic URL of any scheme) into the outbox
 * table through `tx`, the application's own pg transaction (a client on
 * which it ran BEGIN, or an ORM's transaction exposing `query`). Nothing is
 * sent now: a relay sends it once `tx` commits, and never if it rolls back.
 * The message is checked as `Topic.send` checks it (InvalidArgument), and
 * so is the URL, which must not hold a password (the row would keep it).
 * Returns only after the row is written, with the message's id. Fails with a
 * PubSubError: NotFound when the outbox table is missing (run `pubsub pg
 * migrate` or start a relay with `declare: true`). A failed statement aborts
 * the caller's transaction, as any failed statement does in PostgreSQL.
 */
export async function send(
  tx: Queryable,
  url: string,
  message: OutgoingMessage,
  options: OutboxSendOptions = {},
): Promise<OutboxSent> {
  const schema = checkSchemaName(options.schema ?? DEFAULT_SCHEMA);
  const target = checkUrl(url);
  const outgoing = checkOutgoingMessage(message);
  const resource = `pg outbox of schema ${schema}`;
  checkStorable(outgoing, resource);
  if (typeof tx?.query !== "function") {
    throw invalidArgument(
      "outbox.send: tx must be the transaction's pg client (or anything with query(text, values)) on which the application ran BEGIN",
    );
  }
  const id = outgoing.id as string;
  const body = Buffer.from(outgoing.body.buffer, outgoing.body.byteOffset, outgoing.body.byteLength);
  try {
    await tx.query(insertStatement(schema), [
      id,
      target,
      body,
      JSON.stringify(outgoing.metadata),
      options.notify === false ? null : outboxChannel(schema),
    ]);
  } catch (err) {
    throw toPubSubError({ resource, errors: pgErrors, close: async () => {} }, err, "outbox.send to");
  }
  return { id };
}
