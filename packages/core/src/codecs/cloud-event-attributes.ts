/**
 * CloudEvents 1.0 context attributes: which ones exist, what makes a set of
 * them valid, and how a send's attributes are completed (a fresh `id`, the
 * current `time`). Shared by the structured and the binary content modes.
 */
import { randomUUID } from "node:crypto";
import type { CloudEventAttributes } from "./codec.js";

/** The only CloudEvents version this library reads and writes. */
export const CLOUD_EVENTS_SPEC_VERSION = "1.0";

/**
 * The metadata key prefix of CloudEvents attributes in binary mode, on every
 * driver: attribute `id` travels under metadata key `ce-id`, `source` under
 * `ce-source`, an extension `traceid` under `ce-traceid` (attribute names are
 * lower-case, so the keys are too). Drivers whose broker has a CloudEvents
 * protocol binding translate these keys to it (rabbit://: `cloudEvents_id`
 * application properties); the others carry them as they are. The data's
 * content type (`datacontenttype`) is the message's content type
 * (`content-type`), not a `ce-` key.
 */
export const CLOUD_EVENTS_PREFIX = "ce-";

/** The attributes the spec defines, each with its own meaning; any other is an extension. */
export const CORE_ATTRIBUTES = [
  "id",
  "source",
  "specversion",
  "type",
  "datacontenttype",
  "dataschema",
  "subject",
  "time",
] as const;

const CORE = new Set<string>(CORE_ATTRIBUTES);

/** Whether `name` is an attribute the spec defines (not an extension). */
export function isCoreAttribute(name: string): boolean {
  return CORE.has(name);
}

/**
 * The spec: "CloudEvents attribute names MUST consist of lower-case letters
 * ('a' to 'z') or digits ('0' to '9') from the ASCII character set."
 */
const ATTRIBUTE_NAME = /^[a-z0-9]+$/;

/** Whether `name` is a valid CloudEvents attribute name (lower-case a-z and 0-9). */
export function isAttributeName(name: string): boolean {
  return ATTRIBUTE_NAME.test(name);
}

/** Names the JSON event format uses for the data; no extension may take them. */
const RESERVED = new Set(["data", "data_base64"]);

/** RFC 3339 date-time, as the spec's Timestamp type requires. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
/** A URI: a scheme, then anything (the spec's URI type is absolute). */
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:\S*$/;
/** Characters the spec forbids in a String value: U+0000–U+001F and U+007F–U+009F. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters forbidden.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * The reasons `attributes` is not a valid CloudEvent (empty when it is): a
 * required attribute missing or empty, a specversion other than 1.0, a time
 * that is not RFC 3339, a dataschema that is not an absolute URI, an
 * extension with a bad name or value.
 */
export function attributeProblems(attributes: Partial<CloudEventAttributes>): string[] {
  const problems: string[] = [];
  for (const name of ["id", "source", "type", "specversion"] as const) {
    const value = attributes[name];
    if (value === undefined) problems.push(`the required attribute "${name}" is missing`);
    else if (typeof value !== "string" || value === "") {
      problems.push(`the required attribute "${name}" must be a non-empty string`);
    }
  }
  const version = attributes.specversion;
  if (typeof version === "string" && version !== "" && version !== CLOUD_EVENTS_SPEC_VERSION) {
    problems.push(`specversion is ${JSON.stringify(version)}; only "${CLOUD_EVENTS_SPEC_VERSION}" is supported`);
  }
  for (const name of ["subject", "time", "datacontenttype", "dataschema"] as const) {
    const value = attributes[name];
    if (value !== undefined && (typeof value !== "string" || value === "")) {
      problems.push(`the attribute "${name}" must be a non-empty string when present`);
    }
  }
  if (typeof attributes.time === "string" && attributes.time !== "" && !isTimestamp(attributes.time)) {
    problems.push(`time ${JSON.stringify(attributes.time)} is not an RFC 3339 timestamp`);
  }
  if (typeof attributes.dataschema === "string" && attributes.dataschema !== "") {
    if (!ABSOLUTE_URI.test(attributes.dataschema)) {
      problems.push(`dataschema ${JSON.stringify(attributes.dataschema)} is not an absolute URI`);
    }
  }
  for (const name of ["id", "source", "type", "subject"] as const) {
    const value = attributes[name];
    if (typeof value === "string" && CONTROL.test(value)) {
      problems.push(`the attribute "${name}" has a control character, which CloudEvents strings may not hold`);
    }
  }
  problems.push(...extensionProblems(attributes.extensions ?? {}));
  return problems;
}

function extensionProblems(extensions: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const name of Object.keys(extensions)) {
    if (isCoreAttribute(name) || RESERVED.has(name)) {
      problems.push(`the extension "${name}" has the name of a core attribute or of the data; set it as one`);
    } else if (!isAttributeName(name)) {
      problems.push(`the extension name ${JSON.stringify(name)} must be lower-case letters a-z and digits 0-9 only`);
    }
    const value = extensions[name];
    if (typeof value === "string") {
      if (CONTROL.test(value)) problems.push(`the extension "${name}" has a control character`);
    } else if (typeof value === "number") {
      // The spec's Integer: a whole number within 32 bits.
      if (!Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31) {
        problems.push(`the extension "${name}" is ${value}; a number must be an integer within 32 bits`);
      }
    } else if (typeof value !== "boolean") {
      problems.push(`the extension "${name}" must be a string, an integer or a boolean`);
    }
  }
  return problems;
}

function isTimestamp(value: string): boolean {
  return RFC3339.test(value) && !Number.isNaN(Date.parse(value));
}

/** What a send may set or override, per message, on top of the codec's `source` and `type`. */
export type EventOverrides = Partial<Omit<CloudEventAttributes, "time" | "extensions">> & {
  time?: string | Date;
  extensions?: Record<string, string | number | boolean>;
};

/**
 * A send's attributes: the codec's defaults, then the send's overrides, then
 * a fresh UUID `id` and the current `time` where neither gave one. Throws
 * an Error listing the problems if the result is not a valid CloudEvent.
 */
export function completeAttributes(
  defaults: { source: string; type: string },
  overrides: EventOverrides | undefined,
): CloudEventAttributes {
  const given = overrides ?? {};
  const time = given.time instanceof Date ? timeOf(given.time) : given.time;
  const attributes: CloudEventAttributes = {
    id: given.id ?? randomUUID(),
    source: given.source ?? defaults.source,
    type: given.type ?? defaults.type,
    specversion: given.specversion ?? CLOUD_EVENTS_SPEC_VERSION,
    time: time ?? new Date().toISOString(),
    extensions: { ...given.extensions },
  };
  for (const name of ["subject", "dataschema", "datacontenttype"] as const) {
    const value = given[name];
    if (value !== undefined) attributes[name] = value;
  }
  const problems = attributeProblems(attributes);
  if (problems.length > 0) throw new Error(`the event is not a valid CloudEvent: ${problems.join("; ")}`);
  return attributes;
}

function timeOf(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new Error("the event's time is an invalid Date");
  return date.toISOString();
}

/** Throws an Error naming every problem of received `attributes`; returns them when valid. */
export function checkReceived(attributes: CloudEventAttributes): CloudEventAttributes {
  const problems = attributeProblems(attributes);
  if (problems.length > 0) throw new Error(`not a valid CloudEvent: ${problems.join("; ")}`);
  return attributes;
}
