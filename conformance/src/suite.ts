import { afterAll, afterEach, beforeAll, describe } from "vitest";
import { ackCases } from "./cases/acks.js";
import { concurrencyCases } from "./cases/concurrency.js";
import { errorCases } from "./cases/errors.js";
import { gracefulRestartCases } from "./cases/graceful-restarts.js";
import { messageIdCases } from "./cases/message-ids.js";
import { poisonCases } from "./cases/poison.js";
import { reconnectCases } from "./cases/reconnect.js";
import { sendReceiveCases } from "./cases/send-receive.js";
import { tracingCases } from "./cases/tracing.js";
import { typedCases } from "./cases/typed.js";
import { SuiteContext } from "./context.js";
import type { Capabilities, Harness } from "./harness.js";

/**
 * Defines the conformance suite for one driver, in the calling vitest file.
 * `makeHarness` is called once, before the first case; the harness is closed
 * after the last. Cases a driver's capabilities rule out are skipped, with
 * the reason in their title's report.
 */
export function runConformanceTests(makeHarness: () => Promise<Harness>, capabilities: Capabilities): void {
  const ctx = new SuiteContext(capabilities);
  describe(`conformance: ${capabilities.name}`, { timeout: capabilities.testTimeoutMs ?? 60_000 }, () => {
    beforeAll(async () => {
      ctx.harness = await makeHarness();
    });
    afterEach(async () => {
      await ctx.runCleanups();
    });
    afterAll(async () => {
      const harness = ctx.harness;
      ctx.harness = undefined;
      await harness.close?.();
    });
    describe("send and receive", () => sendReceiveCases(ctx));
    describe("acks and redelivery", () => ackCases(ctx));
    describe("message ids", () => messageIdCases(ctx));
    describe("errors, cancellation and shutdown", () => errorCases(ctx));
    describe("concurrency", () => concurrencyCases(ctx));
    describe("poison messages", () => poisonCases(ctx));
    describe("typed messages", () => typedCases(ctx));
    describe("graceful restarts", () => gracefulRestartCases(ctx));
    // The reconnect and restart cases test a driver's recovery, not the runtime: a CI that runs the suite on several
    // Node versions runs them on one, and sets PUBSUB_SKIP_FAULT_TESTS=1 for the others.
    describe.skipIf(process.env.PUBSUB_SKIP_FAULT_TESTS === "1")("reconnect", () => reconnectCases(ctx));
    describe("tracing", () => tracingCases(ctx));
  });
}
