/**
 * The portable content type (`content-type` metadata) on rabbit:// travels
 * in the AMQP `content_type` property, checked with plain amqplib both ways:
 * what the driver publishes carries the property (and no such header), and
 * what another AMQP program publishes with the property arrives with it.
 */

import { CONTENT_TYPE_KEY, json, openSubscription, openTopic } from "@portable-pubsub/core";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  cleanupAfterEach,
  getOne,
  makeExchangeAndQueue,
  publishPlain,
  SERVER_URL,
  skipWithoutBroker,
  unique,
} from "./support.js";

const { defer, exchangeAndQueue, opened } = cleanupAfterEach();

describe.skipIf(skipWithoutBroker)("rabbit content type", () => {
  it("publishes metadata content-type as the AMQP content_type property, not as a header", async () => {
    const { exchange, queue } = await exchangeAndQueue("ct-out");
    const topic = await opened(openTopic(`rabbit://${exchange}`, { serverUrl: SERVER_URL }));
    await topic.send({ body: '{"a":1}', metadata: { [CONTENT_TYPE_KEY]: "application/json", region: "eu" } });
    await topic.send({ body: "plain", metadata: { region: "us" } });
    const first = await getOne(queue);
    expect(first.properties.contentType).toBe("application/json");
    expect(first.properties.headers).toEqual({ region: "eu" });
    expect(first.content.toString()).toBe('{"a":1}');
    const second = await getOne(queue);
    expect(second.properties.contentType).toBeUndefined();
    expect(second.properties.headers).toEqual({ region: "us" });
  });

  it("gives a plain publish's content_type property as metadata content-type", async () => {
    const { exchange, queue } = await exchangeAndQueue("ct-in");
    const subscription = await opened(openSubscription(`rabbit://${queue}`, { serverUrl: SERVER_URL }));
    await publishPlain(exchange, [
      { body: "<a/>", properties: { contentType: "text/xml", headers: { kind: "x" } } },
      { body: "none", properties: { headers: { kind: "y" } } },
    ]);
    const first = await subscription.receive({ signal: AbortSignal.timeout(5000) });
    first.ack();
    expect(first.metadata).toEqual({ [CONTENT_TYPE_KEY]: "text/xml", kind: "x" });
    expect(first.text()).toBe("<a/>");
    const second = await subscription.receive({ signal: AbortSignal.timeout(5000) });
    second.ack();
    expect(second.metadata).toEqual({ kind: "y" });
  });

  it("refuses a content type longer than AMQP's 255-byte content_type with InvalidArgument, sending nothing", async () => {
    const exchange = unique("ct-long");
    defer(await makeExchangeAndQueue(exchange, undefined));
    const topic = await opened(openTopic(`rabbit://${exchange}`, { serverUrl: SERVER_URL }));
    const sent = topic.send({ body: "x", metadata: { [CONTENT_TYPE_KEY]: `application/${"x".repeat(250)}` } });
    await expect(sent).rejects.toMatchObject({
      code: "InvalidArgument",
      message: expect.stringMatching(/content_type/),
    });
  });

  it("reads a foreign producer's JSON without a content type with json({ requireContentType: false }), and not by default", async () => {
    const { exchange, queue } = await exchangeAndQueue("ct-foreign");
    const strictQueue = unique("ct-foreign-strict");
    defer(await makeExchangeAndQueue(exchange, strictQueue));
    const dead = unique("ct-foreign-dead");
    defer(await makeExchangeAndQueue(dead, dead));
    const Order = z.object({ id: z.string(), qty: z.number() });
    const lenient = await opened(
      openSubscription(`rabbit://${queue}`, {
        serverUrl: SERVER_URL,
        schema: Order,
        codec: json({ requireContentType: false }),
      }),
    );
    const deadTopic = await opened(openTopic(`rabbit://${dead}`, { serverUrl: SERVER_URL }));
    const strict = await opened(
      openSubscription(`rabbit://${strictQueue}`, {
        serverUrl: SERVER_URL,
        schema: Order,
        deadLetter: deadTopic,
      }),
    );
    await publishPlain(exchange, [{ body: '{"id":"py-1","qty":4}', properties: { headers: { from: "pika" } } }]);
    const message = await lenient.receive({ signal: AbortSignal.timeout(5000) });
    message.ack();
    expect(message.data).toEqual({ id: "py-1", qty: 4 });
    expect(message.metadata).toEqual({ from: "pika" });
    // By default the same message is invalid: it is dead-lettered, never handed out.
    const handled: unknown[] = [];
    const processing = strict.process((m) => {
      handled.push(m.data);
    });
    const letter = await getOne(dead);
    expect(letter.content.toString()).toBe('{"id":"py-1","qty":4}');
    expect(String(letter.properties.headers?.["deadletter.error"])).toMatch(/^invalid message: it has no content type/);
    await strict.shutdown();
    await processing;
    expect(handled).toEqual([]);
  });
});
