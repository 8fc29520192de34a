import { invalidArgument } from "../errors.js";
import { type Codec, mediaTypeOf } from "./codec.js";

/** Options of {@link json}. */
export interface JsonCodecOptions {
  /**
   * Whether a received message must say it is JSON (content type
   * `application/json`). Set it to false to also decode messages that carry
   * no content type at all, such as a foreign producer's (Python's pika, a
   * plain amqplib publish) that sends a JSON body and nothing else. A
   * message with another content type is invalid either way. Default true.
   */
  requireContentType?: boolean;
}

/** The content type `json()` writes and reads. */
export const JSON_CONTENT_TYPE = "application/json";

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * The JSON codec, the default when a `schema` is given: `JSON.stringify`
 * on send, with content type `application/json`; `JSON.parse` of the UTF-8
 * body on receive. A body that is not valid UTF-8 or not JSON makes the
 * message invalid, and so does a content type other than
 * `application/json` (or none, unless `requireContentType` is false).
 */
export function json(options: JsonCodecOptions = {}): Codec {
  if (typeof options !== "object" || options === null) {
    throw invalidArgument("json: options must be an object such as { requireContentType: false }");
  }
  const { requireContentType = true } = options;
  if (typeof requireContentType !== "boolean") {
    throw invalidArgument(`json: requireContentType must be true or false, got ${typeof requireContentType}`);
  }
  return {
    contentType: JSON_CONTENT_TYPE,
    accepts: (contentType) =>
      contentType === undefined
        ? !requireContentType
        : contentType === JSON_CONTENT_TYPE || mediaTypeOf(contentType) === JSON_CONTENT_TYPE,
    encode: encodeJson,
    decode: (body) => JSON.parse(decoder.decode(body)),
  };
}

function encodeJson(data: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(data);
  } catch (err) {
    throw invalidArgument(`send: the data cannot be encoded as JSON: ${(err as Error).message}`, err);
  }
  if (text === undefined) {
    throw invalidArgument(`send: the data cannot be encoded as JSON (it is ${typeof data}); send a JSON value`);
  }
  return text;
}
