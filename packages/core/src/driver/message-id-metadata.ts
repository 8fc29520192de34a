/**
 * The metadata key that carries a message's id on a broker with no field
 * for it: "pubsub.id". A driver that has a native id field (or a field of
 * its own) does not use it.
 */
export const MESSAGE_ID_KEY = "pubsub.id";

/**
 * The metadata to send for a message whose id travels in metadata: `metadata`
 * with `id` under {@link MESSAGE_ID_KEY} (replacing one the application set).
 */
export function messageIdToMetadata(id: string, metadata: Readonly<Record<string, string>>): Record<string, string> {
  return { ...metadata, [MESSAGE_ID_KEY]: id };
}

/**
 * What a received message's metadata says: the id under
 * {@link MESSAGE_ID_KEY}, or `fallback` (the broker's own id of the message)
 * for a message sent without one, such as by another program; and the
 * metadata without that key, as the application sent it.
 */
export function messageIdFromMetadata(
  metadata: Readonly<Record<string, string>>,
  fallback: string,
): { id: string; metadata: Record<string, string> } {
  const id = metadata[MESSAGE_ID_KEY];
  if (id === undefined) return { id: fallback, metadata: metadata as Record<string, string> };
  const { [MESSAGE_ID_KEY]: _, ...rest } = metadata;
  return { id, metadata: rest };
}
