import type { Message } from "@portable-pubsub/core";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A received message as `receive --json` prints it, one object per line. */
export interface MessageRecord {
  loggableId: string;
  /** The body as text when it is valid UTF-8, else base64 (see `bodyEncoding`). */
  body: string;
  bodyEncoding: "utf8" | "base64";
  metadata: Record<string, string>;
  /** Present where the driver knows it. */
  deliveryAttempt?: number;
}

/** Decodes `bytes` as UTF-8, or returns undefined if they are not valid UTF-8. */
export function utf8OrUndefined(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

export function messageRecord(message: Message): MessageRecord {
  const text = utf8OrUndefined(message.body);
  const record: MessageRecord = {
    loggableId: message.loggableId,
    body: text ?? Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength).toString("base64"),
    bodyEncoding: text === undefined ? "base64" : "utf8",
    metadata: { ...message.metadata },
  };
  if (message.deliveryAttempt !== undefined) record.deliveryAttempt = message.deliveryAttempt;
  return record;
}

/** Milliseconds as a short human figure: "38 µs", "0.42 ms", "12.3 ms", "1.25 s". */
export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms < 0.1) return `${Math.round(ms * 1000)} µs`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/** A rate, rounded to a whole number with thousands separators: "12,345". */
export function formatRate(perSecond: number): string {
  return Math.round(perSecond).toLocaleString("en-US");
}

/** The `q`-quantile (0..1) of `values`, sorted in place; 0 for none. Nearest-rank, as latency reports use. */
export function quantile(values: Float64Array | number[], q: number): number {
  if (values.length === 0) return 0;
  values.sort((a, b) => a - b);
  const rank = Math.min(values.length - 1, Math.max(0, Math.ceil(q * values.length) - 1));
  return values[rank] as number;
}
