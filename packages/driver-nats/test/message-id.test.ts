/**
 * The message id on nats:// is the Nats-Msg-Id header, checked with a plain
 * JetStream client both ways: what the driver publishes carries it (so
 * JetStream's duplicate window drops a second send of one id), a plain
 * publish's Nats-Msg-Id is the received id, and a plain publish without one
 * has `<stream>:<sequence>`.
 */
import { AckPolicy, jetstream } from "@nats-io/jetstream";
import { openSubscription, openTopic } from "@portable-pubsub/core";
import { beforeAll, describe, expect, it } from "vitest";
import { consumerFixtures, NATS_URL, requireNats, skipNats } from "./helpers.js";

describe.skipIf(skipNats)("nats message ids", () => {
  beforeAll(requireNats);
  const fixtures = consumerFixtures("msgid");

  it("sends the id as Nats-Msg-Id, so that the stream stores a second send of one id once", async () => {
    const { adminNc, jsm, stream } = await fixtures.setup(30_000);
    await jsm.consumers.add(stream, { durable_name: "raw", ack_policy: AckPolicy.Explicit });
    const topic = await openTopic(`nats://${stream}`, { serverUrl: NATS_URL });
    fixtures.defer(() => topic.shutdown());
    await topic.send({ id: "order-17 ✓", body: "first", metadata: { k: "v" } });
    await topic.send({ id: "order-17 ✓", body: "second send of the same id" });
    await topic.send({ body: "generated" });
    expect((await jsm.streams.info(stream)).state.messages).toBe(2);
    const consumer = await jetstream(adminNc).consumers.get(stream, "raw");
    const first = await consumer.next({ expires: 5000 });
    const second = await consumer.next({ expires: 5000 });
    first?.ack();
    second?.ack();
    expect([first?.string(), first?.headers?.get("Nats-Msg-Id"), first?.headers?.get("k")]).toEqual([
      "first",
      "order-17 ✓",
      "v",
    ]);
    expect(second?.string()).toBe("generated");
    expect(second?.headers?.get("Nats-Msg-Id")).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it("gives a plain publish's Nats-Msg-Id as the id, and one without it <stream>:<sequence>, on every delivery", async () => {
    const { adminNc, stream } = await fixtures.setup(30_000);
    const subscription = await openSubscription(`nats://${stream}?consumer=c`, { serverUrl: NATS_URL });
    fixtures.defer(() => subscription.shutdown());
    const js = jetstream(adminNc);
    await js.publish(stream, "with", { msgID: "ext-1" });
    const plain = await js.publish(stream, "without");
    const receive = () => subscription.receive({ signal: AbortSignal.timeout(10_000) });
    const seen: [string, string, number | undefined][] = [];
    for (let i = 0; i < 4; i++) {
      const message = await receive();
      seen.push([message.text(), message.id, message.deliveryAttempt]);
      if (i < 2) message.nack({ delayMs: 0 });
      else message.ack();
    }
    seen.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
    expect(seen).toEqual([
      ["with", "ext-1", 1],
      ["with", "ext-1", 2],
      ["without", `${stream}:${plain.seq}`, 1],
      ["without", `${stream}:${plain.seq}`, 2],
    ]);
  });
});
