import { CONTENT_TYPE_KEY, type Message } from "@portable-pubsub/core";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A received message as `receive --json` prints it, one object per line. */
export interface MessageRecord {
  /** The message's id (`msg.id`). */
  id: string;
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
    id: message.id,
    loggableId: message.loggableId,
    body: text ?? Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength).toString("base64"),
    bodyEncoding: text === undefined ? "base64" : "utf8",
    metadata: { ...message.metadata },
  };
  if (message.deliveryAttempt !== undefined) record.deliveryAttempt = message.deliveryAttempt;
  return record;
}

/** Whether a content type is JSON: `application/json`, or any `+json` type (`application/cloudevents+json`). */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const media = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  return media === "application/json" || (media.startsWith("application/") && media.endsWith("+json"));
}

/**
 * The body of a message whose content type says JSON, indented for a
 * person to read; undefined for any other message, or a body that is not
 * valid JSON after all (printed as it is).
 */
export function prettyJsonBody(message: Message): string | undefined {
  if (!isJsonContentType(message.metadata[CONTENT_TYPE_KEY])) return undefined;
  const text = utf8OrUndefined(message.body);
  if (text === undefined) return undefined;
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return undefined;
  }
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

/**
 * What a terminal acts on or hides: C0 controls and DEL, C1 controls, format characters (bidi overrides and
 * isolates, zero-width spaces, the byte order mark, the soft hyphen), line and paragraph separators, and lone
 * surrogates.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;
/** Kept as they are: a tab only moves the cursor on, and emoji and several scripts need the zero-width (non-)joiner. */
const HARMLESS = new Set(["\t", "\u200c", "\u200d"]);
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r" };

/**
 * Untrusted text (a body, metadata, an error's message, a name a broker gave) made safe to show on a terminal:
 * every character a terminal would act on or hide becomes a visible escape, `\x1b` (U+0000 to U+00FF), `\u202e`,
 * `\u{e0001}`, `\n` and `\r`, so that text cannot retitle or clear the terminal, move its cursor, hyperlink, or
 * hide or reorder what is shown. Tabs and the zero-width joiners stay. With `lineBreaks`, `\n` stays a line break
 * (for bodies, whose lines are their structure); else it is escaped, keeping one field on one line. Backslashes
 * are not doubled: this is for reading, and piped output and `--json` keep the exact data.
 */
export function visibleControls(text: string, options: { lineBreaks?: boolean } = {}): string {
  return text.replace(UNSAFE, (char) => {
    if (HARMLESS.has(char) || (char === "\n" && options.lineBreaks)) return char;
    return NAMED[char] ?? escapeCodePoint(char.codePointAt(0) ?? 0);
  });
}

/**
 * A message body for a terminal: valid UTF-8 as text through {@link visibleControls} with its line breaks kept;
 * other bytes with printable ASCII, tabs and line breaks as they are and every other byte as `\xNN`.
 */
export function visibleBody(body: Uint8Array): string {
  const text = utf8OrUndefined(body);
  if (text !== undefined) return visibleControls(text, { lineBreaks: true });
  let out = "";
  for (const byte of body) {
    out += (byte >= 0x20 && byte < 0x7f) || byte === 0x0a || byte === 0x09 ? String.fromCharCode(byte) : hex(byte);
  }
  return out;
}

function escapeCodePoint(codePoint: number): string {
  if (codePoint <= 0xff) return hex(codePoint);
  if (codePoint <= 0xffff) return `\\u${codePoint.toString(16).padStart(4, "0")}`;
  return `\\u{${codePoint.toString(16)}}`;
}

function hex(byte: number): string {
  return `\\x${byte.toString(16).padStart(2, "0")}`;
}
