import { ESCAPED_HEADER_PREFIX, HeaderMetadata } from "@portable-pubsub/core/driver";
import { describe, expect, it } from "vitest";

describe("HeaderMetadata", () => {
  const codec = new HeaderMetadata({ reservedPrefixes: ["Broker-"] });

  it("sends plain pairs as they are and escapes the rest under Pps-E-, in key order", () => {
    expect(ESCAPED_HEADER_PREFIX).toBe("Pps-E-");
    expect(
      codec.encode({
        plain: "v",
        "a b": "x",
        "k:": "line\nbreak",
        trimmed: " x",
        "broker-id": "mine",
        "PPS-E-x": "y",
        ü: "ö",
      }),
    ).toEqual([
      ["plain", "v"],
      ["Pps-E-a%20b", "x"],
      ["Pps-E-k%3A", "line%0Abreak"],
      ["Pps-E-trimmed", "%20x"],
      ["Pps-E-broker-id", "mine"],
      ["Pps-E-PPS-E-x", "y"],
      ["Pps-E-%C3%BC", "%C3%B6"],
    ]);
    expect(codec.encode({})).toEqual([]);
  });

  it("round-trips every string, leaves the broker's headers out, and keeps a header that only looks escaped", () => {
    const metadata = { "a b": " c ", "\u0000": "\r\n", "🔑": "", plain: "x", "Broker-Id": "mine", "pps-e-%": "%" };
    expect(codec.decode(codec.encode(metadata))).toEqual(metadata);
    expect(
      codec.decode([
        ["BROKER-seq", "7"],
        ["pps-e-bad%zz", "kept"],
        ["Pps-E-ok", "%zz"],
        ["x", "1"],
      ]),
    ).toEqual({ "pps-e-bad%zz": "kept", "Pps-E-ok": "%zz", x: "1" });
    const empty = codec.decode([["Broker-Only", "1"]]);
    expect(empty).toEqual({});
    expect(Object.isFrozen(empty)).toBe(true);
  });

  it("reads canonical keys back under their one spelling, whatever their case, and leaves the others as sent", () => {
    const typed = new HeaderMetadata({ canonicalKeys: ["content-type"] });
    expect(typed.decode([["Content-Type", "application/json"]])).toEqual({ "content-type": "application/json" });
    expect(
      typed.decode([
        ["CONTENT-TYPE", "text/plain"],
        ["X-Trace", "1"],
      ]),
    ).toEqual({
      "content-type": "text/plain",
      "X-Trace": "1",
    });
    expect(codec.decode([["Content-Type", "application/json"]])).toEqual({ "Content-Type": "application/json" });
  });

  it("takes the broker's own rules for names and values, and its own prefix", () => {
    const lower = new HeaderMetadata({ prefix: "X-Esc-", plainKey: (k) => /^[a-z]+$/.test(k), plainValue: () => true });
    expect(lower.encode({ ok: " spaced ", Upper: "v" })).toEqual([
      ["ok", " spaced "],
      ["X-Esc-Upper", "v"],
    ]);
    expect(lower.decode([["x-esc-Upper", "v"]])).toEqual({ Upper: "v" });
  });

  it("sends a key with a value encoding under its own name, its value so encoded, never escaped, after the others", () => {
    const binding = new HeaderMetadata({
      valueEncoding: (key) => (key.startsWith("b-") ? (value) => `<${value}>` : undefined),
    });
    expect(binding.encode({ "b-id": "one two", a: "1", "b-x": "line\nbreak", "c d": "3" })).toEqual([
      ["a", "1"],
      ["Pps-E-c%20d", "3"],
      ["b-id", "<one two>"],
      ["b-x", "<line\nbreak>"],
    ]);
    expect(binding.encode({ "b-only": "v" })).toEqual([["b-only", "<v>"]]);
  });
});
