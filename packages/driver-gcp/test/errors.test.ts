import { v1 } from "@google-cloud/pubsub";
import { FaultProxy } from "@portable-pubsub/conformance";
import { ErrorCode, errorCode, PubSubError, Subscription, Topic } from "@portable-pubsub/core";
import { toPubSubError } from "@portable-pubsub/core/driver";
import {
  createPubSub,
  GcpSubscriptionDriver,
  GcpTopicDriver,
  GrpcStatus,
  gcpErrors,
  grpcStatus,
} from "@portable-pubsub/driver-gcp";
import { describe, expect, it } from "vitest";
import { emulatorForTests } from "./emulator.js";
import { emulatorClients, PROJECT, uniqueName } from "./harness.js";

/** An error shaped as @google-cloud/pubsub rejects with: an Error with a numeric gRPC `code` and `details`. */
function grpcError(code: number, details = "details"): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
}

describe("gRPC status mapping", () => {
  it.each([
    ["CANCELLED", GrpcStatus.CANCELLED, ErrorCode.Canceled, false],
    ["UNKNOWN", GrpcStatus.UNKNOWN, ErrorCode.Unknown, false],
    ["INVALID_ARGUMENT", GrpcStatus.INVALID_ARGUMENT, ErrorCode.InvalidArgument, false],
    ["DEADLINE_EXCEEDED", GrpcStatus.DEADLINE_EXCEEDED, ErrorCode.DeadlineExceeded, true],
    ["NOT_FOUND", GrpcStatus.NOT_FOUND, ErrorCode.NotFound, false],
    ["ALREADY_EXISTS", GrpcStatus.ALREADY_EXISTS, ErrorCode.AlreadyExists, false],
    ["PERMISSION_DENIED", GrpcStatus.PERMISSION_DENIED, ErrorCode.PermissionDenied, false],
    ["RESOURCE_EXHAUSTED", GrpcStatus.RESOURCE_EXHAUSTED, ErrorCode.ResourceExhausted, true],
    ["FAILED_PRECONDITION", GrpcStatus.FAILED_PRECONDITION, ErrorCode.FailedPrecondition, false],
    ["ABORTED", GrpcStatus.ABORTED, ErrorCode.Unknown, true],
    ["OUT_OF_RANGE", GrpcStatus.OUT_OF_RANGE, ErrorCode.InvalidArgument, false],
    ["UNIMPLEMENTED", GrpcStatus.UNIMPLEMENTED, ErrorCode.Unimplemented, false],
    ["INTERNAL", GrpcStatus.INTERNAL, ErrorCode.Internal, true],
    ["UNAVAILABLE", GrpcStatus.UNAVAILABLE, ErrorCode.Unknown, true],
    ["DATA_LOSS", GrpcStatus.DATA_LOSS, ErrorCode.Internal, false],
    ["UNAUTHENTICATED", GrpcStatus.UNAUTHENTICATED, ErrorCode.PermissionDenied, false],
  ])("maps %s (%i) to %s, retryable: %s", (name, code, portable, retryable) => {
    const err = grpcError(code);
    expect(gcpErrors.errorCode(err)).toBe(portable);
    expect(gcpErrors.isRetryable(err)).toBe(retryable);
    // Wrapped by core in a PubSubError, the status is still found through `cause`, and named in the message.
    const driver = { resource: 'gcppubsub topic "t"', errors: gcpErrors, close: async () => {} };
    const wrapped = toPubSubError(driver, err, "send to");
    expect(wrapped.code).toBe(portable);
    expect(grpcStatus(wrapped.cause)).toBe(code);
    expect(wrapped.message).toContain(`gRPC status ${name}`);
  });

  it("treats errors without a gRPC status as Unknown and not retryable", () => {
    for (const err of [
      new Error("plain"),
      Object.assign(new Error("sys"), { code: "ECONNRESET" }),
      "text",
      undefined,
    ]) {
      expect(gcpErrors.errorCode(err)).toBe(ErrorCode.Unknown);
      expect(gcpErrors.isRetryable(err)).toBe(false);
      expect(gcpErrors.hint?.(err)).toBeUndefined();
    }
  });
});

const emulator = await emulatorForTests();

describe.skipIf(!emulator)("gRPC errors from the emulator", () => {
  const clients = emulatorClients(emulator?.address);
  const { cleanups } = clients;

  it("fails a send to a missing topic with NotFound, naming the topic and what to do", async () => {
    const name = `projects/${PROJECT}/topics/${uniqueName("missing")}`;
    const topic = new Topic(new GcpTopicDriver(clients.client, name));
    cleanups.push(() => topic.shutdown());
    const error = await topic.send({ body: "x" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PubSubError);
    expect(errorCode(error)).toBe(ErrorCode.NotFound);
    expect((error as Error).message).toContain(`gcppubsub topic "${name}"`);
    expect((error as Error).message).toMatch(
      /NOT_FOUND: Topic not found; check the project and name, or create it first/,
    );
    expect(grpcStatus((error as PubSubError).cause)).toBe(GrpcStatus.NOT_FOUND);
  });

  it("fails a receive from a missing subscription with NotFound, without retrying it", async () => {
    const name = `projects/${PROJECT}/subscriptions/${uniqueName("missing")}`;
    const subscription = new Subscription(new GcpSubscriptionDriver(clients.client, name));
    cleanups.push(() => subscription.shutdown());
    const started = Date.now();
    const error = await subscription.receive({ signal: AbortSignal.timeout(10_000) }).catch((e: unknown) => e);
    expect(errorCode(error)).toBe(ErrorCode.NotFound);
    expect((error as Error).message).toMatch(/NOT_FOUND: Subscription does not exist/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("maps ALREADY_EXISTS and INVALID_ARGUMENT as the emulator returns them", async () => {
    const [topic] = await clients.admin.createTopic(uniqueName("exists"));
    cleanups.push(() => topic.delete());
    const exists = await clients.admin.createTopic(topic.name).catch((e: unknown) => e);
    expect(grpcStatus(exists)).toBe(GrpcStatus.ALREADY_EXISTS);
    expect(gcpErrors.errorCode(exists)).toBe(ErrorCode.AlreadyExists);
    const [subscription] = await topic.createSubscription(uniqueName("invalid"));
    cleanups.push(() => subscription.delete());
    const raw = new v1.SubscriberClient(
      (await clients.admin.getClientConfig()) as ConstructorParameters<typeof v1.SubscriberClient>[0],
    );
    cleanups.push(() => raw.close());
    const invalid = await raw
      .modifyAckDeadline({ subscription: subscription.name, ackIds: ["bogus"], ackDeadlineSeconds: 0 }, { retry: null })
      .catch((e: unknown) => e);
    expect(grpcStatus(invalid)).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(gcpErrors.errorCode(invalid)).toBe(ErrorCode.InvalidArgument);
  });

  it("ignores stale ackIds without losing the valid acks sent with them", async () => {
    const [topic] = await clients.admin.createTopic(uniqueName("stale"));
    const [sub] = await topic.createSubscription(uniqueName("stale"), { ackDeadlineSeconds: 30 });
    cleanups.push(
      () => topic.delete(),
      () => sub.delete(),
    );
    const driver = new GcpSubscriptionDriver(clients.client, sub.name);
    cleanups.push(() => driver.close(AbortSignal.timeout(5000)));
    await topic.publishMessage({ data: Buffer.from("a") });
    await topic.publishMessage({ data: Buffer.from("b") });
    const signal = AbortSignal.timeout(15_000);
    const byBody = new Map<string, unknown>();
    while (byBody.size < 2) {
      for (const m of await driver.receiveBatch(10, signal)) byBody.set(new TextDecoder().decode(m.body), m.ackId);
    }
    // The emulator refuses a request with an unknown ackId as a whole: the driver splits it.
    await driver.sendAcks([`${sub.name}:999999`, byBody.get("a"), "bogus"], signal);
    await driver.sendNacks([byBody.get("b"), "bogus"], signal);
    // "b" was nacked despite the bogus ackId beside it: it is back at once, not after 30 s.
    let again = await driver.receiveBatch(10, signal);
    while (again.length === 0) again = await driver.receiveBatch(10, signal);
    expect(again.map((m) => new TextDecoder().decode(m.body))).toEqual(["b"]);
    await driver.sendAcks([again[0]?.ackId], signal);
    // "a" was acked: nacking its old ackId now brings nothing back.
    await driver.sendNacks([byBody.get("a")], signal);
    expect(await driver.receiveBatch(10, AbortSignal.timeout(5000))).toEqual([]);
    expect(await driver.receiveBatch(10, AbortSignal.timeout(5000))).toEqual([]);
  });

  it("reports UNAVAILABLE as retryable, health reconnecting, and ready again once through", async () => {
    const proxy = await FaultProxy.start({ upstream: { host: emulator?.host ?? "", port: emulator?.port ?? 0 } });
    cleanups.push(() => proxy.close());
    const proxied = createPubSub(PROJECT, { apiEndpoint: proxy.address });
    cleanups.push(() => proxied.close());
    const [t] = await clients.admin.createTopic(uniqueName("unavailable"));
    cleanups.push(() => t.delete());
    const driver = new GcpTopicDriver(proxied, t.name);
    const topic = new Topic(driver, { retry: { maxAttempts: 1 } });
    cleanups.push(() => topic.shutdown());
    expect(topic.health.state).toBe("connecting");
    await topic.send({ body: "first" });
    expect(topic.health.state).toBe("ready");
    proxy.refuse(true);
    proxy.cut();
    const error = await topic.send({ body: "refused" }).catch((e: unknown) => e);
    expect(grpcStatus((error as PubSubError).cause)).toBe(GrpcStatus.UNAVAILABLE);
    expect(driver.errors.isRetryable((error as PubSubError).cause)).toBe(true);
    expect((error as Error).message).toMatch(/UNAVAILABLE: .*the Pub\/Sub endpoint cannot be reached/);
    expect(topic.health.state).toBe("reconnecting");
    expect(topic.health.lastError).toBeDefined();
    proxy.refuse(false);
    // With retries (the default), a send waits out the outage.
    const retrying = new Topic(new GcpTopicDriver(proxied, t.name));
    cleanups.push(() => retrying.shutdown());
    await retrying.send({ body: "after" });
    await topic.send({ body: "after" });
    expect(topic.health.state).toBe("ready");
  });

  it("fails an RPC on a stalled connection with DeadlineExceeded (retryable), and a canceled one with Canceled", async () => {
    const proxy = await FaultProxy.start({ upstream: { host: emulator?.host ?? "", port: emulator?.port ?? 0 } });
    cleanups.push(() => proxy.close());
    const proxied = createPubSub(PROJECT, { apiEndpoint: proxy.address });
    cleanups.push(() => proxied.close());
    const [t] = await clients.admin.createTopic(uniqueName("stall"));
    cleanups.push(() => t.delete());
    const driver = new GcpTopicDriver(proxied, t.name, { rpcTimeoutMs: 500 });
    cleanups.push(() => driver.close(AbortSignal.timeout(3000)));
    // A fresh object per batch, as core makes: the driver skips a message it already published.
    const message = () => ({ body: new Uint8Array([1]), metadata: {} });
    await driver.sendBatch([message()], AbortSignal.timeout(5000));
    proxy.stall();
    const late = await driver.sendBatch([message()], AbortSignal.timeout(5000)).catch((e: unknown) => e);
    // The driver throws the client's error as it is; core maps it with the driver's classifier.
    expect(driver.errors.errorCode(late)).toBe(ErrorCode.DeadlineExceeded);
    expect(driver.errors.isRetryable(late)).toBe(true);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const canceled = await driver.sendBatch([message()], controller.signal).catch((e: unknown) => e);
    expect(errorCode(canceled)).toBe(ErrorCode.Canceled);
    expect(driver.errors.isRetryable(canceled)).toBe(false);
    proxy.resume();
  });
});
