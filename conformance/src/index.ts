/**
 * @portable-pubsub/conformance: the suite every portable-pubsub driver
 * passes, ours and third parties'. In a vitest test file:
 *
 * ```ts
 * import { runConformanceTests } from "@portable-pubsub/conformance";
 * runConformanceTests(async () => myHarness(), { name: "mine", canNack: true, ... });
 * ```
 */

export { numbered, type OpenedSubscription, type OpenedTopic, SuiteContext, sortedBodies } from "./context.js";
export {
  type CrashLoopOptions,
  type CrashLoopResult,
  crashLoop,
  expectEndedAtMaxDeliveries,
} from "./crash-loop.js";
export { FaultProxy, type FaultProxyOptions } from "./fault-proxy.js";
export type {
  Capabilities,
  Created,
  CreatedSubscription,
  Harness,
  ReconnectCapability,
  RestartCapability,
} from "./harness.js";
export {
  DuplicateLog,
  expectEachIdRanOnce,
  type RunUnderFaultsOptions,
  type RunUnderFaultsResult,
  runUnderFaults,
} from "./idempotency-faults.js";
export { type IdempotencyStoreSuiteOptions, idempotencyStoreSuite } from "./idempotency-store.js";
export { expectOpenFailure, type OpenFailure, type SilentServer, startSilentServer } from "./open-failure.js";
export { PacedLoad, type PacedLoadResult } from "./paced-load.js";
export { installSpanRecorder, type RecordedSpan, type SpanRecorder } from "./recording-tracer.js";
export { reachable, skipUnlessReachable } from "./services.js";
export { runConformanceTests } from "./suite.js";
export {
  type Collected,
  collectDistinct,
  type EventLoopWatch,
  freePort,
  freePorts,
  healthStates,
  watchEventLoop,
} from "./test-kit.js";
export { TlsEndpoint, type TlsEndpointOptions, type TlsEndpoints, tlsEndpointsForTests } from "./tls-endpoint.js";
