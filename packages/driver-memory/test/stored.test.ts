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
});
