/**
 * CloudEvents on rabbit:// by the AMQP protocol binding, checked with plain
 * amqplib both ways: binary mode puts the attributes in `cloudEvents_*`
 * application properties (AMQP 0-9-1 headers) and the data's content type
 * in `content_type`; an event another AMQP program publishes that way (with
 * either separator, and native AMQP values) arrives as `msg.event`.
 */
import { cloudEvents, openSubscription, openTopic } from "@portable-pubsub/core";
import { describe, expect, it } from "vitest";
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
const codec = (mode: "binary" | "structured") =>
  cloudEvents({ source: "/orders", type: "com.example.order.created", mode });

describe.skipIf(skipWithoutBroker)("CloudEvents on rabbit://", () => {
  it("binary mode: the attributes in cloudEvents_ application properties, the content type in content_type", async () => {
    const { exchange, queue } = await exchangeAndQueue("ce-bin-out");
    const topic = await opened(openTopic(`rabbit://${exchange}`, { serverUrl: SERVER_URL, codec: codec("binary") }));
    await topic.send({
      data: { id: "a1", qty: 2 },
      metadata: { region: "eu" },
      event: { id: "e-1", time: "2026-01-02T03:04:05Z", subject: "a1", extensions: { tenant: "t1" } },
    });
    const raw = await getOne(queue);
    expect(raw.content.toString()).toBe('{"id":"a1","qty":2}');
    expect(raw.properties.contentType).toBe("application/json");
    expect(raw.properties.headers).toEqual({
      region: "eu",
      cloudEvents_specversion: "1.0",
      cloudEvents_id: "e-1",
      cloudEvents_source: "/orders",
      cloudEvents_type: "com.example.order.created",
      cloudEvents_time: "2026-01-02T03:04:05Z",
      cloudEvents_subject: "a1",
      cloudEvents_tenant: "t1",
    });
  });

  it("reads an event another AMQP program publishes by the binding, either separator, native values", async () => {
    const { exchange, queue } = await exchangeAndQueue("ce-bin-in");
    const sub = await opened(
      openSubscription(`rabbit://${queue}`, {
        serverUrl: SERVER_URL,
        codec: codec("binary"),
      }),
    );
    await publishPlain(exchange, [
      {
        body: '{"id":"x1","qty":5}',
        properties: {
          contentType: "application/json; charset=utf-8",
          headers: {
            "cloudEvents:specversion": "1.0",
            "cloudEvents:id": "1234-1234-1234",
            "cloudEvents:source": "/mycontext/subcontext",
            "cloudEvents:type": "com.example.someevent",
            // AMQP 0-9-1 timestamps are seconds since the epoch.
            "cloudEvents:time": { "!": "timestamp", value: Date.UTC(2018, 3, 5, 3, 56, 24) / 1000 },
            "cloudEvents:urgent": true,
            "cloudEvents:count": { "!": "long", value: 42 },
            other: "kept",
          },
        },
      },
      {
        body: '{"id":"x2","qty":1}',
        properties: {
          contentType: "application/json",
          headers: {
            cloudEvents_specversion: "1.0",
            cloudEvents_id: "2",
            cloudEvents_source: "/s",
            cloudEvents_type: "t",
          },
        },
      },
    ]);
    const first = await sub.receive({ signal: AbortSignal.timeout(5000) });
    first.ack();
    expect(first.data).toEqual({ id: "x1", qty: 5 });
    expect(first.event).toEqual({
      specversion: "1.0",
      id: "1234-1234-1234",
      source: "/mycontext/subcontext",
      type: "com.example.someevent",
      time: "2018-04-05T03:56:24.000Z",
      datacontenttype: "application/json; charset=utf-8",
      extensions: { urgent: "true", count: "42" },
    });
    expect(first.metadata.other).toBe("kept");
    const second = await sub.receive({ signal: AbortSignal.timeout(5000) });
    second.ack();
    expect(second.data).toEqual({ id: "x2", qty: 1 });
    expect(second.event).toMatchObject({ id: "2", source: "/s", type: "t", extensions: {} });
  });

  it("structured mode: the whole event in the body, content_type application/cloudevents+json, no properties", async () => {
    const { exchange, queue } = await exchangeAndQueue("ce-st");
    const rawQueue = unique("ce-st-raw");
    defer(await makeExchangeAndQueue(exchange, rawQueue));
    const topic = await opened(
      openTopic(`rabbit://${exchange}`, { serverUrl: SERVER_URL, codec: codec("structured") }),
    );
    const sub = await opened(
      openSubscription(`rabbit://${queue}`, { serverUrl: SERVER_URL, codec: codec("structured") }),
    );
    await topic.send({ data: { id: "s1", qty: 3 }, event: { id: "st-1" } });
    const raw = await getOne(rawQueue);
    expect(raw.properties.contentType).toBe("application/cloudevents+json");
    expect(raw.properties.headers ?? {}).toEqual({});
    expect(JSON.parse(raw.content.toString())).toMatchObject({ id: "st-1", data: { id: "s1", qty: 3 } });
    const msg = await sub.receive({ signal: AbortSignal.timeout(5000) });
    msg.ack();
    expect(msg.data).toEqual({ id: "s1", qty: 3 });
    expect(msg.event).toMatchObject({ id: "st-1", source: "/orders", type: "com.example.order.created" });
  });
});
