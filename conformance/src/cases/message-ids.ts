import { MESSAGE_ID_KEY, type Message } from "@portable-pubsub/core/driver";
import { expect, it } from "vitest";
import type { SuiteContext } from "../context.js";

/** A UUIDv7 as text: what the portable layer generates for a message sent without an id. */
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * Message ids: the id a message is sent with is the id it is received with,
 * on its first delivery and on every redelivery, and a message sent without
 * one is received with the unique id the portable layer generated for it.
 */
export function messageIdCases(ctx: SuiteContext): void {
  it("receives the id a message was sent with, on first delivery and on redelivery", async ({ skip }) => {
    if (!ctx.caps.canNack && ctx.caps.ackDeadlineMs === undefined) {
      skip(`${ctx.caps.name} cannot nack and has no ack deadline`);
    }
    const deadline = ctx.caps.ackDeadlineMs ?? 0;
    // No lease extension: a driver that cannot nack redelivers once the ack deadline passes.
    const { topic, subscription } = await ctx.pair("message-id", undefined, { maxExtensionMs: 1 });
    // A business key with non-ASCII text and punctuation, as applications use.
    const id = `order:17/ü✓-${ctx.unique("id")}`;
    await topic.send({ id, body: "with id", metadata: { k: "v" } });
    const timeoutMs = ctx.receiveTimeoutMs + deadline * 3;
    const seen: [string, string, number | undefined][] = [];
    const record = (message: Message | undefined) => {
      seen.push([message?.id ?? "(none)", message?.text() ?? "", message?.deliveryAttempt]);
      // The id is not metadata: a driver that carries it there takes it out again.
      expect(message?.metadata).toEqual({ k: "v" });
      expect(MESSAGE_ID_KEY in (message?.metadata ?? {})).toBe(false);
    };
    const [first] = await ctx.receiveN(subscription, 1, { ack: false, timeoutMs });
    record(first);
    // Redelivered at once, then through a delay (drivers that delay by republishing a copy must keep the id).
    if (ctx.caps.canNack) first?.nack({ delayMs: 0 });
    const [second] = await ctx.receiveN(subscription, 1, { ack: false, timeoutMs });
    record(second);
    if (ctx.caps.canNack) second?.nack({ delayMs: 200 });
    const [third] = await ctx.receiveN(subscription, 1, { timeoutMs: timeoutMs + 200 });
    record(third);
    expect(seen.map(([seenId, body]) => [seenId, body])).toEqual([
      [id, "with id"],
      [id, "with id"],
      [id, "with id"],
    ]);
    const attempts = seen.map(([, , attempt]) => attempt);
    if (attempts[0] !== undefined) expect(attempts).toEqual([1, 2, 3]);
  });

  it("gives each message sent without an id its own generated one, which sorts in send order", async () => {
    const { topic, subscription } = await ctx.pair("message-id-generated");
    const count = 20;
    // One at a time, so that send order is clear whatever order the driver delivers in.
    for (let i = 0; i < count; i++) await topic.send({ body: String(i).padStart(2, "0") });
    const received = await ctx.receiveN(subscription, count);
    const ids = received.map((m) => m.id);
    for (const id of ids) expect(id).toMatch(UUID_V7);
    expect(new Set(ids).size).toBe(count);
    const byId = [...received].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((m) => m.text());
    expect(byId).toEqual(Array.from({ length: count }, (_, i) => String(i).padStart(2, "0")));
  });
}
