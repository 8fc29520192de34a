/**
 * How `pubsub receive` shows a CloudEvent: its attributes, one `name: value`
 * line each, then a blank line, then its data (JSON indented). A message is
 * a CloudEvent when its content type is the JSON event format's
 * (structured mode) or its metadata has `ce-specversion` (binary mode); it
 * is read by core's `cloudEvents()` codec, so what counts as valid is the
 * same here as for a subscriber.
 */
import {
  CLOUD_EVENTS_PREFIX,
  type CloudEventAttributes,
  type Codec,
  cloudEvents,
  DecodedEvent,
  type Message,
  STRUCTURED_CONTENT_TYPE,
} from "@portable-pubsub/core";
import { utf8OrUndefined, visibleBody, visibleControls } from "./format.js";

/** The data's bytes whatever its content type: the view decides how to show them. */
const ANY_DATA: Codec = {
  contentType: "application/octet-stream",
  accepts: () => true,
  encode: (data) => data as Uint8Array,
  decode: (body) => body,
};

/** Reads events only; the source and type are those of events it would send, which it never does. */
const reader = cloudEvents({ source: "pubsub-cli", type: "pubsub-cli", dataCodec: ANY_DATA });

/** Whether `message` says it is a CloudEvent, in either content mode. */
export function isCloudEvent(metadata: Readonly<Record<string, string>>): boolean {
  const contentType = metadata["content-type"];
  if (contentType?.split(";")[0]?.trim().toLowerCase() === STRUCTURED_CONTENT_TYPE) return true;
  return metadata[`${CLOUD_EVENTS_PREFIX}specversion`] !== undefined;
}

/** A CloudEvent's attributes and data bytes; throws an Error saying why for one that is not valid. */
export function readCloudEvent(message: Message): { event: CloudEventAttributes; data: Uint8Array } {
  const decoded = reader.decode(message.body, message.metadata);
  if (!(decoded instanceof DecodedEvent)) throw new Error("not a CloudEvent");
  return { event: decoded.event, data: decoded.data as Uint8Array };
}

/** The attributes in the order the spec lists them, then the extensions by name. */
export function attributeLines(event: CloudEventAttributes): string[] {
  const lines: string[] = [];
  const order = ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"] as const;
  for (const name of order) {
    const value = event[name];
    if (value !== undefined) lines.push(`${name}: ${value}`);
  }
  for (const name of Object.keys(event.extensions).sort()) lines.push(`${name}: ${event.extensions[name]}`);
  return lines;
}

/**
 * The data as text: JSON (by its datacontenttype, or none) indented by two
 * spaces, other UTF-8 as it is; undefined for bytes that are not UTF-8.
 */
export function dataText(event: CloudEventAttributes, data: Uint8Array): string | undefined {
  const text = utf8OrUndefined(data);
  if (text === undefined) return undefined;
  const type = event.datacontenttype?.split(";")[0]?.trim().toLowerCase() ?? "application/json";
  if (type === "application/json" || type.endsWith("+json")) {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      return text; // Says JSON, is not: shown as it is.
    }
  }
  return text;
}

/**
 * `receive`'s form of a CloudEvent on a terminal: attribute lines, a blank
 * line, the data, every line through `visibleControls` (the data keeps its
 * line breaks; bytes that are not UTF-8 as `visibleBody` shows them).
 * Undefined for a message that is no CloudEvent; for one that claims to be
 * but is not valid, `invalid` is told why and undefined returned, so the
 * message is shown as a plain body.
 */
export function renderCloudEvent(message: Message, invalid: (reason: string) => void): string | undefined {
  if (!isCloudEvent(message.metadata)) return undefined;
  let read: ReturnType<typeof readCloudEvent>;
  try {
    read = readCloudEvent(message);
  } catch (err) {
    invalid((err as Error).message);
    return undefined;
  }
  const head = attributeLines(read.event).map((line) => visibleControls(line));
  const text = dataText(read.event, read.data);
  const data = text === undefined ? visibleBody(read.data) : visibleControls(text, { lineBreaks: true });
  return `${head.join("\n")}\n\n${data}\n`;
}

/** The attributes `receive --json` adds to a CloudEvent's record (as `event`), or undefined. */
export function eventRecord(message: Message): CloudEventAttributes | undefined {
  if (!isCloudEvent(message.metadata)) return undefined;
  try {
    return readCloudEvent(message).event;
  } catch {
    return undefined;
  }
}
