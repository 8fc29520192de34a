/**
 * Trace context across the broker: written into a message's metadata on
 * send, read back on receive, and kept out of the metadata the application
 * sees unless it asks for it.
 */
import { type Context, propagation, ROOT_CONTEXT } from "@opentelemetry/api";

/** The keys of W3C Trace Context and Baggage, whatever propagator is registered. */
const W3C_KEYS = ["traceparent", "tracestate", "baggage"];

/** The metadata keys a propagator may write: the registered propagator's, and W3C's. */
export function contextKeys(): readonly string[] {
  const fields = propagation.fields();
  return fields.length === 0 ? W3C_KEYS : [...new Set([...W3C_KEYS, ...fields])];
}

/** `metadata` with `context` written in by the global propagator; `metadata` itself if it wrote nothing. */
export function injectInto(metadata: Record<string, string>, context: Context): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context, carrier);
  for (const _ in carrier) {
    for (const _ in metadata) return { ...metadata, ...carrier };
    return carrier;
  }
  return metadata;
}

/** The context a message carries in its metadata; the root context if none. */
export function extractFrom(metadata: Readonly<Record<string, string>>): Context {
  return propagation.extract(ROOT_CONTEXT, metadata);
}

/**
 * Splits the trace-context keys `keys` off received metadata. Returns
 * undefined when there are none (the common, free case), else the metadata
 * without them.
 */
export function withoutContextKeys(
  metadata: Readonly<Record<string, string>>,
  keys: readonly string[],
): Record<string, string> | undefined {
  // This runs for every received message: walk the message's own keys (usually few, often none) rather
  // than looking up absent ones, and compare the W3C names directly.
  if (keys.length === 0) return undefined;
  let found = false;
  for (const key in metadata) {
    if (
      key === "traceparent" ||
      key === "tracestate" ||
      key === "baggage" ||
      (keys !== W3C_KEYS && keys.includes(key))
    ) {
      found = true;
      break;
    }
  }
  if (!found) return undefined;
  // Copied without the keys rather than copied and deleted from: a delete turns the object into a slow dictionary.
  const visible: Record<string, string> = {};
  for (const key in metadata) if (!keys.includes(key)) visible[key] = metadata[key] as string;
  return visible;
}
