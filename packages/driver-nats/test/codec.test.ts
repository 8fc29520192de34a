import { headers } from "@nats-io/transport-node";
import { decodeMetadata, encodeMetadata } from "@portable-pubsub/driver-nats";
import { describe, expect, it } from "vitest";

/** Headers as they travel: encoded to the wire form and parsed back, as the receiving client does. */
function roundTrip(metadata: Record<string, string>): Record<string, string> {
  const h = encodeMetadata(metadata);
  if (!h) return decodeMetadata(undefined);
  const wire = (h as unknown as { encode(): Uint8Array }).encode();
  const parsed = (h.constructor as unknown as { decode(a: Uint8Array): typeof h }).decode(wire);
  return decodeMetadata(parsed);
}

describe("nats metadata as headers", () => {
  it("round-trips every string, plain pairs as ordinary headers", () => {
    const metadata = {
      plain: "value",
      "with space": " padded ",
      "colon:key": "line1\r\nline2",
      "Nats-Msg-Id": "mine, not the server's",
      "Pps-E-looks-encoded": "%zz",
      "🔑": "世界",
      empty: "",
    };
    expect(roundTrip(metadata)).toEqual(metadata);
    const h = encodeMetadata(metadata);
    expect(h?.get("plain")).toBe("value");
    expect(h?.has("Nats-Msg-Id")).toBe(false);
    expect(h?.get("Pps-E-Nats-Msg-Id")).toBe("mine%2C%20not%20the%20server's");
  });

  it("sends no headers for no metadata, and leaves server headers out of received metadata", () => {
    expect(encodeMetadata({})).toBeUndefined();
    const h = headers();
    h.set("Nats-Msg-Id", "abc");
    h.set("Pps-E-bad%zz", "kept as it is");
    h.set("x", "1");
    expect(decodeMetadata(h)).toEqual({ "Pps-E-bad%zz": "kept as it is", x: "1" });
  });

  it("puts on the wire, byte for byte, what the driver's own codec did before it moved into the kit", () => {
    const metadata = {
      plain: "value",
      "with space": " padded ",
      "colon:key": "line1\r\nline2",
      "Nats-Msg-Id": "mine, not the server's",
      "pps-e-looks-encoded": "%zz",
      "🔑": "世界",
      empty: "",
      "tab\tkey": "a\tb",
      "NATS-expected-stream": "x",
      "x-trace": "00-abc-01",
    };
    const h = encodeMetadata(metadata) as unknown as { encode(): Uint8Array };
    expect(new TextDecoder().decode(h.encode())).toBe(
      "NATS/1.0\r\nplain: value\r\nPps-E-with%20space: %20padded%20\r\nPps-E-colon%3Akey: line1%0D%0Aline2\r\n" +
        "Pps-E-Nats-Msg-Id: mine%2C%20not%20the%20server's\r\nPps-E-pps-e-looks-encoded: %25zz\r\n" +
        "Pps-E-%F0%9F%94%91: %E4%B8%96%E7%95%8C\r\nempty: \r\nPps-E-tab%09key: a%09b\r\n" +
        "Pps-E-NATS-expected-stream: x\r\nx-trace: 00-abc-01\r\n\r\n",
    );
    expect(roundTrip(metadata)).toEqual(metadata);
  });
});
