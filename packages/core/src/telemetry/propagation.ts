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
  for (const _ in carrier) return { ...metadata, ...carrier };
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
  // The W3C keys first and by name: this runs for every received message.
  let found = metadata.traceparent !== undefined || metadata.tracestate !== undefined || metadata.baggage !== undefined;
  if (!found && keys !== W3C_KEYS) found = keys.some((key) => metadata[key] !== undefined);
  if (!found || keys.length === 0) return undefined;
  const visible: Record<string, string> = { ...metadata };
  for (const key of keys) delete visible[key];
  return visible;
}
