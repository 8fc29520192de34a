/**
 * `cloudEvents()`: the codec that sends and receives CloudEvents 1.0, in
 * the structured or the binary content mode, with the data encoded by a
 * data codec (JSON by default).
 */
import { invalidArgument } from "../errors.js";
import { CLOUD_EVENTS_PREFIX, completeAttributes, type EventOverrides } from "./cloud-event-attributes.js";
import { attributesOfBinary, binaryMetadataOf, hasBinaryEvent } from "./cloud-event-binary.js";
import {
  decodeStructured,
  type EventData,
  encodeStructured,
  isJsonMediaType,
  STRUCTURED_CONTENT_TYPE,
} from "./cloud-event-structured.js";
import { CONTENT_TYPE_KEY, type Codec, codecAccepts, decodedEvent, type EncodeContext, mediaTypeOf } from "./codec.js";

/** Options of {@link cloudEvents}. */
export interface CloudEventsOptions {
  /** The `source` attribute of every event sent (a URI-reference, such as `/orders/eu`), unless a send overrides it. */
  source: string;
  /** The `type` attribute of every event sent (such as `com.example.order.created`), unless a send overrides it. */
  type: string;
  /**
   * How events are sent. `"structured"` (the default): the body is the
   * whole event in the JSON event format, content type
   * `application/cloudevents+json`; it works alike on every driver.
   * `"binary"`: the body is the data alone, its content type the message's,
   * and the other attributes travel in metadata as `ce-<name>` keys, which
   * drivers map to their broker's CloudEvents binding (rabbit://:
   * `cloudEvents_<name>` application properties). Received events are read
   * in either mode, whatever this says.
   */
  mode?: "binary" | "structured";
  /**
   * How the data is encoded, and its `datacontenttype`; JSON when not
   * given. In structured mode data of a JSON content type is embedded as
   * JSON, other text as a string, anything else as `data_base64`.
   */
  dataCodec?: Codec;
}

const JSON_TYPE = "application/json";
const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/**
 * The CloudEvents codec: each message is a CloudEvent (spec 1.0) whose data
 * is the message's data, and whose attributes a subscriber reads in
 * `msg.event`. Every event sent gets the options' `source` and `type`, a
 * fresh UUID `id`, and the current `time`, unless `send({ data, event })`
 * overrides them. An event received that is not valid (a required
 * attribute missing or empty, a specversion other than 1.0, a content type
 * that is neither `application/cloudevents+json` nor the data codec's) is an
 * invalid message, never handed to a handler.
 */
export function cloudEvents(options: CloudEventsOptions): Codec {
  const { source, type, mode, dataCodec } = checkOptions(options);
  const binary = mode === "binary";
  const defaults = { source, type };
  return {
    contentType: binary ? (dataCodec?.contentType ?? JSON_TYPE) : STRUCTURED_CONTENT_TYPE,
    accepts(contentType) {
      if (contentType === undefined) return false;
      const media = mediaTypeOf(contentType);
      if (media === STRUCTURED_CONTENT_TYPE) return true;
      if (media.startsWith("application/cloudevents")) return false; // Another event format (batch, avro…).
      return dataCodec ? codecAccepts(dataCodec, contentType) : isJsonMediaType(contentType);
    },
    encode(data, context) {
      let attributes: ReturnType<typeof completeAttributes>;
      try {
        attributes = completeAttributes(defaults, context.event as EventOverrides | undefined);
      } catch (err) {
        throw invalidArgument(`send: ${(err as Error).message}`, err);
      }
      const encoded = encodeData(data, context, dataCodec, attributes.datacontenttype);
      attributes.datacontenttype = encoded.contentType;
      if (!binary) return encodeStructured(attributes, eventDataOf(encoded));
      return {
        body: encoded.body,
        metadata: { ...encoded.metadata, ...binaryMetadataOf(attributes), [CONTENT_TYPE_KEY]: encoded.contentType },
      };
    },
    decode(body, metadata) {
      const contentType = metadata[CONTENT_TYPE_KEY];
      if (contentType !== undefined && mediaTypeOf(contentType) === STRUCTURED_CONTENT_TYPE) {
        const event = decodeStructured(body);
        return decodedEvent(
          structuredData(event.data, event.attributes.datacontenttype, metadata, dataCodec),
          event.attributes,
        );
      }
      if (!hasBinaryEvent(metadata)) {
        throw new Error(
          `not a CloudEvent: its content type is ${contentType === undefined ? "not set" : JSON.stringify(contentType)}, ` +
            `not ${STRUCTURED_CONTENT_TYPE} (structured mode), and it has no ${CLOUD_EVENTS_PREFIX}specversion metadata (binary mode)`,
        );
      }
      const attributes = attributesOfBinary(metadata, contentType);
      if (dataCodec) return decodedEvent(dataCodec.decode(body, metadata), attributes);
      return decodedEvent(body.byteLength === 0 ? undefined : JSON.parse(utf8.decode(body)), attributes);
    },
  };
}

function checkOptions(options: CloudEventsOptions): CloudEventsOptions {
  if (typeof options !== "object" || options === null) {
    throw invalidArgument(
      'cloudEvents: options must be an object such as { source: "/orders", type: "com.example.order" }',
    );
  }
  for (const name of ["source", "type"] as const) {
    const value = options[name];
    if (typeof value !== "string" || value === "") {
      throw invalidArgument(
        `cloudEvents: ${name} must be a non-empty string (every event needs one), got ${typeof value}`,
      );
    }
  }
  const mode = options.mode ?? "structured";
  if (mode !== "binary" && mode !== "structured") {
    throw invalidArgument(`cloudEvents: mode must be "binary" or "structured", got ${JSON.stringify(mode)}`);
  }
  const { dataCodec } = options;
  if (dataCodec !== undefined && (typeof dataCodec?.encode !== "function" || typeof dataCodec?.decode !== "function")) {
    throw invalidArgument("cloudEvents: dataCodec must be a codec (contentType, encode, decode), such as json()");
  }
  return { ...options, mode };
}

/** The data's bytes or JSON text, its content type, and any metadata the data codec adds. */
interface EncodedData {
  body: Uint8Array | string;
  contentType: string;
  metadata: Record<string, string>;
  /** The JSON value itself, when JSON is what was encoded (no data codec): structured mode embeds it. */
  value?: unknown;
}

function encodeData(
  data: unknown,
  context: EncodeContext,
  dataCodec: Codec | undefined,
  contentType: string | undefined,
): EncodedData {
  if (dataCodec === undefined) {
    const type = contentType ?? JSON_TYPE;
    if (!isJsonMediaType(type)) {
      throw invalidArgument(
        `send: the event's datacontenttype ${JSON.stringify(type)} is not JSON; give cloudEvents a dataCodec for it`,
      );
    }
    return { body: jsonText(data), contentType: type, metadata: {}, value: data };
  }
  const result = dataCodec.encode(data, context);
  if (typeof result === "string" || result instanceof Uint8Array) {
    return { body: result, contentType: contentType ?? dataCodec.contentType, metadata: {} };
  }
  const { [CONTENT_TYPE_KEY]: fromCodec, ...metadata } = result.metadata ?? {};
  return { body: result.body, contentType: contentType ?? fromCodec ?? dataCodec.contentType, metadata };
}

function jsonText(data: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(data);
  } catch (err) {
    throw invalidArgument(`send: the event's data cannot be encoded as JSON: ${(err as Error).message}`, err);
  }
  if (text === undefined) {
    throw invalidArgument(`send: the event's data cannot be encoded as JSON (it is ${typeof data}); send a JSON value`);
  }
  return text;
}

/** How the JSON event format holds encoded data: JSON embedded, other text as a string, bytes as Base64. */
function eventDataOf(encoded: EncodedData): EventData {
  if ("value" in encoded) return { kind: "json", value: encoded.value };
  const { body, contentType } = encoded;
  if (isJsonMediaType(contentType)) {
    return { kind: "json", value: JSON.parse(typeof body === "string" ? body : utf8.decode(body)) };
  }
  if (typeof body === "string") return { kind: "text", text: body };
  return { kind: "bytes", bytes: body };
}

/** A structured event's data as the application sees it: JSON as it is, or what the data codec decodes. */
function structuredData(
  data: EventData,
  contentType: string | undefined,
  metadata: Readonly<Record<string, string>>,
  dataCodec: Codec | undefined,
): unknown {
  const type = contentType ?? JSON_TYPE;
  if (dataCodec === undefined) {
    if (!isJsonMediaType(type)) {
      throw new Error(
        `the event's datacontenttype ${JSON.stringify(type)} is not JSON, and the codec has no dataCodec for it`,
      );
    }
    if (data.kind === "json") return data.value;
    if (data.kind === "none") return undefined;
    return JSON.parse(data.kind === "text" ? data.text : utf8.decode(data.bytes));
  }
  if (!codecAccepts(dataCodec, type)) {
    throw new Error(
      `the event's datacontenttype ${JSON.stringify(type)} is not one its dataCodec (${dataCodec.contentType}) decodes`,
    );
  }
  const bytes =
    data.kind === "bytes"
      ? data.bytes
      : encoder.encode(data.kind === "json" ? JSON.stringify(data.value) : data.kind === "text" ? data.text : "");
  return dataCodec.decode(bytes, { ...metadata, [CONTENT_TYPE_KEY]: type });
}
