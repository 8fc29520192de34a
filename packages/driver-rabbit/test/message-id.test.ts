/**
 * The message id on rabbit:// is the AMQP `message_id` property, checked
 * with plain amqplib both ways: what the driver publishes carries it, a
 * plain publish's message_id is the received id, and a plain publish
 * without one gets a generated id that its redelivered copies keep.
 */
import { openSubscription, openTopic } from "@portable-pubsub/core";
import { describe, expect, it } from "vitest";
import { cleanupAfterEach, getOne, publishPlain, SERVER_URL, skipWithoutBroker } from "./support.js";

const { exchangeAndQueue, opened } = cleanupAfterEach();
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe.skipIf(skipWithoutBroker)("rabbit message ids", () => {
  it("publishes the message id as the AMQP message_id property, not as a header", async () => {
    const { exchange, queue } = await exchangeAndQueue("id-out");
    const topic = await opened(openTopic(`rabbit://${exchange}`, { serverUrl: SERVER_URL }));
    await topic.send({ id: "order-17 ✓", body: "a", metadata: { k: "v" } });
    await topic.send({ body: "b" });
    const first = await getOne(queue);
    expect([first.properties.messageId, first.properties.headers]).toEqual(["order-17 ✓", { k: "v" }]);
    const second = await getOne(queue);
    expect(second.properties.messageId).toMatch(UUID_V7);
  });

  it("gives a plain publish's message_id as the id, and one without it a generated id that its copies keep", async () => {
    const { exchange, queue } = await exchangeAndQueue("id-in");
    const subscription = await opened(openSubscription(`rabbit://${queue}`, { serverUrl: SERVER_URL }));
    await publishPlain(exchange, [
      { body: "with", properties: { messageId: "ext-1" } },
      { body: "without", properties: {} },
    ]);
    const receive = () => subscription.receive({ signal: AbortSignal.timeout(10_000) });
    const withId = await receive();
    const withoutId = await receive();
    expect([withId.text(), withId.id, withoutId.text()]).toEqual(["with", "ext-1", "without"]);
    expect(withoutId.id).toMatch(UUID_V7);
    withId.nack({ delayMs: 0 });
    withoutId.nack({ delayMs: 300 }); // through a delay queue
    const again = [await receive(), await receive()];
    for (const message of again) message.ack();
    const ids = Object.fromEntries(again.map((m) => [m.text(), [m.id, m.deliveryAttempt]]));
    expect(ids).toEqual({ with: ["ext-1", 2], without: [withoutId.id, 2] });
  });
});
