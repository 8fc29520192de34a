/** The idempotency-store conformance suite, for core's memory store. */
import { idempotencyStoreSuite } from "@portable-pubsub/conformance";
import { memoryIdempotencyStore } from "@portable-pubsub/core";

idempotencyStoreSuite({ name: "memory", makeStore: () => memoryIdempotencyStore() });
