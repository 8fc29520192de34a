-- portable-pubsub pg:// driver, schema version 1.
-- `declare=true` runs this file (with "pubsub" replaced by the `schema` parameter), under an advisory lock;
-- a DBA may review it and run it by hand instead. Every statement is idempotent.

CREATE SCHEMA IF NOT EXISTS pubsub;

-- Topics: a name each. Deleting one deletes its subscriptions and their delivery rows.
CREATE TABLE IF NOT EXISTS pubsub.topics (
  name       text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Subscriptions: every subscription of a topic gets every message sent after it was created.
CREATE TABLE IF NOT EXISTS pubsub.subscriptions (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic      text NOT NULL REFERENCES pubsub.topics (name) ON DELETE CASCADE,
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (topic, name)
);

-- Messages: the payload, stored once whatever the number of subscriptions. A send stores a message only
-- when its topic has a subscription; the retention sweep deletes one once no delivery row refers to it.
CREATE TABLE IF NOT EXISTS pubsub.messages (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic      text NOT NULL,
  body       bytea NOT NULL,
  metadata   jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Deliveries: one small row per message and subscription, inserted in the sending transaction, so that a
-- reader finds every committed message whatever order transactions commit in (no id watermark to skip past).
-- visible_at is the lease (visibility timeout) and the redelivery delay; attempts counts deliveries.
-- Only the two indexes below: updates of visible_at and attempts stay HOT (fillfactor leaves room for them).
CREATE TABLE IF NOT EXISTS pubsub.deliveries (
  subscription_id bigint NOT NULL REFERENCES pubsub.subscriptions (id) ON DELETE CASCADE,
  message_id      bigint NOT NULL,
  visible_at      timestamptz NOT NULL DEFAULT now(),
  attempts        integer NOT NULL DEFAULT 0,
  PRIMARY KEY (subscription_id, message_id)
) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02);

CREATE INDEX IF NOT EXISTS deliveries_message_id ON pubsub.deliveries (message_id);

ALTER TABLE pubsub.messages SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02);

-- Which versions of this schema are in place.
CREATE TABLE IF NOT EXISTS pubsub.migrations (
  version    integer PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO pubsub.migrations (version) VALUES (1) ON CONFLICT DO NOTHING;
