import { ErrorCode, errorCode, Topic } from "@portable-pubsub/core";
import { describe, expect, it } from "vitest";
import { ScriptedTopicDriver } from "./fake-driver.js";

describe("message validation", () => {
  it("encodes string bodies as UTF-8 and keeps byte bodies as they are", async () => {
    const driver = new ScriptedTopicDriver();
    const topic = new Topic(driver);
    const bytes = new Uint8Array([0, 255, 128]);
    await Promise.all([topic.send({ body: "é" }), topic.send({ body: bytes }), topic.send({ body: Buffer.from("b") })]);
    const sent = driver.batches.flat();
    expect(Array.from(sent[0]?.body ?? [])).toEqual([0xc3, 0xa9]);
    expect(sent[1]?.body).toBe(bytes);
    expect(Array.from(sent[2]?.body ?? [])).toEqual([0x62]);
    expect(sent[0]?.metadata).toEqual({});
  });

  it("names what is wrong", async () => {
    const topic = new Topic(new ScriptedTopicDriver());
    const message = async (m: unknown) => ((await topic.send(m as never).catch((e: unknown) => e)) as Error).message;
    expect(await message(null)).toBe("send: message must be an object like { body, metadata }, got null");
    expect(await message({ body: 5 })).toBe("send: body must be a Uint8Array (or Buffer) or a string, got number");
    expect(await message({ body: "x", metadata: { n: 1 } })).toBe(
      'send: metadata value for key "n" must be a string, got number',
    );
    expect(await message({ body: "x", metadata: "k=v" })).toBe(
      "send: metadata must be an object of string keys and string values, got string",
    );
    expect(await message({ body: "x", metadata: { k: "\uD800" } })).toBe(
      'send: metadata value for key "k" is not valid UTF-8 (it has a lone surrogate)',
    );
    expect(errorCode(await topic.send({ body: "\uDFFF" }).catch((e: unknown) => e))).toBe(ErrorCode.InvalidArgument);
  });
});
