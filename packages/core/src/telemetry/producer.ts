/**
 * The producer side of tracing: each sent message gets a `create` span in
 * the sender's context, and that context travels in the message's metadata
 * (unless propagation is off), where it counts against the broker's limits
 * like any metadata.
 */
import { type SpanContext, trace } from "@opentelemetry/api";
import type { DriverMessage, TopicDriver } from "../driver/driver.js";
import { PubSubError } from "../errors.js";
import type { Instruments } from "./instruments.js";
import { injectInto } from "./propagation.js";

/** Portable tracing options of a Topic. */
export interface TopicTracing {
  /**
   * Write the sender's trace context into each message's metadata (W3C
   * `traceparent`/`tracestate` with the default propagator), so that the
   * consumer's spans join the sender's trace. Default true.
   */
  propagate?: boolean;
}

/** See the module comment. */
export class SendTracing {
  readonly #instruments: Instruments;
  readonly #propagate: boolean;
  readonly #created = new WeakMap<DriverMessage, SpanContext>();

  constructor(instruments: Instruments, options: TopicTracing | undefined) {
    this.#instruments = instruments;
    this.#propagate = options?.propagate ?? true;
  }

  /**
   * Records the `create` span of `message` and returns the message to send:
   * with the trace context in its metadata. The driver's `checkMessage`
   * runs on it: a message that passes it only without the context keys fails
   * with a message that says so.
   */
  prepare(message: DriverMessage, driver: TopicDriver): DriverMessage {
    const context = this.#instruments.create(message);
    const spanContext = trace.getSpanContext(context);
    const metadata = this.#propagate ? injectInto(message.metadata, context) : message.metadata;
    const traced = metadata === message.metadata ? message : { ...message, metadata };
    if (driver.checkMessage) checkWithContext(traced, message, (m) => driver.checkMessage?.(m));
    if (spanContext) this.#created.set(traced, spanContext);
    return traced;
  }

  /** The context of the `create` span of a message `prepare` returned. */
  created = (message: DriverMessage): SpanContext | undefined => this.#created.get(message);
}

function checkWithContext(traced: DriverMessage, plain: DriverMessage, check: (message: DriverMessage) => void): void {
  try {
    check(traced);
  } catch (err) {
    if (traced === plain || !(err instanceof PubSubError)) throw err;
    check(plain);
    const added = Object.keys(traced.metadata).length - Object.keys(plain.metadata).length;
    throw new PubSubError(
      err.code,
      `${err.message} (with the ${added} trace context metadata keys that tracing adds; ` +
        "send less metadata, or open the topic with tracing: { propagate: false })",
      { cause: err },
    );
  }
}
