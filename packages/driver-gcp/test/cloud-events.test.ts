/**
 * CloudEvents on gcppubsub:// by the Pub/Sub binding, checked with plain
 * @google-cloud/pubsub against the emulator, both ways: binary mode puts the
 * attributes in `ce-*` message attributes and the data's content type in
 * `Content-Type`; an event another Pub/Sub program publishes that way
 * arrives as `msg.event`.
 */
import { type protos, v1 } from "@google-cloud/pubsub";
import { cloudEvents, openSubscription, openTopic } from "@portable-pubsub/core";
import { describe, expect, it } from "vitest";
import { emulatorForTests } from "./emulator.js";
import { emulatorClients, uniqueName } from "./harness.js";

const emulator = await emulatorForTests();
const codec = (mode: "binary" | "structured") =>
  cloudEvents({ source: "/orders", type: "com.example.order.created", mode });

describe.skipIf(!emulator)("CloudEvents on gcppubsub://", () => {
  const clients = emulatorClients(emulator?.address);
  const { cleanups } = clients;

  async function topicAndSubscription() {
    const [topic] = await clients.admin.createTopic(uniqueName("ce"));
    const [subscription] = await topic.createSubscription(uniqueName("ce"), { ackDeadlineSeconds: 30 });
    cleanups.push(
      () => topic.delete(),
      () => subscription.delete(),
    );
    return { topic, subscription };
  }

  /** One message pulled with the plain client library, acked. */
  async function pullOne(subscription: string): Promise<protos.google.pubsub.v1.IPubsubMessage> {
    const raw = new v1.SubscriberClient(
      (await clients.admin.getClientConfig()) as ConstructorParameters<typeof v1.SubscriberClient>[0],
    );
    try {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const [response] = await raw.pull({ subscription, maxMessages: 1 });
        const received = response.receivedMessages?.[0];
        if (received?.message) {
          await raw.acknowledge({ subscription, ackIds: [received.ackId as string] });
          return received.message;
        }
        if (Date.now() > deadline) throw new Error(`nothing arrived in ${subscription}`);
      }
    } finally {
      await raw.close();
    }
  }

  it("binary mode: the attributes as ce- attributes, the content type as Content-Type", async () => {
    const { topic, subscription } = await topicAndSubscription();
    const sender = await openTopic(`gcppubsub://${topic.name}`, { client: clients.client, codec: codec("binary") });
    cleanups.push(() => sender.shutdown());
    await sender.send({
      id: "order-a1",
      data: { id: "a1", qty: 2 },
      metadata: { region: "eu" },
      event: { id: "e-1", time: "2026-01-02T03:04:05Z", subject: "a1", extensions: { tenant: "t1" } },
    });
    const message = await pullOne(subscription.name);
    expect(Buffer.from(message.data as Uint8Array).toString()).toBe('{"id":"a1","qty":2}');
    expect(message.attributes).toEqual({
      "pubsub.id": "order-a1",
      region: "eu",
      "Content-Type": "application/json",
      "ce-specversion": "1.0",
      "ce-id": "e-1",
      "ce-source": "/orders",
      "ce-type": "com.example.order.created",
      "ce-time": "2026-01-02T03:04:05Z",
      "ce-subject": "a1",
      "ce-tenant": "t1",
    });
  });

  it("reads an event another Pub/Sub program publishes by the binding, and a structured one", async () => {
    const { topic, subscription } = await topicAndSubscription();
    const sub = await openSubscription(`gcppubsub://${subscription.name}`, {
      client: clients.client,
      codec: codec("binary"),
    });
    cleanups.push(() => sub.shutdown());
    await topic.publishMessage({
      data: Buffer.from('{"id":"x1","qty":5}'),
      attributes: {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": "1234-1234-1234",
        "ce-source": "/mycontext/subcontext",
        "ce-type": "com.example.someevent",
        "ce-time": "2020-03-10T03:56:24Z",
        "ce-tenant": "t9",
      },
    });
    const first = await sub.receive({ signal: AbortSignal.timeout(10_000) });
    first.ack();
    expect(first.data).toEqual({ id: "x1", qty: 5 });
    expect(first.event).toEqual({
      specversion: "1.0",
      id: "1234-1234-1234",
      source: "/mycontext/subcontext",
      type: "com.example.someevent",
      time: "2020-03-10T03:56:24Z",
      datacontenttype: "application/json",
      extensions: { tenant: "t9" },
    });
    expect(first.metadata["content-type"]).toBe("application/json");

    const structured = { specversion: "1.0", id: "s-1", source: "/s", type: "t", data: [1, 2] };
    await topic.publishMessage({
      data: Buffer.from(JSON.stringify(structured)),
      attributes: { "Content-Type": "application/cloudevents+json; charset=UTF-8" },
    });
    const second = await sub.receive({ signal: AbortSignal.timeout(10_000) });
    second.ack();
    expect(second.data).toEqual([1, 2]);
    expect(second.event).toEqual({ specversion: "1.0", id: "s-1", source: "/s", type: "t", extensions: {} });
  });
});
