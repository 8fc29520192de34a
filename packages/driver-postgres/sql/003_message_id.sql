-- portable-pubsub pg:// driver, schema version 3: message ids.
-- `declare=true`, `outbox.startRelay({ declare: true })` and `pubsub pg migrate` run this file after 002_outbox.sql
-- (with "pubsub" replaced by the schema), under the same advisory lock. Every statement is idempotent, and works on
-- tables that already hold rows: each change is made only when it is missing, so that a later run takes no lock.

-- messages.msg_id: the message's id (`send({ id })` or the one core generated), received as `msg.id`. Not to be
-- confused with deliveries.message_id, which refers to messages.id. A row without one (inserted by hand, or sent
-- before this migration) is received with messages.id as its id. Added without a default: no table rewrite.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'pubsub.messages'::regclass AND attname = 'msg_id'
                 AND NOT attisdropped) THEN
    ALTER TABLE pubsub.messages ADD COLUMN msg_id text;
  END IF;
END $$;

-- outbox.message_id becomes the message's id, which an application may choose (any text, not only a UUID): the
-- relay sends each row with it, so every send of a row, resends after a relay crash included, has that id.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'pubsub.outbox'::regclass AND attname = 'message_id'
             AND atttypid = 'uuid'::regtype) THEN
    ALTER TABLE pubsub.outbox ALTER COLUMN message_id DROP DEFAULT, ALTER COLUMN message_id TYPE text;
  END IF;
END $$;

INSERT INTO pubsub.migrations (version) VALUES (3) ON CONFLICT DO NOTHING;
