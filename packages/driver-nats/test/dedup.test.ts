import type { NatsConnection } from "@nats-io/transport-node";
import { FaultProxy } from "@portable-pubsub/conformance";
import { openNatsTopic } from "@portable-pubsub/driver-nats";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { admin, eventually, NATS_ADDRESS, natsConnection, requireNats, skipNats, unique } from "./helpers.js";

/**
 * A PubAck lost with its connection: the server stored the message, the
 * client never heard. The driver publishes it again after the reconnect with
 * the same Nats-Msg-Id, and the stream stores it once.
 */
describe.skipIf(skipNats)("nats publish dedup", () => {
  beforeAll(requireNats);
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });

  it("stores a message once when its PubAck is lost with the connection", async () => {
    const { nc: adminNc, jsm } = await admin();
    const proxy = await FaultProxy.start({ upstream: NATS_ADDRESS });
    const nc: NatsConnection = await natsConnection(`nats://${proxy.address}`);
    const stream = unique("dedup");
    await jsm.streams.add({ name: stream, subjects: [stream] });
    const topic = openNatsTopic(nc, stream);
    cleanups.push(async () => {
      await topic.shutdown({ signal: AbortSignal.timeout(5000) });
      await nc.close();
      await proxy.close();
      await jsm.streams.delete(stream);
      await adminNc.close();
    });
    await topic.send({ body: "warm-up" });
    const count = async () => (await jsm.streams.info(stream)).state.messages;
    expect(await count()).toBe(1);

    // Every chunk now takes 1 s each way: the publish reaches the server after 1 s and its
    // PubAck would reach the client after 2 s. Cut once the server has stored it.
    proxy.slow(1000);
    const accepted = proxy.accepted;
    let settled = false;
    const send = topic.send({ id: "order-once", body: "once" }).finally(() => {
      settled = true;
    });
    await eventually(async () => (await count()) === 2, 5000, "the server storing the message");
    expect(settled).toBe(false);
    expect(proxy.cut()).toBeGreaterThan(0);
    proxy.slow(0);
    await send;
    expect(proxy.accepted).toBeGreaterThan(accepted);
    // Give a second copy, if one were stored, time to show up.
    await new Promise((r) => setTimeout(r, 300));
    expect(await count()).toBe(2);
    const last = await jsm.streams.getMessage(stream, { last_by_subj: stream });
    if (!last) throw new Error("no last message");
    expect(new TextDecoder().decode(last.data)).toBe("once");
    // The message's id is the Nats-Msg-Id that made the resend a duplicate.
    expect(last.header.get("Nats-Msg-Id")).toBe("order-once");
  });
});
