/**
 * The CloudEvents JSON event format (structured content mode): one JSON
 * object holds the attributes and the data, as `data` (a JSON value, or a
 * string for a textual content type) or `data_base64` (bytes).
 */

import { checkReceived, isAttributeName, isCoreAttribute } from "./cloud-event-attributes.js";
import type { CloudEventAttributes } from "./codec.js";

/** The media type of the JSON event format. */
export const STRUCTURED_CONTENT_TYPE = "application/cloudevents+json";

/** The data of an event as the JSON format holds it. */
export type EventData =
  /** A JSON value (the content type is JSON): `data` as it is. */
  | { kind: "json"; value: unknown }
  /** Text of another content type: `data` as a JSON string. */
  | { kind: "text"; text: string }
  /** Bytes: `data_base64`. */
  | { kind: "bytes"; bytes: Uint8Array }
  /** Neither `data` nor `data_base64`: an event without data. */
  | { kind: "none" };

/**
 * The JSON format: "If the datacontenttype is unspecified, processing SHOULD
 * proceed as if the datacontenttype had been specified explicitly as
 * application/json"; a JSON media type is one whose subtype is `json` or
 * ends in `+json` (parameters stripped).
 */
export function isJsonMediaType(mediaType: string | undefined): boolean {
  if (mediaType === undefined) return true;
  const type = mediaTypeWithoutParameters(mediaType);
  return type.endsWith("/json") || type.endsWith("+json");
}

function mediaTypeWithoutParameters(contentType: string): string {
  const semicolon = contentType.indexOf(";");
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}

/** The structured body of an event with `attributes` and `data`: UTF-8 JSON text. */
export function encodeStructured(attributes: CloudEventAttributes, data: EventData): string {
  const { extensions, ...core } = attributes;
  const event: Record<string, unknown> = { ...core, ...extensions };
  if (data.kind === "json") {
    // JSON.stringify would drop such a `data` member silently: say so rather than send no data.
    const type = typeof data.value;
    if (type === "undefined" || type === "function" || type === "symbol") {
      throw new Error(`the data cannot be encoded as JSON (it is ${type}); send a JSON value`);
    }
    event.data = data.value;
  } else if (data.kind === "text") event.data = data.text;
  else if (data.kind === "bytes") event.data_base64 = Buffer.from(data.bytes).toString("base64");
  return JSON.stringify(event);
}

const decoder = new TextDecoder("utf-8", { fatal: true });
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The attributes and data of a structured body. Throws an Error saying what
 * is wrong for a body that is not a valid CloudEvent in the JSON format.
 */
export function decodeStructured(body: Uint8Array): { attributes: CloudEventAttributes; data: EventData } {
  const parsed: unknown = JSON.parse(decoder.decode(body));
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error("a structured CloudEvent must be a JSON object");
  }
  const event = parsed as Record<string, unknown>;
  if ("data" in event && "data_base64" in event) {
    throw new Error('the event has both "data" and "data_base64"; the JSON format allows one');
  }
  const attributes: CloudEventAttributes = { ...coreAttributesOf(event), extensions: {} };
  for (const name of Object.keys(event)) {
    if (isCoreAttribute(name) || name === "data" || name === "data_base64") continue;
    if (!isAttributeName(name)) throw new Error(`the member ${JSON.stringify(name)} is not a valid attribute name`);
    const value = event[name];
    // null: "an attribute with a null value is treated as absent".
    if (value !== null) attributes.extensions[name] = value as string | number | boolean;
  }
  checkReceived(attributes);
  return { attributes, data: dataOf(event, attributes.datacontenttype) };
}

function coreAttributesOf(event: Record<string, unknown>): Omit<CloudEventAttributes, "extensions"> {
  const core: Record<string, unknown> = {};
  for (const name of ["id", "source", "type", "specversion", "subject", "time", "datacontenttype", "dataschema"]) {
    if (event[name] !== undefined && event[name] !== null) core[name] = event[name];
  }
  return core as unknown as Omit<CloudEventAttributes, "extensions">;
}

function dataOf(event: Record<string, unknown>, contentType: string | undefined): EventData {
  if ("data_base64" in event) {
    const encoded = event.data_base64;
    if (typeof encoded !== "string" || !BASE64.test(encoded)) throw new Error('"data_base64" is not Base64 text');
    return { kind: "bytes", bytes: new Uint8Array(Buffer.from(encoded, "base64")) };
  }
  if (!("data" in event)) return { kind: "none" };
  if (isJsonMediaType(contentType)) return { kind: "json", value: event.data };
  if (typeof event.data === "string") return { kind: "text", text: event.data };
  throw new Error(`"data" is JSON, but the datacontenttype ${JSON.stringify(contentType)} is not a JSON media type`);
}
