import { invalidArgument } from "../errors.js";
import { checkedMetadata, type OutgoingMessage } from "../outgoing-message.js";
import { type CloudEventAttributes, CONTENT_TYPE_KEY, type Codec, type EncodedMessage } from "./codec.js";
import { formatIssues, type StandardSchemaV1 } from "./schema.js";

/** A message to send on a typed Topic (one opened with a `schema` or a `codec`). */
export interface TypedOutgoingMessage<T> {
  /** The message's id, as on an untyped message (`OutgoingMessage.id`); left out, one is generated. */
  id?: string;
  /** The value to send: validated by the topic's schema, then encoded by its codec. */
  data: T;
  /** String keys and values, as on an untyped message. The codec's content type replaces a `content-type` key. */
  metadata?: Record<string, string>;
  /** CloudEvent attributes to set or override for this message, for a CloudEvents codec; others ignore them. */
  event?: Partial<CloudEventAttributes>;
}

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

/**
 * The send side of a typed Topic: validates `data` with the schema, then
 * encodes it with the codec into the body and metadata an untyped send
 * takes. What is sent is the data as given (the schema's input), not the
 * schema's output: the receiver validates it again, transforms and all.
 */
export class TypedEncoder {
  readonly #codec: Codec;
  readonly #schema: StandardSchemaV1 | undefined;
  /** The metadata of a message sent without any: shared, since the send copies what it sends. */
  readonly #contentTypeOnly: Readonly<Record<string, string>>;

  constructor(codec: Codec, schema: StandardSchemaV1 | undefined) {
    this.#codec = codec;
    this.#schema = schema;
    const record = { [CONTENT_TYPE_KEY]: codec.contentType };
    // A codec's content type with no UTF-8 form is left to the send's checks, which name it.
    this.#contentTypeOnly = codec.contentType.isWellFormed() ? checkedMetadata(record) : Object.freeze(record);
  }

  /** The message to send, or a promise of it for a schema that validates asynchronously; throws InvalidArgument. */
  encode(message: unknown): OutgoingMessage | Promise<OutgoingMessage> {
    if (typeof message !== "object" || message === null || !("data" in message)) {
      const hint =
        typeof message === "object" && message !== null && "body" in message
          ? "; this topic has a schema or codec, so it sends data, not bytes"
          : "";
      throw invalidArgument(`send: message must be an object like { data, metadata }${hint}`);
    }
    const { id, data, metadata, event } = message as TypedOutgoingMessage<unknown>;
    if (!this.#schema) return withId(this.#encoded(data, metadata, event), id);
    const result = this.#schema["~standard"].validate(data);
    if (result instanceof Promise) {
      return result.then((settled) => withId(this.#validated(settled, data, metadata, event), id));
    }
    return withId(this.#validated(result, data, metadata, event), id);
  }

  #validated(
    result: StandardSchemaV1.Result<unknown>,
    data: unknown,
    metadata: Record<string, string> | undefined,
    event: Partial<CloudEventAttributes> | undefined,
  ): OutgoingMessage {
    if (result.issues) {
      throw invalidArgument(`send: the data does not match the topic's schema: ${formatIssues(result.issues)}`);
    }
    return this.#encoded(data, metadata, event);
  }

  #encoded(
    data: unknown,
    metadata: Record<string, string> | undefined,
    event: Partial<CloudEventAttributes> | undefined,
  ): OutgoingMessage {
    const given = typeof metadata === "object" && metadata !== null ? metadata : EMPTY;
    let encoded: ReturnType<Codec["encode"]>;
    try {
      encoded = this.#codec.encode(data, { event, metadata: given });
    } catch (err) {
      if ((err as { code?: unknown }).code === "InvalidArgument") throw err;
      throw invalidArgument(
        `send: the codec (${this.#codec.contentType}) cannot encode the data: ${messageOf(err)}`,
        err,
      );
    }
    const { body, metadata: added } =
      typeof encoded === "string" || encoded instanceof Uint8Array
        ? { body: encoded, metadata: undefined }
        : (encoded as EncodedMessage);
    if (metadata !== undefined && (typeof metadata !== "object" || metadata === null)) {
      // Left for the untyped checks, which name what is wrong.
      return { body, metadata };
    }
    if (added === undefined) {
      // The common case, kept cheap: no copy of metadata the send checks (and snapshots) anyway.
      if (metadata === undefined) return { body, metadata: this.#contentTypeOnly };
      return { body, metadata: { ...metadata, [CONTENT_TYPE_KEY]: this.#codec.contentType } };
    }
    const contentType = added[CONTENT_TYPE_KEY] ?? this.#codec.contentType;
    return { body, metadata: { ...metadata, ...added, [CONTENT_TYPE_KEY]: contentType } };
  }
}

/** `message` with the id the application gave, if any (the untyped send checks it). */
function withId(message: OutgoingMessage, id: unknown): OutgoingMessage {
  if (id !== undefined) (message as { id?: unknown }).id = id;
  return message;
}

/** An error's message, or the thrown value as text. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  try {
    return String(err);
  } catch {
    return "a value that cannot be printed";
  }
}
