/**
 * CloudEvents on nats:// by the NATS protocol binding: a round trip in each
 * content mode through JetStream, binary mode's headers seen by a plain
 * JetStream client, and a binding publish (ce-datacontenttype, no
 * Content-Type) read into `msg.event`.
 */
import { AckPolicy, jetstream } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { cloudEvents, openSubscription, openTopic } from "@portable-pubsub/core";
import { beforeAll, describe, expect, it } from "vitest";
import { consumerFixtures, NATS_URL, requireNats, skipNats } from "./helpers.js";

const codec = (mode: "binary" | "structured") =>
  cloudEvents({ source: "/orders", type: "com.example.order.created", mode });

describe.skipIf(skipNats)("CloudEvents on nats://", () => {
  beforeAll(requireNats);
  const fixtures = consumerFixtures("cloudevents");

  for (const mode of ["binary", "structured"] as const) {
    it(`round-trips data and attributes in ${mode} mode`, async () => {
      const { stream } = await fixtures.setup(30_000);
      const topic = await openTopic(`nats://${stream}`, { serverUrl: NATS_URL, codec: codec(mode) });
      const sub = await openSubscription(`nats://${stream}?consumer=c`, { serverUrl: NATS_URL, codec: codec(mode) });
      fixtures.defer(() => topic.shutdown());
      fixtures.defer(() => sub.shutdown());
      await topic.send({
        data: { id: "a1", qty: 2 },
        metadata: { region: "eu" },
        event: { id: "e-1", subject: "orders/eu west — ü", time: "2026-01-02T03:04:05Z", extensions: { tenant: "t1" } },
      });
      const msg = await sub.receive({ signal: AbortSignal.timeout(5000) });
      msg.ack();
      expect(msg.data).toEqual({ id: "a1", qty: 2 });
      expect(msg.metadata.region).toBe("eu");
      expect(msg.event).toEqual({
        specversion: "1.0",
        id: "e-1",
        source: "/orders",
        type: "com.example.order.created",
        subject: "orders/eu west — ü",
        time: "2026-01-02T03:04:05Z",
        datacontenttype: "application/json",
        extensions: { tenant: "t1" },
      });
    });
  }

  it("binary mode: ce- headers with percent-encoded values and ce-datacontenttype, as a plain client sees them", async () => {
    const { adminNc, jsm, stream } = await fixtures.setup(30_000);
    await jsm.consumers.add(stream, { durable_name: "raw", ack_policy: AckPolicy.Explicit });
    const topic = await openTopic(`nats://${stream}`, { serverUrl: NATS_URL, codec: codec("binary") });
    fixtures.defer(() => topic.shutdown());
    await topic.send({ data: [1], event: { id: "e 2", subject: '"quoted" 100%' } });
    const raw = await (await jetstream(adminNc).consumers.get(stream, "raw")).next({ expires: 5000 });
    raw?.ack();
    expect(raw?.string()).toBe("[1]");
    expect(raw?.headers?.get("ce-specversion")).toBe("1.0");
    expect(raw?.headers?.get("ce-id")).toBe("e%202");
    expect(raw?.headers?.get("ce-subject")).toBe("%22quoted%22%20100%25");
    expect(raw?.headers?.get("ce-source")).toBe("/orders");
    expect(raw?.headers?.get("ce-type")).toBe("com.example.order.created");
    expect(raw?.headers?.get("ce-datacontenttype")).toBe("application/json");
    expect(raw?.headers?.get("content-type")).toBe("application/json");
  });

  it("reads a binding publish that names the content type only in ce-datacontenttype", async () => {
    const { adminNc, stream } = await fixtures.setup(30_000);
    const sub = await openSubscription(`nats://${stream}?consumer=c`, { serverUrl: NATS_URL, codec: codec("binary") });
    fixtures.defer(() => sub.shutdown());
    const h = headers();
    h.set("ce-specversion", "1.0");
    h.set("ce-id", "1234-1234-1234");
    h.set("ce-source", "/mycontext/subcontext");
    h.set("ce-type", "com.example.someevent");
    h.set("ce-datacontenttype", "application/json");
    await jetstream(adminNc).publish(stream, '{"n":1}', { headers: h });
    const msg = await sub.receive({ signal: AbortSignal.timeout(5000) });
    msg.ack();
    expect(msg.data).toEqual({ n: 1 });
    expect(msg.event).toEqual({
      specversion: "1.0",
      id: "1234-1234-1234",
      source: "/mycontext/subcontext",
      type: "com.example.someevent",
      datacontenttype: "application/json",
      extensions: {},
    });
  });
});
