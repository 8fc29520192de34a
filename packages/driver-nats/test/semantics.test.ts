import type { JsMsg } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import type { Message, Subscription } from "@portable-pubsub/core";
import { openNatsSubscription, openNatsTopic } from "@portable-pubsub/driver-nats";
import { beforeAll, describe, expect, it } from "vitest";
import { consumerFixtures, requireNats, skipNats } from "./helpers.js";

describe.skipIf(skipNats)("nats semantics", () => {
  beforeAll(requireNats);
  const { defer, setup } = consumerFixtures("sem");

  function later(sub: Subscription) {
    defer(() => sub.shutdown({ signal: AbortSignal.timeout(5000) }));
    return sub;
  }

  const receive = (sub: Subscription, ms = 5000): Promise<Message> => sub.receive({ signal: AbortSignal.timeout(ms) });

  it("counts deliveries with JetStream's own delivery count, through the portable nack (a nak)", async () => {
    const { nc, stream } = await setup(30_000);
    const topic = openNatsTopic(nc, stream);
    defer(() => topic.shutdown());
    const sub = later(await openNatsSubscription(nc, stream, "c"));
    await topic.send({ body: "again" });
    const attempts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await receive(sub);
      attempts.push(m.deliveryAttempt as number);
      expect((m.as<JsMsg>() as JsMsg).info.deliveryCount).toBe(i + 1);
      if (i < 2) m.nack();
      else m.ack();
    }
    expect(attempts).toEqual([1, 2, 3]);
  });

  it("keeps buffered messages from being redelivered while the application is slow (working)", async () => {
    // A 1 s ack wait, and 10 messages that sit in the receive buffer for 3 s before anyone receives them.
    const { nc, stream, adminNc } = await setup(1000);
    const sub = later(await openNatsSubscription(nc, stream, "c", { prefetch: 10 }));
    for (let i = 0; i < 10; i++) adminNc.publish(stream, `slow-${i}`);
    await new Promise((r) => setTimeout(r, 3000));
    const got: Message[] = [];
    for (let i = 0; i < 10; i++) got.push(await receive(sub));
    for (const m of got) m.ack();
    expect(got.map((m) => m.text()).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `slow-${i}`).sort());
    expect(got.map((m) => m.deliveryAttempt)).toEqual(new Array(10).fill(1));
    // Nothing comes again: none of them was redelivered behind the buffer's back.
    await expect(receive(sub, 1500)).rejects.toMatchObject({ code: "DeadlineExceeded" });
  });

  it("hands a buffered message over with enough ack wait left for the portable layer's first extension", async () => {
    // A 1 s ack wait. Each message waits in the receive buffer 0.6 to 0.7 ack waits before it is received:
    // the portable layer extends it first up to half an ack wait after receiving it, too late if the buffer
    // gave it over with less than that left.
    const trials = [600, 650, 700].map(async (waitMs) => {
      const { nc, stream, adminNc } = await setup(1000);
      const sub = later(await openNatsSubscription(nc, stream, "c"));
      adminNc.publish(stream, `after-${waitMs}`);
      await adminNc.flush();
      await new Promise((r) => setTimeout(r, waitMs));
      const m = await receive(sub);
      // The application holds it for 1.5 ack waits, long past the lease it came with.
      await new Promise((r) => setTimeout(r, 1500));
      m.ack();
      const again = await receive(sub, 1500).then(
        (copy) => `delivered again (attempt ${copy.deliveryAttempt})`,
        () => "not delivered again",
      );
      return { waitMs, attempt: m.deliveryAttempt, again };
    });
    expect(await Promise.all(trials)).toEqual(
      [600, 650, 700].map((waitMs) => ({ waitMs, attempt: 1, again: "not delivered again" })),
    );
  });

  it("carries metadata as NATS headers that other NATS programs read, and reads theirs", async () => {
    const { nc, stream, adminNc, jsm } = await setup(30_000);
    const topic = openNatsTopic(nc, stream);
    defer(() => topic.shutdown());
    await topic.send({ body: "ours", metadata: { "content-type": "text/plain", "with space": " padded " } });
    const stored = await jsm.streams.getMessage(stream, { seq: 1 });
    if (!stored) throw new Error("message 1 not stored");
    expect(stored.header.get("content-type")).toBe("text/plain");
    expect(stored.header.get("Pps-E-with%20space")).toBe("%20padded%20");
    expect(stored.header.get("Nats-Msg-Id")).not.toBe("");

    const h = headers();
    h.set("trace-id", "abc");
    h.set("Nats-Expected-Stream", stream);
    adminNc.publish(stream, "theirs", { headers: h });
    const sub = later(await openNatsSubscription(nc, stream, "c"));
    const ours = await receive(sub);
    expect(ours.metadata).toEqual({ "content-type": "text/plain", "with space": " padded " });
    const theirs = await receive(sub);
    // Server headers (Nats-…) stay in the native message, out of the metadata.
    expect(theirs.metadata).toEqual({ "trace-id": "abc" });
    expect((theirs.as<JsMsg>() as JsMsg).headers?.get("Nats-Expected-Stream")).toBe(stream);
    ours.ack();
    theirs.ack();
  });

  it("reports health from the connection: ready once open, closed after shutdown", async () => {
    const { nc, stream } = await setup(30_000);
    const topic = openNatsTopic(nc, stream);
    await topic.ready();
    expect(topic.health.state).toBe("ready");
    await topic.shutdown();
    expect(topic.health.state).toBe("closed");
    // The connection was the user's: still open.
    expect(nc.isClosed()).toBe(false);
  });
});
