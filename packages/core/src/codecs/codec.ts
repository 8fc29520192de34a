/**
 * Codecs: how a typed Topic turns a value into a body and back. The portable
 * layer calls them; drivers never see them (they carry the content type like
 * any other metadata, or in their broker's native field).
 */

/**
 * The metadata key that holds a message's content type (a media type such as
 * `application/json`), on every driver. Drivers whose broker has a native
 * field for it carry it there: rabbit:// in the AMQP `content_type`
 * property, nats:// in the `content-type` header; a received message's
 * native field comes back under this key. Elsewhere it travels as ordinary
 * metadata under this key.
 */
export const CONTENT_TYPE_KEY = "content-type";

/**
 * The attributes of a CloudEvent (CloudEvents 1.0): the required `id`,
 * `source`, `type` and `specversion`, the optional ones, and any extension
 * attributes.
 */
export interface CloudEventAttributes {
  /** Identifies the event; `source` + `id` is unique per distinct event. */
  id: string;
  /** Identifies the context in which the event happened (a URI-reference). */
  source: string;
  /** The type of event, such as `com.example.order.created`. */
  type: string;
  /** The CloudEvents version: `1.0`. */
  specversion: string;
  /** The subject of the event in the context of its source. */
  subject?: string;
  /** When the event happened, RFC 3339. */
  time?: string;
  /** The content type of the event's data. */
  datacontenttype?: string;
  /** The URI of the schema the data adheres to. */
  dataschema?: string;
  /** Extension attributes, by name (lower-case a-z and 0-9). */
  extensions: Record<string, string | number | boolean>;
}

/** What a codec's `encode` learns of the message it encodes, besides its data. */
export interface EncodeContext {
  /**
   * The event attributes this send sets or overrides
   * (`send({ data, event })`), for a codec that writes CloudEvents;
   * undefined when the send gives none. Other codecs ignore it.
   */
  event?: Partial<CloudEventAttributes>;
  /** The metadata the send gives (the codec may add to it, not take away). */
  metadata: Readonly<Record<string, string>>;
}

/** A body, and metadata to add to the message's, as a codec's `encode` may return. */
export interface EncodedMessage {
  /** Bytes are sent as they are; a string as its UTF-8 encoding. */
  body: Uint8Array | string;
  /**
   * Metadata to add to the message's, such as CloudEvents attributes. A
   * `content-type` key here replaces the codec's `contentType` for this
   * message.
   */
  metadata?: Record<string, string>;
}

/**
 * Turns a message's data into a body, and a received body back into data.
 * Pass one as the `codec` option of a Topic and a Subscription; `json()` is
 * the default when a `schema` is given. A plain object with `contentType`,
 * `encode(data)` returning bytes or a string, and `decode(body, metadata)`
 * returning the data is a codec.
 *
 * A codec must be deterministic and must not keep state between messages: it
 * may be called for many messages at once.
 */
export interface Codec {
  /**
   * The content type the codec writes, such as `application/json`. It is
   * set on every message sent (under {@link CONTENT_TYPE_KEY}), unless
   * `encode` returns another.
   */
  readonly contentType: string;
  /**
   * Whether a received message with this content type (undefined: the
   * message has none) is one this codec decodes. Optional: without it, the
   * content type must be `contentType` (compared without parameters such as
   * `; charset=utf-8`, ignoring case). A message it refuses is invalid: it
   * is never decoded, never handed to a handler.
   */
  accepts?(contentType: string | undefined): boolean;
  /**
   * Encodes `data`, which the schema (if any) has already accepted. Returns
   * the body, or the body with metadata to add. Throwing (a value the
   * format cannot hold) fails the send with InvalidArgument, and nothing is
   * sent.
   */
  encode(data: unknown, context: EncodeContext): Uint8Array | string | EncodedMessage;
  /**
   * Decodes a received body into the data (which the schema, if any, then
   * validates), or into a {@link DecodedEvent} made with `decodedEvent` to
   * also give the event's attributes. It must throw for a body it cannot
   * decode: the message is then invalid, and the error's message says why.
   */
  decode(body: Uint8Array, metadata: Readonly<Record<string, string>>): unknown;
}

/**
 * What a codec's `decode` returns to give a CloudEvent's attributes with its
 * data; make one with {@link decodedEvent}.
 */
export class DecodedEvent {
  /** The event's data, before schema validation. */
  readonly data: unknown;
  /** The event's attributes. */
  readonly event: CloudEventAttributes;

  /** Use {@link decodedEvent}. */
  constructor(data: unknown, event: CloudEventAttributes) {
    this.data = data;
    this.event = event;
  }
}

/** What `decode` returns for a body that carries `data` and the event attributes `event`. */
export function decodedEvent(data: unknown, event: CloudEventAttributes): DecodedEvent {
  return new DecodedEvent(data, event);
}

/** A media type without its parameters, in lower case: `application/json` for `Application/JSON; charset=utf-8`. */
export function mediaTypeOf(contentType: string): string {
  const semicolon = contentType.indexOf(";");
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}

/** Whether `codec` decodes a message whose content type is `contentType` (undefined: none). */
export function codecAccepts(codec: Codec, contentType: string | undefined): boolean {
  if (codec.accepts) return codec.accepts(contentType);
  return contentType !== undefined && mediaTypeOf(contentType) === mediaTypeOf(codec.contentType);
}
