-- portable-pubsub pg:// driver, schema version 2: the transactional outbox.
-- `declare=true`, `outbox.startRelay({ declare: true })` and `pubsub pg migrate` run this file after 001_init.sql
-- (with "pubsub" replaced by the schema), under the same advisory lock. Every statement is idempotent.

-- Outgoing messages written by `outbox.send(tx, url, message)` in the application's own transaction, so that they
-- exist if and only if it commits. A relay claims rows in id order with FOR UPDATE SKIP LOCKED (two relays never
-- hold the same row), sends each to its URL, and deletes it in the claiming transaction once the send resolved.
-- message_id is the message's id for ever: every send of a row, including a resend after a relay crashed
-- mid-batch, carries it in the metadata key `outbox-id`, so that a consumer can drop duplicates.
-- visible_at holds back the rows of a URL whose sends failed (backoff); attempts and last_error say why.
-- No index but the primary key: the claim walks the key in order, and updates of visible_at stay HOT.
CREATE TABLE IF NOT EXISTS pubsub.outbox (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id uuid NOT NULL DEFAULT gen_random_uuid(),
  url        text NOT NULL,
  body       bytea NOT NULL,
  metadata   jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  visible_at timestamptz NOT NULL DEFAULT '-infinity',
  attempts   integer NOT NULL DEFAULT 0,
  last_error text
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02);

INSERT INTO pubsub.migrations (version) VALUES (2) ON CONFLICT DO NOTHING;
