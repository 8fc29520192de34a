export type { Check, Inspection, UrlInspector } from "@portable-pubsub/core/driver";

/**
 * Reads a broker's product and version off a driver's native object, for
 * clients that expose the server's handshake properties (amqplib does, as
 * `connection.serverProperties`). Undefined when there are none.
 */
export function serverProductOf(native: unknown): string | undefined {
  const candidates = [native, (native as { connection?: unknown } | null)?.connection];
  for (const candidate of candidates) {
    const props = (candidate as { serverProperties?: Record<string, unknown> } | null | undefined)?.serverProperties;
    if (props && typeof props.product === "string") {
      return typeof props.version === "string" ? `${props.product} ${props.version}` : props.product;
    }
  }
  return undefined;
}
