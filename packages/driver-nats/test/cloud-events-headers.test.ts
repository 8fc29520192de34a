import { headers } from "@nats-io/transport-node";
import { decodeMetadata, encodeMetadata } from "@portable-pubsub/driver-nats";
import { describe, expect, it } from "vitest";

/** Headers as they travel: encoded to the wire form and parsed back, as the receiving client does. */
function wire(metadata: Record<string, string>): ReturnType<typeof headers> {
  const h = encodeMetadata(metadata) ?? headers();
  const bytes = (h as unknown as { encode(): Uint8Array }).encode();
  return (h.constructor as unknown as { decode(a: Uint8Array): typeof h }).decode(bytes);
}

describe("CloudEvents attributes as NATS binding headers", () => {
  const event = {
    "content-type": "application/json",
    "ce-specversion": "1.0",
    "ce-id": "e-1",
    "ce-source": "/orders/eu west",
    "ce-type": "com.example.order",
    "ce-subject": 'say "hi" 100% — ünïcode',
  };

  it("sends each ce- key as the ce- header, its value percent-encoded as the binding says, and the content type as ce-datacontenttype", () => {
    const h = wire(event);
    expect(h.get("ce-id")).toBe("e-1");
    expect(h.get("ce-source")).toBe("/orders/eu%20west");
    expect(h.get("ce-subject")).toBe("say%20%22hi%22%20100%25%20%E2%80%94%20%C3%BCn%C3%AFcode");
    expect(h.get("ce-datacontenttype")).toBe("application/json");
    expect(h.get("content-type")).toBe("application/json");
    expect(decodeMetadata(h)).toEqual(event);
  });

  it("puts on the wire, byte for byte: the other pairs in key order, then the attributes in key order, then ce-datacontenttype", () => {
    const metadata = {
      region: "eu",
      "ce-id": "e 1",
      "content-type": "application/json",
      "ce-specversion": "1.0",
      "Ce-Id": "upper",
      "ce-source": "/s",
      "x-trace": "t",
    };
    const h = encodeMetadata(metadata) as unknown as { encode(): Uint8Array };
    expect(new TextDecoder().decode(h.encode())).toBe(
      "NATS/1.0\r\nregion: eu\r\ncontent-type: application/json\r\nPps-E-Ce-Id: upper\r\nx-trace: t\r\n" +
        "ce-id: e%201\r\nce-specversion: 1.0\r\nce-source: /s\r\nce-datacontenttype: application/json\r\n\r\n",
    );
    expect(decodeMetadata(wire(metadata))).toEqual(metadata);
  });

  it("reads a binding sender's headers: any case, double-quoted values, ce-datacontenttype as the content type", () => {
    const h = headers();
    h.set("CE-SpecVersion", "1.0");
    h.set("Ce-Id", '"quoted \\"id\\""');
    h.set("ce-source", "/a%20b");
    h.set("ce-type", "t");
    h.set("ce-datacontenttype", "application/json");
    h.set("ce-bad", "50%");
    expect(decodeMetadata(h)).toEqual({
      "ce-specversion": "1.0",
      "ce-id": 'quoted "id"',
      "ce-source": "/a b",
      "ce-type": "t",
      "content-type": "application/json",
      "ce-bad": "50%",
    });
  });

  it("keeps metadata that only looks like an attribute exact: other case, other characters", () => {
    const metadata = { "Ce-Id": "upper", "ce-Not_An-Attribute": "x y", "ce-": "empty name" };
    const h = wire(metadata);
    expect(h.has("ce-id")).toBe(false);
    expect(decodeMetadata(h)).toEqual(metadata);
  });

  it("adds no ce-datacontenttype to a structured event or a message that is no event", () => {
    expect(
      wire({ "content-type": "application/cloudevents+json", "ce-specversion": "1.0" }).has("ce-datacontenttype"),
    ).toBe(false);
    expect(wire({ "content-type": "application/json" }).has("ce-datacontenttype")).toBe(false);
  });
});
