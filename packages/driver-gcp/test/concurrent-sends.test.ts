import { v1 } from "@google-cloud/pubsub";
import { ErrorCode } from "@portable-pubsub/core";
import { GcpTopicDriver, gcpErrors, openGcpSubscription, openGcpTopic } from "@portable-pubsub/driver-gcp";
import { describe, expect, it, vi } from "vitest";
import { emulatorForTests } from "./emulator.js";
import { emulatorClients, uniqueName } from "./harness.js";

const emulator = await emulatorForTests();

/**
 * Many sends at once. The generated Publisher client bundles concurrent Publish
 * calls to one topic into one request unless told not to: 1 + 1,000 messages
 * then went as one request of 1,001, which the emulator (and the service)
 * refuses, and every send of both batches failed.
 */
describe.skipIf(!emulator)("gcppubsub with many sends in flight", () => {
  const clients = emulatorClients(emulator?.address);
  const { cleanups } = clients;

  async function topicWithSubscription() {
    const [t] = await clients.admin.createTopic(uniqueName("concurrent"));
    const [s] = await t.createSubscription(uniqueName("concurrent"), { ackDeadlineSeconds: 60 });
    cleanups.push(
      () => t.delete(),
      () => s.delete(),
    );
    return { topicName: t.name, subscriptionName: s.name };
  }

  /** Receives until `count` distinct bodies arrived; returns how many of each. */
  async function receiveAll(subscriptionName: string, count: number): Promise<Map<string, number>> {
    const subscription = openGcpSubscription(clients.client, subscriptionName);
    cleanups.push(() => subscription.shutdown());
    const seen = new Map<string, number>();
    while (seen.size < count) {
      const m = await subscription.receive({ signal: AbortSignal.timeout(15_000) });
      m.ack();
      seen.set(m.text(), (seen.get(m.text()) ?? 0) + 1);
    }
    return seen;
  }

  for (const count of [1001, 5000]) {
    it(`sends ${count} messages sent at once, each in exactly one Publish request of at most 1,000`, async () => {
      const { topicName, subscriptionName } = await topicWithSubscription();
      const topic = openGcpTopic(clients.client, topicName);
      cleanups.push(() => topic.shutdown());
      const publish = vi.spyOn(v1.PublisherClient.prototype, "publish");
      let results: PromiseSettledResult<void>[];
      let sizes: number[];
      try {
        results = await Promise.allSettled(Array.from({ length: count }, (_, i) => topic.send({ body: `m${i}` })));
        sizes = publish.mock.calls.map(([request]) => request?.messages?.length ?? 0);
      } finally {
        publish.mockRestore();
      }
      expect(results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason)).toEqual(
        [],
      );
      // One request per driver batch, none over the limit, every message in exactly one of them.
      expect(sizes.length).toBeGreaterThanOrEqual(Math.ceil(count / 1000));
      expect(Math.max(...sizes)).toBeLessThanOrEqual(1000);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(count);
      const seen = await receiveAll(subscriptionName, count);
      expect(seen.size).toBe(count);
      expect([...seen.keys()].every((body) => /^m\d+$/.test(body) && Number(body.slice(1)) < count)).toBe(true);
    });
  }

  it("fails only the batch whose Publish request is refused, not a batch in flight beside it", async () => {
    const { topicName, subscriptionName } = await topicWithSubscription();
    const driver = new GcpTopicDriver(clients.client, topicName);
    cleanups.push(() => driver.close(AbortSignal.timeout(5000)));
    const signal = AbortSignal.timeout(20_000);
    // 1,001 messages in one request: the emulator refuses it with INVALID_ARGUMENT, as the service would.
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ body: Buffer.from(`big${i}`), metadata: {} }));
    const [alone, refused] = await Promise.allSettled([
      driver.sendBatch([{ body: Buffer.from("alone"), metadata: {} }], signal),
      driver.sendBatch(tooMany, signal),
    ]);
    expect(refused.status).toBe("rejected");
    expect(String((refused as PromiseRejectedResult).reason)).toMatch(/Too many messages to publish/);
    expect(gcpErrors.errorCode((refused as PromiseRejectedResult).reason)).toBe(ErrorCode.InvalidArgument);
    expect(alone.status).toBe("fulfilled");
    expect([...(await receiveAll(subscriptionName, 1)).entries()]).toEqual([["alone", 1]]);
  });

  it("publishes a split batch's requests once each when the batch is retried after a later request failed", async () => {
    const { topicName, subscriptionName } = await topicWithSubscription();
    const driver = new GcpTopicDriver(clients.client, topicName);
    cleanups.push(() => driver.close(AbortSignal.timeout(5000)));
    const four = (n: number) => ({ body: new Uint8Array(4_000_000).fill(n), metadata: { n: String(n) } });
    const batch = [four(1), four(2), four(3)];
    const original = v1.PublisherClient.prototype.publish;
    let calls = 0;
    // The second request of the batch ([3]; [1, 2] is the first) fails once as a dropped connection would.
    const publish = vi.spyOn(v1.PublisherClient.prototype, "publish").mockImplementation(function (
      this: v1.PublisherClient,
      ...args: unknown[]
    ) {
      if (++calls === 2) return Promise.reject(Object.assign(new Error("14 UNAVAILABLE: injected"), { code: 14 }));
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as never);
    let first: unknown;
    try {
      first = await driver.sendBatch(batch, AbortSignal.timeout(20_000)).catch((err: unknown) => err);
      expect(gcpErrors.isRetryable(first)).toBe(true);
      // What the portable layer does with a retryable error: the same call again.
      await driver.sendBatch(batch, AbortSignal.timeout(20_000));
      expect(publish.mock.calls.map(([request]) => request?.messages?.length)).toEqual([2, 1, 1]);
    } finally {
      publish.mockRestore();
    }
    const subscription = openGcpSubscription(clients.client, subscriptionName);
    cleanups.push(() => subscription.shutdown());
    const got: string[] = [];
    for (;;) {
      const m = await subscription
        .receive({ signal: AbortSignal.timeout(got.length < 3 ? 15_000 : 2000) })
        .catch(() => undefined);
      if (!m) break;
      m.ack();
      got.push(m.metadata.n ?? "");
    }
    expect(got.sort()).toEqual(["1", "2", "3"]);
  });
});
