import { CONTENT_TYPE_KEY, type StandardSchemaV1, TypedMessage } from "@portable-pubsub/core/driver";
import { expect, it } from "vitest";
import type { SuiteContext } from "../context.js";

interface Order {
  id: string;
  qty: number;
}

/**
 * A Standard Schema v1 written by hand, as any schema library's would be:
 * an order is an object with a string `id` and a positive whole `qty`.
 */
const OrderSchema: StandardSchemaV1<Order> = {
  "~standard": {
    version: 1,
    vendor: "conformance",
    validate(value) {
      const issues: StandardSchemaV1.Issue[] = [];
      const record = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
      if (!record) return { issues: [{ message: "expected an object" }] };
      if (typeof record.id !== "string") issues.push({ message: "expected a string", path: ["id"] });
      const qty = record.qty;
      if (typeof qty !== "number" || !Number.isInteger(qty) || qty < 1) {
        issues.push({ message: "expected a positive whole number", path: [{ key: "qty" }] });
      }
      return issues.length > 0 ? { issues } : { value: { id: record.id as string, qty: qty as number } };
    },
  },
};

const JSON_TYPE = { [CONTENT_TYPE_KEY]: "application/json" };

/**
 * Typed messages: data round-trips through a schema and the JSON codec, and
 * invalid messages (undecodable, failing the schema, of another content
 * type) never reach a handler: each is dead-lettered once, with the reason.
 */
export function typedCases(ctx: SuiteContext): void {
  it("round-trips typed data as JSON with its content type", async () => {
    const { topic, subscription, openedTopic } = await ctx.pair(
      "typed-round-trip",
      { schema: OrderSchema },
      {
        schema: OrderSchema,
      },
    );
    const raw = await ctx.openSubscription(openedTopic, "typed-round-trip-raw");
    await topic.send({ data: { id: "a1", qty: 2 }, metadata: { region: "eu" } } as never);
    const [message] = await ctx.receiveN(subscription, 1);
    expect(message).toBeInstanceOf(TypedMessage);
    expect((message as TypedMessage<Order>).data).toEqual({ id: "a1", qty: 2 });
    expect(message?.metadata).toMatchObject({ region: "eu", ...JSON_TYPE });
    const [bytes] = await ctx.receiveN(raw.subscription, 1);
    expect(bytes?.text()).toBe('{"id":"a1","qty":2}');
    expect(bytes?.metadata[CONTENT_TYPE_KEY]).toBe("application/json");
  });

  it("refuses to send data that fails the schema, naming the issue's path", async () => {
    const { topic } = await ctx.pair("typed-send-invalid", { schema: OrderSchema });
    const sent = topic.send({ data: { id: "a1", qty: 0 } } as never);
    await expect(sent).rejects.toMatchObject({
      code: "InvalidArgument",
      message: expect.stringMatching(/qty: expected a positive whole number/),
    });
  });

  it("dead-letters garbage, a schema failure and a wrong content type once each, never calling the handler", async () => {
    const deadLetters = await ctx.openTopic("typed-dead-letters");
    const deadLetterSub = await ctx.openSubscription(deadLetters, "typed-dead-letters");
    const { topic, subscription } = await ctx.pair("typed-invalid", undefined, {
      schema: OrderSchema,
      deadLetter: deadLetters.topic,
    });
    await topic.send({ body: new Uint8Array([0xff, 0x00, 0x7b, 0xfe]), metadata: { ...JSON_TYPE, n: "1" } });
    await topic.send({ body: '{"id":"a1","qty":"two"}', metadata: { ...JSON_TYPE, n: "2" } });
    await topic.send({ body: '{"id":"a1","qty":2}', metadata: { [CONTENT_TYPE_KEY]: "text/plain", n: "3" } });
    const handled: unknown[] = [];
    const processing = subscription.process((message) => {
      handled.push((message as TypedMessage<Order>).data);
    });
    const letters = await ctx.receiveN(deadLetterSub.subscription, 3);
    letters.sort((a, b) => Number(a.metadata.n) - Number(b.metadata.n));
    expect(letters.map((m) => m.metadata.n)).toEqual(["1", "2", "3"]);
    const errors = letters.map((m) => m.metadata["deadletter.error"]);
    expect(errors[0]).toMatch(/^invalid message: the body cannot be decoded as application\/json/);
    expect(errors[1]).toBe(
      "invalid message: the data does not match the schema: qty: expected a positive whole number",
    );
    expect(errors[2]).toMatch(/^invalid message: its content type "text\/plain" is not what the codec reads/);
    expect(letters.map((m) => m.metadata["deadletter.attempts"])).toEqual(["1", "1", "1"]);
    expect(Array.from(letters[0]?.body ?? [])).toEqual([0xff, 0x00, 0x7b, 0xfe]);
    expect(letters[1]?.metadata[CONTENT_TYPE_KEY]).toBe("application/json");
    expect(letters[2]?.metadata[CONTENT_TYPE_KEY]).toBe("text/plain");
    await topic.send({ body: '{"id":"good","qty":3}', metadata: JSON_TYPE });
    const deadline = Date.now() + ctx.receiveTimeoutMs;
    while (handled.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await ctx.nothingWithin(deadLetterSub.subscription, 1000)).toBe(true);
    await subscription.shutdown();
    await processing;
    expect(handled).toEqual([{ id: "good", qty: 3 }]);
  });
}
