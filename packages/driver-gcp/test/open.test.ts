import { v1 } from "@google-cloud/pubsub";
import { expectOpenFailure, freePort, startSilentServer } from "@portable-pubsub/conformance";
import { ErrorCode, openSubscription, openTopic } from "@portable-pubsub/core";
import { createPubSub, openGcpTopic } from "@portable-pubsub/driver-gcp";
import { afterAll, describe, expect, it, vi } from "vitest";
import { emulatorForTests } from "./emulator.js";
import { PROJECT, uniqueName } from "./harness.js";

const emulator = await emulatorForTests();

/** What opening checks: the endpoint answers (no RPC, so no permission is needed). */
describe.skipIf(!emulator)("gcppubsub opens", () => {
  const endpoint = emulator?.address as string;
  const admin = createPubSub(PROJECT, { apiEndpoint: endpoint });
  afterAll(() => admin.close());

  it("opens a topic and a subscription on a reachable endpoint, and sends through them", async () => {
    const [topic] = await admin.createTopic(uniqueName("open"));
    const [subscription] = await topic.createSubscription(uniqueName("open-sub"));
    try {
      const sending = await openTopic(`gcppubsub://${topic.name}`, { apiEndpoint: endpoint });
      const receiving = await openSubscription(`gcppubsub://${subscription.name}`, { apiEndpoint: endpoint });
      expect([sending.health.state, receiving.health.state]).toEqual(["ready", "ready"]);
      await sending.send({ body: "through" });
      const message = await receiving.receive({ signal: AbortSignal.timeout(10_000) });
      expect(message.text()).toBe("through");
      message.ack();
      await Promise.all([sending.shutdown(), receiving.shutdown()]);
    } finally {
      await subscription.delete();
      await topic.delete();
    }
  });

  it("shares one generated client between the subscriptions opened by URL, closed with the last, and builds anew after", async () => {
    const [topic] = await admin.createTopic(uniqueName("shared"));
    const names = [uniqueName("shared-a"), uniqueName("shared-b"), uniqueName("shared-c")];
    for (const name of names) await topic.createSubscription(name);
    const closes = vi.spyOn(v1.SubscriberClient.prototype, "close");
    try {
      const options = { apiEndpoint: endpoint };
      const sending = await openTopic(`gcppubsub://${topic.name}`, options);
      const subs = await Promise.all(names.map((n) => openSubscription(`gcppubsub://${PROJECT}/${n}`, options)));
      await subs[0]?.shutdown();
      await subs[1]?.shutdown();
      expect(closes).toHaveBeenCalledTimes(0);
      await sending.send({ body: "to the last" });
      const message = await subs[2]?.receive({ signal: AbortSignal.timeout(10_000) });
      expect(message?.text()).toBe("to the last");
      message?.ack();
      await subs[2]?.shutdown();
      expect(closes).toHaveBeenCalledTimes(1);
      // A subscription opened after the last closed gets a client of its own, not the closed one.
      const later = uniqueName("shared-d");
      await topic.createSubscription(later);
      names.push(later);
      const again = await openSubscription(`gcppubsub://${PROJECT}/${later}`, options);
      await sending.send({ body: "again" });
      const late = await again.receive({ signal: AbortSignal.timeout(10_000) });
      expect(late.text()).toBe("again");
      late.ack();
      await Promise.all([again.shutdown(), sending.shutdown()]);
      expect(closes).toHaveBeenCalledTimes(2);
    } finally {
      closes.mockRestore();
      for (const name of names) await admin.subscription(name).delete();
      await topic.delete();
    }
  });

  it("fails opens on an endpoint whose port is closed at once, naming Pub/Sub and the address", async () => {
    const port = await freePort();
    for (const open of [
      () => openTopic(`gcppubsub://${PROJECT}/topic-1`, { apiEndpoint: `127.0.0.1:${port}` }),
      () => openSubscription(`gcppubsub://${PROJECT}/sub-1`, { apiEndpoint: `127.0.0.1:${port}` }),
    ]) {
      await expectOpenFailure(open, {
        code: ErrorCode.Unknown,
        mentions: [`cannot connect to Pub/Sub at 127.0.0.1:${port}`, "UNAVAILABLE", "cannot be reached"],
        withinMs: 5000,
      });
    }
  });

  it("fails an open whose endpoint never answers after connectTimeoutMs with DeadlineExceeded", async () => {
    const silent = await startSilentServer();
    try {
      const apiEndpoint = `127.0.0.1:${silent.port}`;
      const { elapsedMs } = await expectOpenFailure(
        () => openTopic(`gcppubsub://${PROJECT}/topic-1`, { apiEndpoint, connectTimeoutMs: 1000 }),
        {
          code: ErrorCode.DeadlineExceeded,
          mentions: [`could not connect to Pub/Sub at ${apiEndpoint} within 1000 ms`, "connectTimeoutMs"],
          withinMs: 4000,
        },
      );
      expect(elapsedMs).toBeGreaterThanOrEqual(950);
    } finally {
      await silent.close();
    }
  });

  it("settles every promise of a direct constructor whose endpoint is unreachable: ready rejects, shutdown ends", async () => {
    const port = await freePort();
    const pubsub = createPubSub(PROJECT, { apiEndpoint: `127.0.0.1:${port}` });
    const topic = openGcpTopic(pubsub, "topic-1");
    expect(await topic.ready().catch((e: unknown) => e)).toMatchObject({ code: ErrorCode.Unknown });
    const started = Date.now();
    await topic.shutdown();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(topic.health.state).toBe("closed");
    await pubsub.close();
  });
});
