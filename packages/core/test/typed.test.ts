/**
 * Typed topics and subscriptions on mem://: send validates then encodes,
 * receive decodes and validates once, invalid messages never reach a
 * handler (dead-lettered at once, or kept and redelivered with a log).
 */
import { randomUUID } from "node:crypto";
import {
  CONTENT_TYPE_KEY,
  type Codec,
  ErrorCode,
  json,
  type LogEvent,
  openSubscription,
  openTopic,
  type Subscription,
  type Topic,
  TypedMessage,
} from "@portable-pubsub/core";
import { type } from "arktype";
import * as v from "valibot";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";

const Order = z.object({ id: z.string(), qty: z.number().int().positive() });
const opened: (Topic<never> | Subscription<never> | Topic | Subscription)[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.shutdown();
});
function keep<T extends { shutdown(): Promise<void> }>(o: T): T {
  opened.push(o as never);
  return o;
}
const name = () => `typed-${randomUUID().slice(0, 8)}`;

describe("typed messages on mem://", () => {
  it("sends data as JSON with its content type, and hands out msg.data with transforms applied", async () => {
    const t = name();
    const WithDate = z.object({ id: z.string(), at: z.string().transform((s) => new Date(s)) });
    const topic = keep(await openTopic(`mem://${t}`, { schema: WithDate }));
    const raw = keep(await openSubscription(`mem://${t}`));
    const typed = keep(await openSubscription(`mem://${t}`, { schema: WithDate }));
    await topic.send({ data: { id: "a1", at: "2026-01-02T03:04:05.000Z" }, metadata: { region: "eu" } });
    const bytes = await raw.receive();
    bytes.ack();
    expect(bytes.text()).toBe('{"id":"a1","at":"2026-01-02T03:04:05.000Z"}');
    expect(bytes.metadata).toEqual({ region: "eu", [CONTENT_TYPE_KEY]: "application/json" });
    const msg = await typed.receive();
    msg.ack();
    expect(msg).toBeInstanceOf(TypedMessage);
    expect(msg.data.at).toBeInstanceOf(Date);
    expect(msg.data.at.toISOString()).toBe("2026-01-02T03:04:05.000Z");
    expect(msg.event).toBeUndefined();
    expect(msg.metadata.region).toBe("eu");
  });

  it("refuses data that fails the schema with InvalidArgument naming each issue's path, and sends nothing", async () => {
    const t = name();
    const topic = keep(await openTopic(`mem://${t}`, { schema: Order }));
    const raw = keep(await openSubscription(`mem://${t}`));
    const bad = { id: 7, qty: -1 } as unknown as { id: string; qty: number };
    const err = await topic.send({ data: bad }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.InvalidArgument });
    expect((err as Error).message).toMatch(/^send: the data does not match the topic's schema: id: .+; qty: .+/);
    await topic.send({ data: { id: "ok", qty: 1 } });
    const next = await raw.receive();
    next.ack();
    expect(next.text()).toBe('{"id":"ok","qty":1}');
  });

  it("sends data without metadata with the codec's content type alone; one with no UTF-8 form fails each send", async () => {
    const t = name();
    const topic = keep(await openTopic(`mem://${t}`, { schema: Order }));
    const raw = keep(await openSubscription(`mem://${t}`));
    await topic.send({ data: { id: "a", qty: 1 } });
    await topic.send({ data: { id: "b", qty: 2 } });
    for (const text of ['{"id":"a","qty":1}', '{"id":"b","qty":2}']) {
      const m = await raw.receive();
      m.ack();
      expect(m.text()).toBe(text);
      expect(m.metadata).toEqual({ [CONTENT_TYPE_KEY]: "application/json" });
    }
    const odd = { contentType: "text/x-\ud800", encode: (d: unknown) => String(d), decode: () => 1 };
    const oddTopic = keep(await openTopic(`mem://${t}`, { codec: odd }));
    for (let i = 0; i < 2; i++) {
      const err = await oddTopic.send({ data: "x" }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: ErrorCode.InvalidArgument });
      expect((err as Error).message).toBe(
        'send: metadata value for key "content-type" is not valid UTF-8 (it has a lone surrogate)',
      );
    }
  });

  it("tells a typed topic's caller to send data, not a body", async () => {
    const topic = keep(await openTopic(`mem://${name()}`, { schema: Order }));
    const sent = topic.send({ body: "x" } as never);
    await expect(sent).rejects.toThrow(/this topic has a schema or codec, so it sends data, not bytes/);
  });

  it("dead-letters garbage, schema failures and wrong content types at once, never calling the handler", async () => {
    const t = name();
    const dead = `${t}-dead`;
    keep(await openTopic(`mem://${dead}`));
    const deadSub = keep(await openSubscription(`mem://${dead}`));
    const events: LogEvent[] = [];
    const logger = { info() {}, warn: (e: LogEvent) => events.push(e), error() {} };
    const raw = keep(await openTopic(`mem://${t}`));
    const sub = keep(await openSubscription(`mem://${t}`, { schema: Order, deadLetter: `mem://${dead}`, logger }));
    const ct = { [CONTENT_TYPE_KEY]: "application/json" };
    await raw.send({ body: new Uint8Array([0xff, 0x00, 0x7b]), metadata: { ...ct, n: "1" } });
    await raw.send({ body: '{"id":"a","qty":"two"}', metadata: { ...ct, n: "2" } });
    await raw.send({ body: '{"id":"a","qty":2}', metadata: { [CONTENT_TYPE_KEY]: "text/plain", n: "3" } });
    await raw.send({ body: '{"id":"a","qty":2}', metadata: { n: "4" } });
    await raw.send({ body: '{"id":"good","qty":3}', metadata: { ...ct, n: "5" } });
    const handled: unknown[] = [];
    const processing = sub.process((m) => {
      handled.push(m.data);
    });
    const letters = [];
    for (let i = 0; i < 4; i++) {
      const m = await deadSub.receive({ signal: AbortSignal.timeout(5000) });
      m.ack();
      letters.push(m);
    }
    expect(letters.map((m) => m.metadata.n)).toEqual(["1", "2", "3", "4"]);
    expect(letters[0]?.metadata["deadletter.error"]).toMatch(
      /^invalid message: the body cannot be decoded as application\/json/,
    );
    expect(letters[1]?.metadata["deadletter.error"]).toMatch(
      /^invalid message: the data does not match the schema: qty: /,
    );
    expect(letters[2]?.metadata["deadletter.error"]).toMatch(/content type "text\/plain" is not what the codec reads/);
    expect(letters[3]?.metadata["deadletter.error"]).toMatch(/it has no content type/);
    expect(letters[0]?.body).toEqual(new Uint8Array([0xff, 0x00, 0x7b]));
    expect(letters[1]?.metadata["deadletter.attempts"]).toBe("1");
    expect(letters[1]?.metadata[CONTENT_TYPE_KEY]).toBe("application/json");
    await expect.poll(() => handled).toEqual([{ id: "good", qty: 3 }]);
    expect(events.filter((e) => e.event === "pubsub.invalid_message")).toHaveLength(4);
    await sub.shutdown();
    await processing;
  });

  it("keeps an invalid message without a dead-letter topic, redelivering it and logging each time", async () => {
    const t = name();
    const events: LogEvent[] = [];
    const logger = { info() {}, warn: (e: LogEvent) => events.push(e), error() {} };
    const raw = keep(await openTopic(`mem://${t}`));
    const sub = keep(
      await openSubscription(`mem://${t}`, { schema: Order, logger, redelivery: { initialDelayMs: 1, maxDelayMs: 5 } }),
    );
    await raw.send({ body: "not json", metadata: { [CONTENT_TYPE_KEY]: "application/json" } });
    let calls = 0;
    const processing = sub.process(() => {
      calls++;
    });
    await expect
      .poll(() => events.filter((e) => e.event === "pubsub.invalid_message").length)
      .toBeGreaterThanOrEqual(3);
    expect(calls).toBe(0);
    expect(events[0]?.message).toMatch(/kept for redelivery/);
    await sub.shutdown();
    await processing;
  });

  it("reads a JSON body without a content type only with json({ requireContentType: false })", async () => {
    const t = name();
    const raw = keep(await openTopic(`mem://${t}`));
    const lenient = keep(
      await openSubscription(`mem://${t}`, { schema: Order, codec: json({ requireContentType: false }) }),
    );
    await raw.send({ body: '{"id":"f","qty":1}' });
    const m = await lenient.receive({ signal: AbortSignal.timeout(5000) });
    m.ack();
    expect(m.data).toEqual({ id: "f", qty: 1 });
  });

  it("takes a plain codec object, and a schema that validates asynchronously", async () => {
    const t = name();
    const upper: Codec = {
      contentType: "text/x-upper",
      encode: (data) => String(data).toUpperCase(),
      decode: (body) => new TextDecoder().decode(body),
    };
    const Async = z.string().refine(async (s) => s !== "BAD", "must not be BAD");
    const dead = `${t}-dead`;
    keep(await openTopic(`mem://${dead}`));
    const deadSub = keep(await openSubscription(`mem://${dead}`));
    const topic = keep(await openTopic(`mem://${t}`, { codec: upper }));
    const sub = keep(
      await openSubscription(`mem://${t}`, { schema: Async, codec: upper, deadLetter: `mem://${dead}` }),
    );
    await topic.send({ data: "bad" });
    await topic.send({ data: "fine" });
    const got = await sub.receive({ signal: AbortSignal.timeout(5000) });
    got.ack();
    expect(got.data).toBe("FINE");
    expect(got.metadata[CONTENT_TYPE_KEY]).toBe("text/x-upper");
    const letter = await deadSub.receive({ signal: AbortSignal.timeout(5000) });
    letter.ack();
    expect(letter.metadata["deadletter.error"]).toBe(
      "invalid message: the data does not match the schema: (value): must not be BAD",
    );
  });

  it("refuses a schema or codec that is not one with InvalidArgument", async () => {
    await expect(openTopic(`mem://${name()}`, { schema: { parse() {} } as never })).rejects.toThrow(
      /Standard Schema v1/,
    );
    const t = name();
    keep(await openTopic(`mem://${t}`));
    await expect(openSubscription(`mem://${t}`, { codec: { contentType: "x" } as never })).rejects.toThrow(
      /must be a codec/,
    );
  });

  it("takes valibot and arktype schemas alike: transforms on receive, issues with paths on send", async () => {
    const schemas = {
      valibot: v.object({ id: v.string(), qty: v.pipe(v.string(), v.transform(Number), v.number()) }),
      arktype: type({ id: "string", qty: "string.numeric.parse" }),
    };
    for (const [library, schema] of Object.entries(schemas)) {
      const t = name();
      const topic = keep(await openTopic(`mem://${t}`, { schema }));
      const sub = keep(await openSubscription(`mem://${t}`, { schema }));
      await topic.send({ data: { id: library, qty: "7" } });
      const m = await sub.receive({ signal: AbortSignal.timeout(5000) });
      m.ack();
      expect(m.data).toEqual({ id: library, qty: 7 });
      const refused = await topic.send({ data: { id: 1, qty: "7" } as never }).catch((e: unknown) => e);
      expect(refused).toMatchObject({
        code: ErrorCode.InvalidArgument,
        message: expect.stringMatching(/schema: id: /),
      });
    }
  });

  it("dead-letters an invalid message's bytes to a typed dead-letter topic too", async () => {
    const t = name();
    const dead = `${t}-dead`;
    const deadTopic = keep(await openTopic(`mem://${dead}`, { schema: Order }));
    const deadSub = keep(await openSubscription(`mem://${dead}`));
    const raw = keep(await openTopic(`mem://${t}`));
    const sub = keep(await openSubscription(`mem://${t}`, { schema: Order, deadLetter: deadTopic }));
    await raw.send({ body: "garbage", metadata: { [CONTENT_TYPE_KEY]: "application/json" } });
    const processing = sub.process(() => {});
    const letter = await deadSub.receive({ signal: AbortSignal.timeout(5000) });
    letter.ack();
    expect(letter.text()).toBe("garbage");
    await sub.shutdown();
    await processing;
  });
});
