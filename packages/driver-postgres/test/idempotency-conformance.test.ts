/**
 * The idempotency-store conformance suite for pgIdempotencyStore: the
 * store's contract, and the failure semantics end to end (a handler failing
 * on attempt 1 runs on attempt 2; two consumers of one id run it once; a
 * dead process's claim expires and the message runs), through mem://
 * subscriptions; inbox.test.ts runs them through ctx.tx on brokers.
 */
import { idempotencyStoreSuite } from "@portable-pubsub/conformance";
import { pgIdempotencyStore } from "@portable-pubsub/driver-postgres";
import { describe } from "vitest";
import { PG_URL, schemaFixture, skipPg } from "./helpers.js";

describe.skipIf(skipPg)("pgIdempotencyStore conformance", () => {
  const fixture = schemaFixture("idem_conformance");
  const makeStore = () => pgIdempotencyStore({ serverUrl: PG_URL, schema: fixture().schema });

  idempotencyStoreSuite({ name: "postgresql, through mem://", makeStore });
});
