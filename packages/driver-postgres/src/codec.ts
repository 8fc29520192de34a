/**
 * The message rows: how a batch is written (one statement, usable inside a
 * caller's transaction, which the outbox will do) and how rows become
 * DriverMessages. A message is one row of `messages` (its payload, stored
 * once) and one row of `deliveries` per subscription of its topic, written
 * by the same statement, so that they commit together.
 */
import { type DriverMessage, invalidArgument } from "@portable-pubsub/core/driver";
import type { Queryable } from "./connection.js";
import { missingTopic } from "./declare.js";

/**
 * The NOTIFY channel of a schema: its topics' names are the payloads. Cut to
 * PostgreSQL's 63-byte identifier limit (pg_notify rejects a longer name):
 * two long schema names that share a channel only wake each other's
 * receivers for nothing.
 */
export function notifyChannel(schema: string): string {
  return `portable_pubsub.${schema}`.slice(0, 63);
}

/** What `insertMessages` found: whether the topic exists, and how many subscriptions got the messages. */
export interface Inserted {
  subscriptions: number;
}

const sendSql = new Map<string, string>();

/**
 * The statement that stores a batch: the payloads (with each message's id,
 * in `msg_id`) once, in the order given,
 * a delivery row per message and subscription, and a NOTIFY of the topic
 * (sent by PostgreSQL at commit) unless `$4` is null. A topic without
 * subscription stores nothing: no one could ever read it.
 */
function sendStatement(schema: string): string {
  let sql = sendSql.get(schema);
  if (sql === undefined) {
    sql = `WITH t AS (SELECT name FROM ${schema}.topics WHERE name = $1),
subs AS (SELECT s.id FROM ${schema}.subscriptions s JOIN t ON s.topic = t.name),
m AS (
  INSERT INTO ${schema}.messages (topic, body, metadata, msg_id)
  SELECT $1, u.body, u.metadata, u.msg_id
  FROM unnest($2::bytea[], $3::jsonb[], $5::text[]) WITH ORDINALITY AS u(body, metadata, msg_id, n)
  WHERE EXISTS (SELECT 1 FROM subs) ORDER BY u.n
  RETURNING id),
d AS (INSERT INTO ${schema}.deliveries (subscription_id, message_id) SELECT subs.id, m.id FROM subs CROSS JOIN m)
SELECT EXISTS (SELECT 1 FROM t) AS topic_found, (SELECT count(*) FROM subs)::int AS subscriptions,
  CASE WHEN $4::text IS NOT NULL AND EXISTS (SELECT 1 FROM subs) THEN pg_notify($4, $1) END AS notified`;
    sendSql.set(schema, sql);
  }
  return sql;
}

/**
 * Stores `messages` on `topic` with one statement through `db`: a pool
 * (autocommit) or a client inside the caller's transaction, whose commit
 * then makes them visible, all at once. `notify` sends a NOTIFY on the
 * schema's channel at commit. NotFound when the topic does not exist.
 */
export async function insertMessages(
  db: Queryable,
  schema: string,
  topic: string,
  messages: readonly DriverMessage[],
  notify: boolean,
): Promise<Inserted> {
  const bodies = messages.map((m) => Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength));
  const metadata = messages.map((m) => JSON.stringify(m.metadata));
  const { rows } = await db.query(sendStatement(schema), [
    topic,
    bodies,
    metadata,
    notify ? notifyChannel(schema) : null,
    messages.map((m) => m.id ?? null),
  ]);
  if (rows[0]?.topic_found !== true) throw missingTopic(schema, topic);
  return { subscriptions: Number(rows[0]?.subscriptions ?? 0) };
}

/** PostgreSQL text and jsonb cannot hold U+0000: such metadata fails alone, before batching. */
export function checkStorable(message: DriverMessage, resource: string): void {
  for (const key in message.metadata) {
    if (key.includes("\u0000") || (message.metadata[key] as string).includes("\u0000")) {
      throw invalidArgument(
        `send to ${resource}: metadata key or value "${JSON.stringify(key).slice(1, -1)}" holds the character U+0000, which PostgreSQL cannot store; remove it or encode the value`,
      );
    }
  }
}

/** What a claimed delivery row carries. */
export interface DeliveryRow {
  /** The row id of the message in `messages` (`deliveries.message_id`): the ackId's key. */
  message_id: string;
  /** The message's id (`messages.msg_id`); null for a row written without one. */
  msg_id: string | null;
  attempts: number;
  body: Buffer;
  metadata: Record<string, string>;
}

/** What `sendAcks`, `sendNacks`, `redeliver` and `extendLeases` get back: the row's key and which delivery it was. */
export interface PgAckId {
  readonly messageId: string;
  /** The delivery's attempt number: a lease is extended or released only by the delivery that holds it. */
  readonly attempt: number;
}

/**
 * A claimed row as the portable layer sees it. Its id is the message's
 * `msg_id`; a row without one (inserted by another program, or sent before
 * the column existed) has its row id in `messages`.
 */
export function toDriverMessage(row: DeliveryRow): DriverMessage {
  const ackId: PgAckId = { messageId: row.message_id, attempt: row.attempts };
  return {
    id: row.msg_id ?? row.message_id,
    body: new Uint8Array(row.body.buffer, row.body.byteOffset, row.body.byteLength),
    metadata: row.metadata,
    ackId,
    loggableId: row.message_id,
    native: row,
    deliveryAttempt: row.attempts,
  };
}
