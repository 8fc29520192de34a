/**
 * Message ids: generated ones are UUIDv7s, unique and sorted in the order
 * they were made; an application's own is checked and carried unchanged,
 * on untyped and typed sends; a received message has the id it was sent with.
 */
import { randomUUID } from "node:crypto";
import { ErrorCode, errorCode, openSubscription, openTopic, Topic } from "@portable-pubsub/core";
import { MESSAGE_ID_KEY, messageIdFromMetadata, messageIdToMetadata } from "@portable-pubsub/core/driver";
import { MemBroker, openMemSubscription, openMemTopic } from "@portable-pubsub/driver-memory";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { checkMessageId, newMessageId } from "../src/message-id.js";
import { ScriptedTopicDriver } from "./fake-driver.js";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("generated message ids", () => {
  it("are UUIDv7s whose time is the time they were made", () => {
    const before = Date.now();
    const id = newMessageId();
    const after = Date.now();
    expect(id).toMatch(UUID_V7);
    const ms = Number.parseInt(id.replaceAll("-", "").slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(after);
  });

  it("are unique and sort in the order they were made, many in one millisecond", () => {
    const ids = Array.from({ length: 200_000 }, () => newMessageId());
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1; i < ids.length; i++) {
      if (!((ids[i - 1] as string) < (ids[i] as string))) {
        throw new Error(`id ${i} (${ids[i]}) does not sort after id ${i - 1} (${ids[i - 1]})`);
      }
    }
    for (const id of ids) if (!UUID_V7.test(id)) throw new Error(`${id} is not a UUIDv7`);
    // Many ids shared a millisecond, so the counter, not the clock, ordered them.
    const millis = new Set(ids.map((id) => id.slice(0, 13)));
    expect(millis.size).toBeLessThan(ids.length / 2);
  });

  it("keep sorting in order when the clock steps back", async () => {
    const realNow = Date.now;
    const first = newMessageId();
    try {
      Date.now = () => realNow() - 60_000;
      // The ids of one burst share a reading of the clock: the next burst reads the stepped-back one.
      await Promise.resolve();
      const second = newMessageId();
      const third = newMessageId();
      expect(first < second && second < third).toBe(true);
    } finally {
      Date.now = realNow;
    }
  });

  it("read the clock at least once per 64 ids, and again after the microtasks that made them", async () => {
    const realNow = Date.now;
    let reads = 0;
    let clock = realNow() + 3_600_000;
    try {
      Date.now = () => {
        reads++;
        clock += 1;
        return clock;
      };
      await Promise.resolve();
      const burst = Array.from({ length: 200 }, () => newMessageId());
      expect(reads).toBe(4);
      const millis = (id: string) => Number.parseInt(id.replaceAll("-", "").slice(0, 12), 16);
      expect(burst.map(millis)).toEqual([64, 64, 64, 8].flatMap((n, i) => Array(n).fill(clock - 3 + i)));
      await Promise.resolve();
      expect(millis(newMessageId())).toBe(clock);
      expect(reads).toBe(5);
    } finally {
      Date.now = realNow;
    }
  });

  it("are given to every message sent without one, each its own, in send order", async () => {
    const driver = new ScriptedTopicDriver();
    const topic = new Topic(driver);
    await Promise.all(Array.from({ length: 100 }, (_, i) => topic.send({ body: String(i) })));
    const sent = driver.batches.flat();
    const ids = sent.map((m) => m.id as string);
    expect(ids).toHaveLength(100);
    expect(new Set(ids).size).toBe(100);
    expect([...ids].sort()).toEqual(ids);
    expect(sent.map((m) => new TextDecoder().decode(m.body))).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
  });
});

describe("an application's message id", () => {
  it("is sent as given, on an untyped and on a typed topic", async () => {
    const driver = new ScriptedTopicDriver();
    await new Topic(driver).send({ id: "order-17", body: "x" });
    const schema = z.object({ n: z.number() });
    const typed = new Topic<typeof schema>(driver, { schema });
    await typed.send({ id: "order-18", data: { n: 1 } });
    const asyncSchema = schema.refine(async () => true);
    await new Topic<typeof asyncSchema>(driver, { schema: asyncSchema }).send({ id: "order-19", data: { n: 2 } });
    await typed.send({ data: { n: 3 } });
    const ids = driver.batches.flat().map((m) => m.id);
    expect(ids.slice(0, 3)).toEqual(["order-17", "order-18", "order-19"]);
    expect(ids[3]).toMatch(UUID_V7);
  });

  it("is rejected with InvalidArgument naming the problem, and nothing is sent", async () => {
    const driver = new ScriptedTopicDriver();
    const topic = new Topic(driver);
    const schema = z.object({ n: z.number() });
    const typed = new Topic<typeof schema>(driver, { schema });
    const failure = async (id: unknown, on: "untyped" | "typed" = "untyped") => {
      const sent =
        on === "untyped" ? topic.send({ id, body: "x" } as never) : typed.send({ id, data: { n: 1 } } as never);
      const err = await sent.then(
        () => undefined,
        (e: unknown) => e,
      );
      return { code: errorCode(err), message: (err as Error | undefined)?.message };
    };
    const max = `${"é".repeat(127)}a`; // MAX_MESSAGE_ID_BYTES
    expect(Buffer.byteLength(max)).toBe(255);
    await topic.send({ id: max, body: "x" });
    expect(await failure("")).toEqual({
      code: ErrorCode.InvalidArgument,
      message: "send: id is empty; give a non-empty string, or leave id out and one is generated",
    });
    expect(await failure(17)).toEqual({
      code: ErrorCode.InvalidArgument,
      message: "send: id must be a string, got number; or leave it out and one is generated",
    });
    expect(await failure(null, "typed")).toEqual({
      code: ErrorCode.InvalidArgument,
      message: "send: id must be a string, got null; or leave it out and one is generated",
    });
    expect(await failure(`${max}a`)).toEqual({
      code: ErrorCode.InvalidArgument,
      message:
        "send: id is 256 bytes of UTF-8, longer than the 255 a message id may have; use a shorter key (or a hash of it)",
    });
    expect(await failure("a\uD800")).toEqual({
      code: ErrorCode.InvalidArgument,
      message: "send: id is not valid UTF-8 (it has a lone surrogate)",
    });
    expect(await failure("a\nb", "typed")).toEqual({
      code: ErrorCode.InvalidArgument,
      message:
        'send: id "a\\nb" contains a control character (such as a line break), which brokers\' id fields cannot carry',
    });
    expect(await failure(" a")).toEqual({
      code: ErrorCode.InvalidArgument,
      message: 'send: id " a" has white space at its start or end, which brokers\' headers trim; remove it',
    });
    expect(driver.batches.flat().map((m) => m.id)).toEqual([max]);
  });

  it("accepts any printable Unicode", () => {
    for (const id of ["a", "order:17/line 2", "注文-١٧", "😀", "a b", "x".repeat(255)])
      expect(checkMessageId(id)).toBe(id);
  });
});

describe("received message ids on mem://", () => {
  it("are the sent id on first delivery, on redelivery and in the dead letter", async () => {
    const name = `ids-${randomUUID().slice(0, 8)}`;
    const topic = await openTopic(`mem://${name}`);
    const subscription = await openSubscription(`mem://${name}`, {
      redelivery: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 1 },
      deadLetter: `mem://${name}-dead`,
    });
    const dead = await openSubscription(`mem://${name}-dead`);
    try {
      await topic.send({ id: "order-1", body: "a" });
      await topic.send({ body: "b" });
      const first = await subscription.receive({ signal: AbortSignal.timeout(5000) });
      const second = await subscription.receive({ signal: AbortSignal.timeout(5000) });
      expect(first.id).toBe("order-1");
      expect(second.id).toMatch(UUID_V7);
      second.ack();
      first.nack({ delayMs: 0 });
      const again = await subscription.receive({ signal: AbortSignal.timeout(5000) });
      expect([again.id, again.deliveryAttempt]).toEqual(["order-1", 2]);
      again.nack({ delayMs: 0 });
      const letter = await dead.receive({ signal: AbortSignal.timeout(5000) });
      expect([letter.id, letter.text(), letter.metadata["deadletter.attempts"]]).toEqual(["order-1", "a", "2"]);
      letter.ack();
    } finally {
      await Promise.all([topic.shutdown(), subscription.shutdown(), dead.shutdown()]);
    }
  });
});

describe("a dead letter of a message whose broker id no send accepts", () => {
  it("gets a generated id instead, so that the dead-letter send cannot fail on it", async () => {
    const name = `ids-${randomUUID().slice(0, 8)}`;
    const broker = new MemBroker();
    const topic = openMemTopic(name, { broker });
    const subscription = openMemSubscription(name, {
      broker,
      redelivery: { maxAttempts: 1, initialDelayMs: 1, maxDelayMs: 1 },
      deadLetter: openMemTopic(`${name}-dead`, { broker }),
    });
    const dead = openMemSubscription(`${name}-dead`, { broker });
    try {
      // As another program could publish it: an id with a line break, which send({ id }) refuses.
      broker.publish(name, [{ id: "bad\nid", body: new TextEncoder().encode("x"), metadata: {} }]);
      const message = await subscription.receive({ signal: AbortSignal.timeout(5000) });
      expect(message.id).toBe("bad\nid");
      message.nack({ delayMs: 0 });
      const letter = await dead.receive({ signal: AbortSignal.timeout(5000) });
      letter.ack();
      expect([letter.text(), letter.metadata["deadletter.attempts"]]).toEqual(["x", "1"]);
      expect(letter.id).toMatch(UUID_V7);
    } finally {
      await Promise.all([topic.shutdown(), subscription.shutdown(), dead.shutdown()]);
    }
  });
});

describe("the kit's metadata carriage of an id", () => {
  it("adds the id under pubsub.id and takes it back out; a message without it gets the fallback", () => {
    const sent = messageIdToMetadata("order-1", { k: "v" });
    expect(sent).toEqual({ k: "v", [MESSAGE_ID_KEY]: "order-1" });
    expect(MESSAGE_ID_KEY).toBe("pubsub.id");
    expect(messageIdFromMetadata(sent, "broker-7")).toEqual({ id: "order-1", metadata: { k: "v" } });
    expect(messageIdFromMetadata({ k: "v" }, "broker-7")).toEqual({ id: "broker-7", metadata: { k: "v" } });
  });
});
