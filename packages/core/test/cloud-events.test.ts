import { type Codec, cloudEvents, DecodedEvent, ErrorCode, errorCode } from "@portable-pubsub/core";
import { CloudEvent, HTTP } from "cloudevents";
import { describe, expect, it } from "vitest";

const STRUCTURED = "application/cloudevents+json";
const text = new TextDecoder();
const bytes = (s: string) => new TextEncoder().encode(s);

/** What a codec's encode gave, as body bytes and metadata (the codec's content type included). */
function encoded(
  codec: Codec,
  data: unknown,
  event?: Record<string, unknown>,
): { body: Uint8Array; metadata: Record<string, string> } {
  const result = codec.encode(data, { event, metadata: {} });
  const { body, metadata = {} } =
    typeof result === "string" || result instanceof Uint8Array ? { body: result } : result;
  return {
    body: typeof body === "string" ? bytes(body) : body,
    metadata: { "content-type": codec.contentType, ...metadata },
  };
}

function decoded(codec: Codec, body: Uint8Array, metadata: Record<string, string>): DecodedEvent {
  const result = codec.decode(body, metadata);
  expect(result).toBeInstanceOf(DecodedEvent);
  return result as DecodedEvent;
}

describe("cloudEvents() structured mode", () => {
  const codec = cloudEvents({ source: "/orders", type: "com.example.order.created" });

  it("decodes events the official SDK encodes, attributes and data alike", () => {
    const sdkEvent = new CloudEvent({
      id: "e-1",
      source: "/sdk/source",
      type: "com.example.sdk",
      subject: "order/42",
      time: "2026-01-02T03:04:05.678Z",
      dataschema: "https://example.com/schemas/order.json",
      datacontenttype: "application/json",
      region: "eu",
      priority: 7,
      urgent: true,
      data: { id: "a1", qty: 2, tags: ["x"] },
    });
    const message = HTTP.structured(sdkEvent);
    expect(message.headers["content-type"]).toMatch(/^application\/cloudevents\+json/);
    const result = decoded(codec, bytes(message.body as string), { "content-type": STRUCTURED });
    expect(result.data).toEqual({ id: "a1", qty: 2, tags: ["x"] });
    expect(result.event).toEqual({
      id: "e-1",
      source: "/sdk/source",
      type: "com.example.sdk",
      specversion: "1.0",
      subject: "order/42",
      time: "2026-01-02T03:04:05.678Z",
      dataschema: "https://example.com/schemas/order.json",
      datacontenttype: "application/json",
      extensions: { region: "eu", priority: 7, urgent: true },
    });
  });

  it("decodes the SDK's data_base64 events (binary data)", () => {
    const json = JSON.stringify({ id: "b2", qty: 1 });
    const sdkEvent = new CloudEvent({
      id: "e-2",
      source: "/sdk",
      type: "t",
      datacontenttype: "application/json",
      data: new Uint8Array(Buffer.from(json)),
    });
    const body = HTTP.structured(sdkEvent).body as string;
    expect(JSON.parse(body).data_base64).toBe(Buffer.from(json).toString("base64"));
    const result = decoded(codec, bytes(body), { "content-type": `${STRUCTURED}; charset=utf-8` });
    expect(result.data).toEqual({ id: "b2", qty: 1 });
    expect(result.event.id).toBe("e-2");
  });

  it("writes events that pass the SDK's validation and read back the same in the SDK", () => {
    const { body, metadata } = encoded(codec, { id: "a1", qty: 2 }, { subject: "a1", extensions: { region: "eu" } });
    expect(metadata).toEqual({ "content-type": STRUCTURED });
    const json = JSON.parse(text.decode(body));
    const sdkEvent = new CloudEvent(json, true);
    expect(sdkEvent.validate()).toBe(true);
    const viaHttp = HTTP.toEvent({ headers: { "content-type": STRUCTURED }, body: text.decode(body) }) as CloudEvent;
    expect(viaHttp.validate()).toBe(true);
    expect(viaHttp.source).toBe("/orders");
    expect(viaHttp.type).toBe("com.example.order.created");
    expect(viaHttp.subject).toBe("a1");
    expect(viaHttp.datacontenttype).toBe("application/json");
    expect(viaHttp.region).toBe("eu");
    expect(viaHttp.data).toEqual({ id: "a1", qty: 2 });
    expect(viaHttp.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Math.abs(Date.parse(viaHttp.time as string) - Date.now())).toBeLessThan(60_000);
  });

  it("gives every event sent a new id, and lets a send override id, type, source and time", () => {
    const first = JSON.parse(text.decode(encoded(codec, 1).body));
    const second = JSON.parse(text.decode(encoded(codec, 2).body));
    expect(first.id).not.toBe(second.id);
    const overridden = JSON.parse(
      text.decode(
        encoded(codec, 3, { id: "fixed", type: "com.example.other", source: "urn:x", time: "2020-01-01T00:00:00Z" })
          .body,
      ),
    );
    expect(overridden).toEqual({
      id: "fixed",
      type: "com.example.other",
      source: "urn:x",
      specversion: "1.0",
      time: "2020-01-01T00:00:00Z",
      datacontenttype: "application/json",
      data: 3,
    });
  });

  it("refuses to send an event that is not valid, with InvalidArgument naming why", () => {
    for (const [event, reason] of [
      [{ id: "" }, '"id" must be a non-empty string'],
      [{ specversion: "0.3" }, 'only "1.0"'],
      [{ time: "yesterday" }, "not an RFC 3339 timestamp"],
      [{ extensions: { "Bad-Name": "x" } }, "lower-case letters"],
      [{ extensions: { id: "x" } }, "core attribute"],
    ] as const) {
      let caught: unknown;
      try {
        codec.encode({}, { event, metadata: {} });
      } catch (err) {
        caught = err;
      }
      expect(errorCode(caught)).toBe(ErrorCode.InvalidArgument);
      expect((caught as Error).message).toContain(reason);
    }
  });

  it("makes an invalid received event a decode failure that says why", () => {
    const valid = { specversion: "1.0", id: "1", source: "/s", type: "t", data: {} };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...valid, id: undefined }, '"id" is missing'],
      [{ ...valid, source: undefined }, '"source" is missing'],
      [{ ...valid, type: "" }, '"type" must be a non-empty string'],
      [{ ...valid, specversion: "0.3" }, 'specversion is "0.3"'],
      [{ ...valid, data_base64: "AA==" }, 'both "data" and "data_base64"'],
    ];
    for (const [event, reason] of cases) {
      expect(() => codec.decode(bytes(JSON.stringify(event)), { "content-type": STRUCTURED })).toThrow(reason);
    }
    expect(() => codec.decode(bytes("not json"), { "content-type": STRUCTURED })).toThrow();
    expect(() => codec.decode(bytes("[1]"), { "content-type": STRUCTURED })).toThrow("JSON object");
  });

  it("accepts only the JSON event format or, for binary mode, the data's content type", () => {
    const accepts = codec.accepts?.bind(codec);
    expect(accepts?.(STRUCTURED)).toBe(true);
    expect(accepts?.("Application/CloudEvents+JSON; charset=UTF-8")).toBe(true);
    expect(accepts?.("application/json")).toBe(true);
    expect(accepts?.("application/cloudevents-batch+json")).toBe(false);
    expect(accepts?.("application/cloudevents+avro")).toBe(false);
    expect(accepts?.("text/plain")).toBe(false);
    expect(accepts?.(undefined)).toBe(false);
    // A JSON message that is no CloudEvent (no ce- metadata) is invalid, and the error says what is missing.
    expect(() => codec.decode(bytes("{}"), { "content-type": "application/json" })).toThrow(
      "no ce-specversion metadata",
    );
  });
});

describe("cloudEvents() binary mode", () => {
  const codec = cloudEvents({ source: "/orders", type: "com.example.order.created", mode: "binary" });

  it("puts the data in the body and the attributes in ce- metadata, as the SDK's HTTP binding names them", () => {
    const event = { id: "e-9", time: "2026-01-02T03:04:05Z", subject: "s", extensions: { region: "eu" } };
    const { body, metadata } = encoded(codec, { id: "a1", qty: 2 }, event);
    expect(JSON.parse(text.decode(body))).toEqual({ id: "a1", qty: 2 });
    expect(metadata).toEqual({
      "content-type": "application/json",
      "ce-id": "e-9",
      "ce-source": "/orders",
      "ce-type": "com.example.order.created",
      "ce-specversion": "1.0",
      "ce-time": "2026-01-02T03:04:05Z",
      "ce-subject": "s",
      "ce-region": "eu",
    });
    const sdk = HTTP.binary(
      new CloudEvent({
        id: "e-9",
        source: "/orders",
        type: "com.example.order.created",
        time: "2026-01-02T03:04:05Z",
        subject: "s",
        region: "eu",
        datacontenttype: "application/json",
        data: { id: "a1", qty: 2 },
      }),
    );
    // The SDK writes time in its own form; everything else is the same key and value.
    const { "ce-time": sdkTime, ...sdkHeaders } = sdk.headers as Record<string, string>;
    const { "ce-time": ourTime, ...ours } = metadata;
    expect(ours).toEqual(sdkHeaders);
    expect(Date.parse(sdkTime as string)).toBe(Date.parse(ourTime as string));
  });

  it("decodes what the SDK's binary mode writes, and structured events too", () => {
    const sdk = HTTP.binary(
      new CloudEvent({
        id: "x1",
        source: "/sdk",
        type: "t",
        datacontenttype: "application/json",
        data: { n: 1 },
        ext: 5,
      }),
    );
    // Headers are strings on the wire (the SDK's object keeps the extension's number).
    const headers = Object.fromEntries(Object.entries(sdk.headers).map(([key, value]) => [key, String(value)]));
    const result = decoded(codec, bytes(sdk.body as string), headers);
    expect(result.data).toEqual({ n: 1 });
    expect(result.event).toMatchObject({ id: "x1", source: "/sdk", type: "t", specversion: "1.0" });
    expect(result.event.datacontenttype).toBe("application/json");
    expect(result.event.extensions).toEqual({ ext: "5" });
    const structured = HTTP.structured(new CloudEvent({ id: "x2", source: "/sdk", type: "t", data: [1] }));
    expect(decoded(codec, bytes(structured.body as string), { "content-type": STRUCTURED }).data).toEqual([1]);
  });

  it("makes a binary event without a required attribute a decode failure", () => {
    const { body, metadata } = encoded(codec, 1);
    for (const key of ["ce-id", "ce-source", "ce-type"]) {
      const { [key]: _, ...rest } = metadata;
      expect(() => codec.decode(body, rest)).toThrow(`"${key.slice(3)}" is missing`);
    }
    expect(() => codec.decode(body, { ...metadata, "ce-specversion": "2.0" })).toThrow('specversion is "2.0"');
  });
});

describe("cloudEvents() with a data codec", () => {
  const textCodec: Codec = {
    contentType: "text/plain",
    encode: (data) => String(data),
    decode: (body) => text.decode(body),
  };

  it("embeds text data as a string and other bytes as data_base64", () => {
    const structured = cloudEvents({ source: "/s", type: "t", dataCodec: textCodec });
    const event = JSON.parse(text.decode(encoded(structured, "hello").body));
    expect(event).toMatchObject({ datacontenttype: "text/plain", data: "hello" });
    expect(new CloudEvent(event, true).validate()).toBe(true);
    const back = decoded(structured, bytes(JSON.stringify(event)), { "content-type": STRUCTURED });
    expect(back.data).toBe("hello");

    const raw: Codec = {
      contentType: "application/octet-stream",
      encode: () => new Uint8Array([0, 255]),
      decode: (b) => b,
    };
    const binaryData = cloudEvents({ source: "/s", type: "t", dataCodec: raw });
    const withBytes = JSON.parse(text.decode(encoded(binaryData, null).body));
    expect(withBytes.data_base64).toBe("AP8=");
    const sdk = new CloudEvent(withBytes, true);
    expect(Array.from(sdk.data as unknown as Uint8Array)).toEqual([0, 255]);
    const decodedBytes = decoded(binaryData, bytes(JSON.stringify(withBytes)), { "content-type": STRUCTURED });
    expect(Array.from(decodedBytes.data as Uint8Array)).toEqual([0, 255]);
  });

  it("refuses a structured event whose datacontenttype the data codec does not decode", () => {
    const structured = cloudEvents({ source: "/s", type: "t", dataCodec: textCodec });
    const event = {
      specversion: "1.0",
      id: "1",
      source: "/s",
      type: "t",
      datacontenttype: "image/png",
      data_base64: "AA==",
    };
    expect(() => structured.decode(bytes(JSON.stringify(event)), { "content-type": STRUCTURED })).toThrow(
      'datacontenttype "image/png" is not one its dataCodec (text/plain) decodes',
    );
  });
});

describe("cloudEvents() options", () => {
  it("names a bad option with InvalidArgument", () => {
    const bad = [
      [{ type: "t" }, "source must be a non-empty string"],
      [{ source: "/s", type: "" }, "type must be a non-empty string"],
      [{ source: "/s", type: "t", mode: "batch" }, 'mode must be "binary" or "structured"'],
      [{ source: "/s", type: "t", dataCodec: {} }, "dataCodec must be a codec"],
    ] as const;
    for (const [options, reason] of bad) {
      let caught: unknown;
      try {
        cloudEvents(options as never);
      } catch (err) {
        caught = err;
      }
      expect(errorCode(caught)).toBe(ErrorCode.InvalidArgument);
      expect((caught as Error).message).toContain(reason);
    }
  });
});
