/**
 * The portable content type on nats:// is the `content-type` header,
 * checked with a plain JetStream client both ways.
 */
import { AckPolicy, jetstream } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { CONTENT_TYPE_KEY, openSubscription, openTopic } from "@portable-pubsub/core";
import { beforeAll, describe, expect, it } from "vitest";
import { consumerFixtures, NATS_URL, requireNats, skipNats } from "./helpers.js";

describe.skipIf(skipNats)("nats content type", () => {
  beforeAll(requireNats);
  const fixtures = consumerFixtures("ctype");

  it("sends metadata content-type as the content-type header", async () => {
    const { adminNc, jsm, stream } = await fixtures.setup(30_000);
    await jsm.consumers.add(stream, { durable_name: "raw", ack_policy: AckPolicy.Explicit });
    const topic = await openTopic(`nats://${stream}`, { serverUrl: NATS_URL });
    fixtures.defer(() => topic.shutdown());
    await topic.send({ body: "{}", metadata: { [CONTENT_TYPE_KEY]: "application/json" } });
    const consumer = await jetstream(adminNc).consumers.get(stream, "raw");
    const raw = await consumer.next({ expires: 5000 });
    expect(raw?.headers?.get("content-type")).toBe("application/json");
    expect(raw?.string()).toBe("{}");
    raw?.ack();
  });

  it("gives a plain publish's Content-Type header as metadata content-type", async () => {
    const { adminNc, stream } = await fixtures.setup(30_000);
    const subscription = await openSubscription(`nats://${stream}?consumer=c`, { serverUrl: NATS_URL });
    fixtures.defer(() => subscription.shutdown());
    const h = headers();
    h.set("Content-Type", "text/xml");
    h.set("kind", "x");
    await jetstream(adminNc).publish(stream, "<a/>", { headers: h });
    const message = await subscription.receive({ signal: AbortSignal.timeout(5000) });
    message.ack();
    expect(message.metadata).toEqual({ [CONTENT_TYPE_KEY]: "text/xml", kind: "x" });
    expect(message.text()).toBe("<a/>");
  });
});
