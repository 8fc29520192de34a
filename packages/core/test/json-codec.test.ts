import { CONTENT_TYPE_KEY, type Codec, ErrorCode, json } from "@portable-pubsub/core";
import { describe, expect, it } from "vitest";

const bytes = (text: string) => new TextEncoder().encode(text);

describe("json()", () => {
  it("encodes with JSON.stringify and decodes the UTF-8 body with JSON.parse", () => {
    const codec: Codec = json();
    expect(codec.contentType).toBe("application/json");
    expect(codec.encode({ id: "a1", qty: 2 }, { metadata: {} })).toBe('{"id":"a1","qty":2}');
    expect(codec.decode(bytes('{"id":"a1","qty":2}'), {})).toEqual({ id: "a1", qty: 2 });
  });

  it("throws for a body that is not UTF-8 or not JSON", () => {
    const codec = json();
    expect(() => codec.decode(new Uint8Array([0xff, 0xfe, 0x7b]), {})).toThrow(TypeError);
    expect(() => codec.decode(bytes("{not json"), {})).toThrow(SyntaxError);
  });

  it("refuses with InvalidArgument data that JSON cannot hold", () => {
    const codec = json();
    for (const data of [undefined, () => 1, 10n]) {
      let caught: unknown;
      try {
        codec.encode(data, { metadata: {} });
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({
        code: ErrorCode.InvalidArgument,
        message: expect.stringMatching(/^send: .*JSON/),
      });
    }
  });

  it("accepts application/json (any case, with parameters), and no content type only when told", () => {
    const strict = json();
    expect(strict.accepts?.("application/json")).toBe(true);
    expect(strict.accepts?.("Application/JSON; charset=utf-8")).toBe(true);
    expect(strict.accepts?.("text/plain")).toBe(false);
    expect(strict.accepts?.("application/cloudevents+json")).toBe(false);
    expect(strict.accepts?.(undefined)).toBe(false);
    const lenient = json({ requireContentType: false });
    expect(lenient.accepts?.(undefined)).toBe(true);
    expect(lenient.accepts?.("text/plain")).toBe(false);
  });

  it("refuses bad options with InvalidArgument", () => {
    expect(() => json({ requireContentType: "no" as unknown as boolean })).toThrow(
      /requireContentType must be true or false/,
    );
  });

  it("names the portable content-type key", () => {
    expect(CONTENT_TYPE_KEY).toBe("content-type");
  });
});
