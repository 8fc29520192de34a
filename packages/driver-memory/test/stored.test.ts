import { describe, expect, it } from "vitest";
import { Backlog, copyMessages } from "../src/stored.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const message = (text: string, id?: string) => ({ id, body: enc.encode(text), metadata: {} });

describe("the mem broker's stored messages", () => {
  it("copies what was published: a sender reusing its buffer changes nothing, ids default to the number", () => {
    const buffer = enc.encode("one");
    const copies = copyMessages([{ body: buffer, metadata: { k: "v" } }, message("two", "my-id")], 7);
    buffer.set(enc.encode("XXX"));
    const backlog = new Backlog();
    backlog.append(copies);
    const first = backlog.shift();
    const second = backlog.shift();
    expect([dec.decode(first.body), first.id, first.messageId, first.metadata]).toEqual(["one", 7, "7", { k: "v" }]);
    expect([dec.decode(second.body), second.id, second.messageId]).toEqual(["two", 8, "my-id"]);
    expect(backlog.length).toBe(0);
  });

  it("decodes an id out of the chunk at its first read, then keeps it: multi-byte, long and absent ids", () => {
    const long = "x".repeat(300); // past MAX_ID_IN_CHUNK: kept as a string
    const copies = copyMessages(
      [message("a", "zürich-🚀-1"), message("b", long), message("c"), message("d", "id-1")],
      1,
    );
    const backlog = new Backlog();
    backlog.append(copies);
    const [first, second, third, fourth] = [backlog.shift(), backlog.shift(), backlog.shift(), backlog.shift()];
    expect(first?.messageId).toBe("zürich-🚀-1");
    expect(dec.decode(first?.body)).toBe("a");
    expect([second?.messageId, third?.messageId]).toEqual([long, "3"]);
    // White box: the id's bytes sit right after the body in the chunk. Changed before the first read, the read
    // shows them (nothing was decoded at the shift); changed after it, the text read first stays.
    const chunk = copies.chunks[3] as Buffer;
    const idAt = (copies.offsets[3] as number) + (copies.sizes[3] as number);
    chunk.write("id-2", idAt, "utf8");
    expect(fourth?.messageId).toBe("id-2");
    chunk.write("id-3", idAt, "utf8");
    expect(fourth?.messageId).toBe("id-2");
  });

  it("takes messages in publish order across publishes, each subscription's backlog on its own", () => {
    const a = new Backlog();
    const b = new Backlog();
    const publishes = [
      copyMessages([message("a1"), message("a2")], 1),
      copyMessages([], 3),
      copyMessages([message("c1"), message("c2"), message("c3")], 3),
    ];
    for (const copies of publishes) {
      a.append(copies);
      b.append(copies);
    }
    expect([a.length, b.length]).toEqual([5, 5]);
    const taken = Array.from({ length: 4 }, () => a.shift());
    expect(taken.map((m) => [dec.decode(m.body), m.id, m.attempts])).toEqual([
      ["a1", 1, 0],
      ["a2", 2, 0],
      ["c1", 3, 0],
      ["c2", 4, 0],
    ]);
    // b's records are its own: taking from a moved nothing in b.
    expect(dec.decode(b.shift().body)).toBe("a1");
    expect([a.length, b.length]).toEqual([1, 4]);
    a.clear();
    expect(a.length).toBe(0);
    a.append(copyMessages([message("d1")], 6));
    expect(dec.decode(a.shift().body)).toBe("d1");
  });

  it("gives back every id as it was sent: UTF-8 in the chunk, long or ill-formed ones as strings, none as the number", () => {
    const ids = [
      "0193f0a2-7c1e-7d4e-8f00-0123456789ab",
      "ünïcødé-😀",
      "x".repeat(300),
      "lone \uD800 surrogate",
      undefined,
    ];
    const big = new Uint8Array(5000).fill(1);
    const messages = ids.map((id, i) => ({ id, body: i === 1 ? big : enc.encode(`b${i}`), metadata: {} }));
    const backlog = new Backlog();
    backlog.append(copyMessages(messages, 40));
    const taken = Array.from({ length: ids.length }, () => backlog.shift());
    expect(taken.map((m) => m.messageId)).toEqual([...ids.slice(0, 4), "44"]);
    expect(taken.map((m) => m.body.byteLength)).toEqual([2, 5000, 2, 2, 2]);
    expect(dec.decode(taken[2]?.body)).toBe("b2");
  });
});
