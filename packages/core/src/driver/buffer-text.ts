/**
 * Short text in and out of a Buffer, through Buffer's own methods for one
 * encoding (`latin1Slice`, `utf8Slice`, `utf8Write`), which every Node
 * version since 0.x has on Buffer.prototype. `toString` and `write` reach
 * the same methods after looking the encoding up by name and checking their
 * arguments: for a 36-character message id that lookup cost more than the
 * copy (measured on mem:// with `process`: `toString`'s wrappers were 6% of
 * the CPU per message, the copies 4%). Callers pass bounds that are in range,
 * as the methods do not check them the way `toString` does.
 */

interface EncodingMethods {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
  utf8Write(text: string, offset: number, length?: number): number;
}

const direct = ["latin1Slice", "utf8Slice", "utf8Write"].every(
  (name) => typeof (Buffer.prototype as unknown as Record<string, unknown>)[name] === "function",
);

/** The latin1 text of `bytes[start, end)`. */
export const latin1Text: (bytes: Buffer, start: number, end: number) => string = direct
  ? (bytes, start, end) => (bytes as unknown as EncodingMethods).latin1Slice(start, end)
  : (bytes, start, end) => bytes.toString("latin1", start, end);

/** The UTF-8 text of `bytes[start, end)`. */
export const utf8Text: (bytes: Buffer, start: number, end: number) => string = direct
  ? (bytes, start, end) => (bytes as unknown as EncodingMethods).utf8Slice(start, end)
  : (bytes, start, end) => bytes.toString("utf8", start, end);

/**
 * Writes `text` as UTF-8 into `bytes` from `offset`; returns the bytes
 * written. The caller must leave room for all of it (3 bytes per UTF-16 unit
 * at most) and pass well-formed text: a character that does not fit is not
 * written, and a lone surrogate is written as U+FFFD.
 */
export const writeUtf8: (bytes: Buffer, text: string, offset: number) => number = direct
  ? (bytes, text, offset) => (bytes as unknown as EncodingMethods).utf8Write(text, offset, bytes.length - offset)
  : (bytes, text, offset) => bytes.write(text, offset, "utf8");
