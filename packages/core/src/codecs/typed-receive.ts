import type { DriverMessage } from "../driver/driver.js";
import type { AckSink } from "../message.js";
import { type CloudEventAttributes, CONTENT_TYPE_KEY, type Codec, codecAccepts, DecodedEvent } from "./codec.js";
import { formatIssues, type StandardSchemaV1 } from "./schema.js";
import { TypedMessage } from "./typed-message.js";
import { messageOf } from "./typed-send.js";

/**
 * Why a received message is invalid: its content type is not its codec's,
 * its body cannot be decoded, or its data fails the schema. The message says
 * which, with each schema issue's path; it becomes `deadletter.error`.
 */
export class InvalidMessageError extends Error {
  /** The schema's issues, when the data failed it. */
  readonly issues: readonly StandardSchemaV1.Issue[] | undefined;

  constructor(message: string, issues?: readonly StandardSchemaV1.Issue[]) {
    super(`invalid message: ${message}`);
    this.name = "InvalidMessageError";
    this.issues = issues;
  }
}

/**
 * Where a valid message keeps what it decoded to until its Message is made:
 * a slot on the driver's message object itself. A WeakMap entry per message
 * cost the collector more (ephemerons) than the lookup saved. The slot holds
 * the data itself, or a {@link WithEvent} where there are event attributes:
 * no object per message for plain data.
 */
const DECODED = Symbol("decoded");
type DecodedCarrier = DriverMessage & { [DECODED]?: unknown };

/** Data decoded with CloudEvent attributes, as the slot keeps it. Never the data itself: the class is not exported. */
class WithEvent {
  constructor(
    readonly data: unknown,
    readonly event: CloudEventAttributes,
  ) {}
}

/**
 * The receive side of a typed Subscription: decodes and validates each
 * arrived message once, before it can be handed out, and keeps what it
 * decoded to until the Message is made.
 */
export class TypedDecoder {
  readonly #codec: Codec;
  readonly #schema: StandardSchemaV1 | undefined;

  constructor(codec: Codec, schema: StandardSchemaV1 | undefined) {
    this.#codec = codec;
    this.#schema = schema;
  }

  /**
   * The valid messages of `messages`, in order; each invalid one goes to
   * `invalid` instead. A promise only when the schema validates some
   * message asynchronously.
   */
  filter(
    messages: DriverMessage[],
    invalid: (message: DriverMessage, error: InvalidMessageError) => void,
  ): DriverMessage[] | Promise<DriverMessage[]> {
    let valid: DriverMessage[] | undefined;
    let pending: Promise<void>[] | undefined;
    const verdicts: (boolean | undefined)[] = new Array(messages.length);
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i] as DriverMessage;
      const verdict = this.#check(message);
      if (verdict instanceof Promise) {
        pending ??= [];
        pending.push(
          verdict.then((settled) => {
            verdicts[i] = this.#settle(message, settled, invalid);
          }),
        );
      } else if (!pending) {
        const ok = this.#settle(message, verdict, invalid);
        if (!ok) valid ??= messages.slice(0, i);
        else valid?.push(message);
        verdicts[i] = ok;
      } else verdicts[i] = this.#settle(message, verdict, invalid);
    }
    if (!pending) return valid ?? messages;
    return Promise.all(pending).then(() => messages.filter((_, i) => verdicts[i]));
  }

  /** The TypedMessage of `message`, which must have passed `filter`, with what it decoded to. */
  toMessage(message: DriverMessage, sink: AckSink): TypedMessage<unknown> {
    const carrier = message as DecodedCarrier;
    const decoded = carrier[DECODED];
    carrier[DECODED] = undefined;
    return decoded instanceof WithEvent
      ? new TypedMessage(message, sink, decoded.data, decoded.event)
      : new TypedMessage(message, sink, decoded, undefined);
  }

  #settle(
    message: DriverMessage,
    verdict: true | InvalidMessageError,
    invalid: (message: DriverMessage, error: InvalidMessageError) => void,
  ): boolean {
    if (verdict === true) return true;
    invalid(message, verdict);
    return false;
  }

  /** Decodes and validates `message`: true, with what it decoded to in its slot, or why it is invalid. */
  #check(message: DriverMessage): true | InvalidMessageError | Promise<true | InvalidMessageError> {
    const codec = this.#codec;
    const contentType = message.metadata[CONTENT_TYPE_KEY];
    if (!codecAccepts(codec, contentType)) {
      return new InvalidMessageError(
        contentType === undefined
          ? `it has no content type, and the codec reads ${codec.contentType} (json({ requireContentType: false }) also reads JSON without one)`
          : `its content type ${JSON.stringify(contentType)} is not what the codec reads (${codec.contentType})`,
      );
    }
    let decoded: unknown;
    try {
      decoded = codec.decode(message.body, message.metadata);
    } catch (err) {
      return new InvalidMessageError(
        `the body cannot be decoded as ${contentType ?? codec.contentType}: ${messageOf(err)}`,
      );
    }
    const event = decoded instanceof DecodedEvent ? decoded.event : undefined;
    const data = decoded instanceof DecodedEvent ? decoded.data : decoded;
    const schema = this.#schema;
    if (!schema) return keep(message, data, event);
    let result: ReturnType<StandardSchemaV1["~standard"]["validate"]>;
    try {
      result = schema["~standard"].validate(data);
    } catch (err) {
      return new InvalidMessageError(`the schema threw: ${messageOf(err)}`);
    }
    if (result instanceof Promise) {
      return result.then(
        (settled) => validated(message, settled, event),
        (err: unknown) => new InvalidMessageError(`the schema threw: ${messageOf(err)}`),
      );
    }
    return validated(message, result, event);
  }
}

function validated(
  message: DriverMessage,
  result: StandardSchemaV1.Result<unknown>,
  event: CloudEventAttributes | undefined,
): true | InvalidMessageError {
  if (result.issues) {
    return new InvalidMessageError(`the data does not match the schema: ${formatIssues(result.issues)}`, result.issues);
  }
  return keep(message, result.value, event);
}

/** Keeps what `message` decoded to in its slot until its Message is made. */
function keep(message: DriverMessage, data: unknown, event: CloudEventAttributes | undefined): true {
  (message as DecodedCarrier)[DECODED] = event === undefined ? data : new WithEvent(data, event);
  return true;
}
