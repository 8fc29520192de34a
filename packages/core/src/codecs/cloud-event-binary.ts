/**
 * The binary content mode in portable terms: the data is the body, its
 * content type is the message's content type, and every other attribute is
 * a metadata entry `ce-<name>` holding the attribute's canonical string.
 * Drivers translate these keys to their broker's protocol binding.
 */

import { CLOUD_EVENTS_PREFIX, checkReceived, isAttributeName, isCoreAttribute } from "./cloud-event-attributes.js";
import type { CloudEventAttributes } from "./codec.js";

/** The `ce-` metadata of an event: every attribute but `datacontenttype`, which is the content type. */
export function binaryMetadataOf(attributes: CloudEventAttributes): Record<string, string> {
  const metadata: Record<string, string> = {};
  const { extensions, datacontenttype: _, ...core } = attributes;
  for (const [name, value] of Object.entries(core)) {
    if (value !== undefined) metadata[CLOUD_EVENTS_PREFIX + name] = value;
  }
  for (const [name, value] of Object.entries(extensions)) metadata[CLOUD_EVENTS_PREFIX + name] = String(value);
  return metadata;
}

/** Whether `metadata` holds a binary-mode event: it has the `ce-specversion` key. */
export function hasBinaryEvent(metadata: Readonly<Record<string, string>>): boolean {
  return metadata[`${CLOUD_EVENTS_PREFIX}specversion`] !== undefined;
}

/**
 * The attributes of a binary-mode event from its `ce-` metadata and its
 * content type. Keys after `ce-` that are not attribute names (upper case,
 * punctuation) are the sender's metadata, not attributes. Throws an Error
 * naming every problem of an invalid event.
 */
export function attributesOfBinary(
  metadata: Readonly<Record<string, string>>,
  contentType: string | undefined,
): CloudEventAttributes {
  const core: Record<string, string> = {};
  const extensions: Record<string, string> = {};
  for (const key of Object.keys(metadata)) {
    if (!key.startsWith(CLOUD_EVENTS_PREFIX)) continue;
    const name = key.slice(CLOUD_EVENTS_PREFIX.length);
    if (!isAttributeName(name)) continue;
    const value = metadata[key] as string;
    if (name === "datacontenttype") continue; // The content type says it (a NATS binding header may repeat it).
    if (isCoreAttribute(name)) core[name] = value;
    else extensions[name] = value;
  }
  if (contentType !== undefined) core.datacontenttype = contentType;
  return checkReceived({ ...(core as unknown as Omit<CloudEventAttributes, "extensions">), extensions });
}
