/**
 * The message id on gcppubsub:// is the attribute `pubsub.id`, checked with
 * plain @google-cloud/pubsub against the emulator both ways: what the driver
 * publishes carries it (Pub/Sub's own messageId is per publish), a plain
 * publish's `pubsub.id` attribute is the received id, and a plain publish
 * without one has its messageId, on every delivery.
 */
import { openGcpSubscription, openGcpTopic } from "@portable-pubsub/driver-gcp";
import { describe, expect, it } from "vitest";
import { emulatorForTests } from "./emulator.js";
import { emulatorClients, uniqueName } from "./harness.js";

const emulator = await emulatorForTests();

describe.skipIf(!emulator)("gcppubsub message ids", () => {
  const clients = emulatorClients(emulator?.address);
  const { cleanups } = clients;

  async function topicAndSubscription() {
    const [topic] = await clients.admin.createTopic(uniqueName("ids"));
    const [subscription] = await topic.createSubscription(uniqueName("ids"), { ackDeadlineSeconds: 30 });
    const receiver = openGcpSubscription(clients.client, subscription.name);
    cleanups.push(
      () => topic.delete(),
      () => subscription.delete(),
      () => receiver.shutdown(),
    );
    return { topic, receiver };
  }

  it("publishes the id as the pubsub.id attribute, beside Pub/Sub's own messageId", async () => {
    const { topic, receiver } = await topicAndSubscription();
    const sender = openGcpTopic(clients.client, topic.name);
    cleanups.push(() => sender.shutdown());
    await sender.send({ id: "order-17 ✓", body: "a", metadata: { k: "v" } });
    const m = await receiver.receive({ signal: AbortSignal.timeout(10_000) });
    m.ack();
    const native = m.as<{ message: { attributes: Record<string, string>; messageId: string } }>().message;
    expect(native.attributes).toEqual({ "pubsub.id": "order-17 ✓", k: "v" });
    expect([m.id, m.metadata]).toEqual(["order-17 ✓", { k: "v" }]);
    expect(m.loggableId).toBe(native.messageId);
  });

  it("gives a plain publish's pubsub.id attribute as the id, and one without it its messageId, on every delivery", async () => {
    const { topic, receiver } = await topicAndSubscription();
    await topic.publishMessage({ data: Buffer.from("with"), attributes: { "pubsub.id": "ext-1", k: "v" } });
    const plainId = await topic.publishMessage({ data: Buffer.from("without") });
    const seen: [string, string, Record<string, string>][] = [];
    for (let i = 0; i < 4; i++) {
      const m = await receiver.receive({ signal: AbortSignal.timeout(15_000) });
      seen.push([m.text(), m.id, { ...m.metadata }]);
      if (i < 2) m.nack({ delayMs: 0 });
      else m.ack();
    }
    seen.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
    expect(seen).toEqual([
      ["with", "ext-1", { k: "v" }],
      ["with", "ext-1", { k: "v" }],
      ["without", plainId, {}],
      ["without", plainId, {}],
    ]);
  });
});
