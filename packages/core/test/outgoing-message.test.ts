import { runInNewContext } from "node:vm";
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
      "send: metadata must be a plain object of string keys and string values, got string",
    );
    expect(await message({ body: "x", metadata: null })).toBe(
      "send: metadata must be a plain object of string keys and string values, got null",
    );
    expect(await message({ body: "x", metadata: { k: "\uD800" } })).toBe(
      'send: metadata value for key "k" is not valid UTF-8 (it has a lone surrogate)',
    );
    expect(errorCode(await topic.send({ body: "\uDFFF" }).catch((e: unknown) => e))).toBe(ErrorCode.InvalidArgument);
  });

  it("suggests JSON.stringify for a body that is a plain object or an array", async () => {
    const driver = new ScriptedTopicDriver();
    const topic = new Topic(driver);
    const message = async (m: unknown) => ((await topic.send(m as never).catch((e: unknown) => e)) as Error).message;
    const hint =
      "; to send data, encode it: { body: JSON.stringify(data) }, and JSON.parse(msg.text()) where it is received";
    expect(await message({ body: { orderId: 7 } })).toBe(
      `send: body must be a Uint8Array (or Buffer) or a string, got an object (Object)${hint}`,
    );
    expect(await message({ body: [1, 2] })).toBe(
      `send: body must be a Uint8Array (or Buffer) or a string, got an array${hint}`,
    );
    expect(await message({ body: new Map() })).not.toContain("JSON");
    expect(driver.batches).toEqual([]);
    await topic.shutdown();
  });

  it("refuses metadata that is not a plain record, an empty key and a throwing getter, and sends nothing", async () => {
    const driver = new ScriptedTopicDriver();
    const topic = new Topic(driver);
    const message = async (metadata: unknown) =>
      (await topic.send({ body: "x", metadata } as never).catch((e: unknown) => e)) as Error;
    for (const [metadata, text] of [
      [new Map([["k", "v"]]), "got an object (Map)"],
      [new Date(0), "got an object (Date)"],
      [new String("k"), "got an object (String)"],
      [{ "": "v" }, "send: metadata has an empty key"],
      [
        Object.defineProperty({}, "k", {
          enumerable: true,
          get() {
            throw new Error("nope");
          },
        }),
        'send: reading metadata key "k" threw: Error: nope',
      ],
    ] as const) {
      const err = await message(metadata);
      expect(errorCode(err)).toBe(ErrorCode.InvalidArgument);
      expect(err.message).toContain(text);
    }
    await topic.send({ body: "ok", metadata: Object.assign(Object.create(null), { k: "v" }) });
    expect(driver.batches.flat().map((m) => m.metadata)).toEqual([{ k: "v" }]);
    await topic.shutdown();
  });

  it("sends a snapshot of the metadata: each value read once, later changes to the object ignored", async () => {
    const driver = new ScriptedTopicDriver();
    const topic = new Topic(driver);
    let reads = 0;
    const metadata: Record<string, string> = Object.defineProperty({ a: "1" }, "b", {
      enumerable: true,
      get: () => `read ${++reads}`,
    });
    const sending = topic.send({ body: "x", metadata });
    metadata.a = "changed";
    await sending;
    await topic.send({ body: "y", metadata: JSON.parse('{"__proto__":"kept"}') });
    const [first, second] = driver.batches.flat();
    expect(first?.metadata).toEqual({ a: "1", b: "read 1" });
    expect(reads).toBe(1);
    expect(Object.keys(second?.metadata ?? {})).toEqual(["__proto__"]);
    expect(Object.getOwnPropertyDescriptor(second?.metadata, "__proto__")?.value).toBe("kept");
    await topic.shutdown();
  });

  it("takes a Uint8Array made in another realm", async () => {
    const driver = new ScriptedTopicDriver();
    const topic = new Topic(driver);
    const foreign = runInNewContext("new Uint8Array([1, 2, 3])") as Uint8Array;
    expect(foreign instanceof Uint8Array).toBe(false);
    await topic.send({ body: foreign });
    expect(Array.from(driver.batches.flat()[0]?.body ?? [])).toEqual([1, 2, 3]);
    await topic.shutdown();
  });

  it("lets many sends share one signal without a listener each", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    const driver = new ScriptedTopicDriver();
    const topic = new Topic(driver);
    const controller = new AbortController();
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => topic.send({ body: String(i) }, { signal: controller.signal })),
    );
    driver.gate = new Promise(() => {});
    const held = Array.from({ length: 30 }, (_, i) =>
      topic.send({ body: String(i) }, { signal: controller.signal }).catch((e: unknown) => e),
    );
    controller.abort();
    for (const outcome of await Promise.all(held)) expect(errorCode(outcome)).toBe(ErrorCode.Canceled);
    await new Promise((r) => setImmediate(r));
    process.off("warning", onWarning);
    expect(warnings.map((w) => w.name)).not.toContain("MaxListenersExceededWarning");
    await topic.shutdown({ signal: AbortSignal.timeout(100) }).catch(() => {});
  });
});
