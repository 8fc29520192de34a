/**
 * The idempotency-store conformance suite for pgIdempotencyStore: the
 * store's contract, and the failure semantics end to end (a handler failing
 * on attempt 1 runs on attempt 2; two consumers of one id run it once; a
 * dead process's claim expires and the message runs), through mem:// and
 * through pg:// subscriptions. inbox.test.ts runs them through ctx.tx on
 * RabbitMQ.
 */
import { randomUUID } from "node:crypto";
import { idempotencyStoreSuite } from "@portable-pubsub/conformance";
import { openSubscription, openTopic } from "@portable-pubsub/core";
import { pgIdempotencyStore } from "@portable-pubsub/driver-postgres";
import { describe } from "vitest";
import { PG_URL, schemaFixture, skipPg } from "./helpers.js";

describe.skipIf(skipPg)("pgIdempotencyStore conformance", () => {
  const fixture = schemaFixture("idem_conformance");
  const makeStore = () => pgIdempotencyStore({ serverUrl: PG_URL, schema: fixture().schema });

  idempotencyStoreSuite({ name: "postgresql, through mem://", makeStore });

  idempotencyStoreSuite({
    name: "postgresql, through pg://",
    makeStore,
    open: {
      topic: (name) => openTopic(`pg://${name}?schema=${fixture().schema}&declare=true`, { serverUrl: PG_URL }),
      // A subscription of its own each time: every one gets a copy of every message, as the suite needs.
      subscription: (topicName, options) =>
        openSubscription(
          `pg://${topicName}?subscription=s_${randomUUID().slice(0, 8)}&schema=${fixture().schema}&declare=true`,
          { ...options, serverUrl: PG_URL },
        ),
    },
  });
});
