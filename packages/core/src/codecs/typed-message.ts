import type { DriverMessage } from "../driver/driver.js";
import { type AckSink, Message } from "../message.js";
import type { CloudEventAttributes } from "./codec.js";

/**
 * A message received on a typed Subscription (one opened with a `schema` or
 * a `codec`): a Message whose body was decoded and validated before anyone
 * saw it. `body` and `metadata` are still there, unchanged.
 */
export class TypedMessage<T> extends Message {
  /** The decoded data, as the schema output it (transforms applied). */
  readonly data: T;
  /** The CloudEvent attributes, for a message a CloudEvents codec decoded; undefined otherwise. */
  readonly event: CloudEventAttributes | undefined;

  /** Made by the Subscription. */
  constructor(message: DriverMessage, sink: AckSink, data: T, event: CloudEventAttributes | undefined) {
    super(message, sink);
    this.data = data;
    this.event = event;
  }
}
