/**
 * CloudEvents through typed topics and subscriptions on mem://: a round trip
 * in each content mode, per-send attributes, and events that are not valid
 * dead-lettered with the reason, never handed to a handler.
 */
import { randomUUID } from "node:crypto";
import { cloudEvents, type LogEvent, openSubscription, openTopic, type Subscription } from "@portable-pubsub/core";
import { CloudEvent, HTTP } from "cloudevents";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";

const Order = z.object({ id: z.string(), qty: z.number().int().positive() });
const opened: { shutdown(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.shutdown();
});
function keep<T extends { shutdown(): Promise<void> }>(o: T): T {
  opened.push(o);
  return o;
}
const name = () => `ce-${randomUUID().slice(0, 8)}`;
const codecOf = (mode: "binary" | "structured") =>
  cloudEvents({ source: "/orders", type: "com.example.order.created", mode });

describe("CloudEvents on mem://", () => {
  for (const mode of ["structured", "binary"] as const) {
    it(`round-trips data and attributes in ${mode} mode, with per-send overrides`, async () => {
      const t = name();
      const topic = keep(await openTopic(`mem://${t}`, { schema: Order, codec: codecOf(mode) }));
      const sub = keep(await openSubscription(`mem://${t}`, { schema: Order, codec: codecOf(mode) }));
      await topic.send({ data: { id: "a1", qty: 2 }, metadata: { region: "eu" } });
      await topic.send({
        data: { id: "b2", qty: 1 },
        event: { id: "fixed-id", subject: "b2", type: "com.example.order.updated", extensions: { tenant: "t1" } },
      });
      const first = await sub.receive();
      const second = await sub.receive();
      first.ack();
      second.ack();
      expect(first.data).toEqual({ id: "a1", qty: 2 });
      expect(first.metadata.region).toBe("eu");
      expect(first.event).toMatchObject({
        source: "/orders",
        type: "com.example.order.created",
        specversion: "1.0",
        datacontenttype: "application/json",
        extensions: {},
      });
      expect(first.event?.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(Number.isNaN(Date.parse(first.event?.time ?? ""))).toBe(false);
      expect(second.data).toEqual({ id: "b2", qty: 1 });
      expect(second.event).toEqual({
        id: "fixed-id",
        source: "/orders",
        type: "com.example.order.updated",
        specversion: "1.0",
        subject: "b2",
        time: second.event?.time,
        datacontenttype: "application/json",
        extensions: { tenant: "t1" },
      });
      if (mode === "binary") {
        expect(second.text()).toBe('{"id":"b2","qty":1}');
        expect(second.metadata).toMatchObject({
          "content-type": "application/json",
          "ce-id": "fixed-id",
          "ce-tenant": "t1",
          "ce-specversion": "1.0",
        });
      } else {
        expect(second.metadata["content-type"]).toBe("application/cloudevents+json");
        expect(JSON.parse(second.text()).data).toEqual({ id: "b2", qty: 1 });
      }
    });
  }

  it("hands a subscriber the same msg.event and msg.data as the SDK's structured event holds", async () => {
    const t = name();
    const raw = keep(await openTopic(`mem://${t}`));
    const sub = keep(await openSubscription(`mem://${t}`, { schema: Order, codec: codecOf("binary") }));
    const sdkEvent = new CloudEvent({
      id: "sdk-1",
      source: "urn:sdk",
      type: "com.example.sdk",
      subject: "s",
      time: "2026-05-06T07:08:09.000Z",
      datacontenttype: "application/json",
      dataschema: "https://example.com/order",
      tenant: "t9",
      data: { id: "z9", qty: 3 },
    });
    const { headers, body } = HTTP.structured(sdkEvent);
    await raw.send({ body: body as string, metadata: { "content-type": String(headers["content-type"]) } });
    const msg = await sub.receive();
    msg.ack();
    expect(msg.data).toEqual(sdkEvent.data);
    expect(msg.event).toEqual({
      id: sdkEvent.id,
      source: sdkEvent.source,
      type: sdkEvent.type,
      specversion: sdkEvent.specversion,
      subject: sdkEvent.subject,
      time: sdkEvent.time,
      datacontenttype: sdkEvent.datacontenttype,
      dataschema: sdkEvent.dataschema,
      extensions: { tenant: "t9" },
    });
  });

  it("dead-letters events that are not valid at once, with the reason, and processes the good one after them", async () => {
    const t = name();
    const dead = name();
    const raw = keep(await openTopic(`mem://${t}`));
    keep(await openTopic(`mem://${dead}`));
    const deadSub = keep(await openSubscription(`mem://${dead}`));
    const logged: LogEvent[] = [];
    const log = (event: LogEvent) => void logged.push(event);
    const sub: Subscription<typeof Order> = keep(
      await openSubscription(`mem://${t}`, {
        schema: Order,
        codec: codecOf("structured"),
        deadLetter: `mem://${dead}`,
        redelivery: { maxAttempts: 5, initialDelayMs: 1, maxDelayMs: 1 },
        logger: { info: log, warn: log, error: log },
      }),
    );
    const structured = { "content-type": "application/cloudevents+json" };
    const valid = { specversion: "1.0", id: "1", source: "/s", type: "t", data: { id: "ok", qty: 1 } };
    const bad: [string, Record<string, string>, string][] = [
      [JSON.stringify({ ...valid, id: undefined }), structured, 'the required attribute "id" is missing'],
      [JSON.stringify({ ...valid, specversion: "0.3" }), structured, 'specversion is "0.3"'],
      [JSON.stringify(valid), { "content-type": "text/plain" }, "text/plain"],
      [
        '{"id":"no","qty":1}',
        { "content-type": "application/json", "ce-specversion": "1.0", "ce-source": "/s", "ce-type": "t" },
        'the required attribute "id" is missing',
      ],
      [JSON.stringify({ ...valid, data: { id: "x", qty: -1 } }), structured, "qty"],
    ];
    for (const [body, metadata] of bad) await raw.send({ body, metadata });
    await raw.send({ body: JSON.stringify(valid), metadata: structured });

    const handled: unknown[] = [];
    let done: () => void = () => {};
    const good = new Promise<void>((resolve) => {
      done = resolve;
    });
    const processing = sub.process(async (msg) => {
      handled.push(msg.data);
      done();
    });
    await good;
    const letters = [];
    for (let i = 0; i < bad.length; i++) {
      const letter = await deadSub.receive({ signal: AbortSignal.timeout(2000) });
      letter.ack();
      letters.push(letter);
    }
    await expect(deadSub.receive({ signal: AbortSignal.timeout(100) })).rejects.toThrow();
    await sub.shutdown();
    await processing;
    expect(handled).toEqual([{ id: "ok", qty: 1 }]);
    for (const [i, [body, , reason]] of bad.entries()) {
      const letter = letters.find((l) => l.text() === body);
      expect(letter?.metadata["deadletter.error"], `case ${i}`).toContain(reason);
      expect(letter?.metadata["deadletter.attempts"], `case ${i}`).toBe("1");
    }
  });
});
