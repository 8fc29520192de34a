/**
 * Type tests: `pnpm typecheck` compiles this file, so a `@ts-expect-error`
 * that no longer errors (a wrong shape that compiles) fails it. Each schema
 * library's inference reaches send's data, msg.data (transforms applied),
 * receive, for await and process; untyped topics and subscriptions keep
 * today's types.
 */
import {
  json,
  type Message,
  type OutgoingMessage,
  openSubscription,
  openTopic,
  type Subscription,
  type Topic,
  type TypedMessage,
} from "@portable-pubsub/core";
import { type } from "arktype";
import * as v from "valibot";
import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";

// Only compiled, never run: each body is inside a function no test calls.
const compileOnly = (_f: () => Promise<void>) => {};

describe("typed messages' types", () => {
  it("zod 4: send takes the input type, msg.data is the output type with transforms", () => {
    compileOnly(async () => {
      const Order = z.object({ id: z.string(), qty: z.number(), at: z.string().transform((s) => new Date(s)) });
      const topic = await openTopic("mem://orders", { schema: Order });
      expectTypeOf(topic).toEqualTypeOf<Topic<typeof Order>>();
      await topic.send({ data: { id: "a", qty: 1, at: "2026-01-01" }, metadata: { region: "eu" } });
      // @ts-expect-error qty must be a number
      await topic.send({ data: { id: "a", qty: "1", at: "2026-01-01" } });
      // @ts-expect-error at is the input's string, not the output's Date
      await topic.send({ data: { id: "a", qty: 1, at: new Date() } });
      // @ts-expect-error a typed topic takes data, not a body
      await topic.send({ body: "x" });
      const sub = await openSubscription("mem://orders", { schema: Order, deadLetter: "mem://orders-invalid" });
      expectTypeOf(sub).toEqualTypeOf<Subscription<typeof Order>>();
      const msg = await sub.receive();
      expectTypeOf(msg).toEqualTypeOf<TypedMessage<{ id: string; qty: number; at: Date }>>();
      expectTypeOf(msg.data.at).toEqualTypeOf<Date>();
      for await (const m of sub) expectTypeOf(m.data.qty).toEqualTypeOf<number>();
      await sub.process((m) => {
        expectTypeOf(m.data).toEqualTypeOf<{ id: string; qty: number; at: Date }>();
        // @ts-expect-error no such field
        m.data.price;
      });
    });
  });

  it("valibot: input and output types, transforms included", () => {
    compileOnly(async () => {
      const Order = v.object({ id: v.string(), qty: v.pipe(v.string(), v.transform(Number)) });
      const topic = await openTopic("mem://orders", { schema: Order });
      await topic.send({ data: { id: "a", qty: "2" } });
      // @ts-expect-error qty's input is a string
      await topic.send({ data: { id: "a", qty: 2 } });
      const sub = await openSubscription("mem://orders", { schema: Order });
      const msg = await sub.receive();
      expectTypeOf(msg.data).toEqualTypeOf<{ id: string; qty: number }>();
      await sub.process((m) => expectTypeOf(m.data.qty).toEqualTypeOf<number>());
    });
  });

  it("arktype: input and output types, morphs included", () => {
    compileOnly(async () => {
      const Order = type({ id: "string", qty: "string.numeric.parse" });
      const topic = await openTopic("mem://orders", { schema: Order });
      await topic.send({ data: { id: "a", qty: "2" } });
      // @ts-expect-error id is missing
      await topic.send({ data: { qty: "2" } });
      const sub = await openSubscription("mem://orders", { schema: Order });
      const msg = await sub.receive();
      expectTypeOf(msg.data).toEqualTypeOf<{ id: string; qty: number }>();
    });
  });

  it("a codec without a schema types data as unknown", () => {
    compileOnly(async () => {
      const topic = await openTopic("mem://orders", { codec: json() });
      await topic.send({ data: { anything: 1 } });
      const sub = await openSubscription("mem://orders", { codec: json() });
      expectTypeOf((await sub.receive()).data).toEqualTypeOf<unknown>();
    });
  });

  it("untyped topics and subscriptions keep today's types", () => {
    compileOnly(async () => {
      const topic = await openTopic("mem://orders");
      expectTypeOf(topic).toEqualTypeOf<Topic>();
      expectTypeOf(topic.send).parameter(0).toEqualTypeOf<OutgoingMessage>();
      await topic.send({ body: "x", metadata: { a: "b" } });
      // @ts-expect-error an untyped topic takes a body
      await topic.send({ data: { id: "a" } });
      const sub = await openSubscription("mem://orders", { maxReceiveBatchSize: 10 });
      expectTypeOf(sub).toEqualTypeOf<Subscription>();
      expectTypeOf(await sub.receive()).toEqualTypeOf<Message>();
      for await (const m of sub) expectTypeOf(m).toEqualTypeOf<Message>();
      await sub.process((m) => {
        expectTypeOf(m).toEqualTypeOf<Message>();
        // @ts-expect-error an untyped message has no data
        m.data;
      });
    });
  });
});
