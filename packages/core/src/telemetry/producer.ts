/**
 * The producer side of tracing: each sent message gets a `create` span in
 * the sender's context, and that context travels in the message's metadata
 * (unless propagation is off), where it counts against the broker's limits
 * like any metadata.
 */
import { context, type SpanContext, trace } from "@opentelemetry/api";
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

/**
 * Where a message `prepare` returned keeps its create span's context: on the
 * message itself, a copy core made, rather than in a WeakMap, which costs an
 * ephemeron entry per message for the collector to trace.
 */
const CREATED = Symbol("pubsub.created");
type Traced = DriverMessage & { [CREATED]?: SpanContext };

/** See the module comment. */
export class SendTracing {
  readonly #instruments: Instruments;
  readonly #propagate: boolean;

  constructor(instruments: Instruments, options: TopicTracing | undefined) {
    this.#instruments = instruments;
    this.#propagate = options?.propagate ?? true;
  }

  /**
   * Records the `create` span of `message` (a copy core made for this send,
   * which it completes) and returns the message to send: with the trace
   * context in its metadata. The driver's `checkMessage`
   * runs on it: a message that passes it only without the context keys fails
   * with a message that says so.
   */
  prepare(message: DriverMessage, driver: TopicDriver): DriverMessage {
    const parent = context.active();
    const span = this.#instruments.create(message, parent);
    const plain = message.metadata;
    // `message` is core's own copy of what the application sent, made for this send: completed in place.
    const traced: Traced = message;
    if (this.#propagate) traced.metadata = injectInto(plain, trace.setSpan(parent, span));
    traced[CREATED] = span.spanContext();
    if (driver.checkMessage) checkWithContext(traced, plain, (m) => driver.checkMessage?.(m));
    return traced;
  }

  /** The context of the `create` span of a message `prepare` returned. */
  created = (message: DriverMessage): SpanContext | undefined => (message as Traced)[CREATED];
}

function checkWithContext(
  traced: DriverMessage,
  plain: Record<string, string>,
  check: (message: DriverMessage) => void,
): void {
  try {
    check(traced);
  } catch (err) {
    if (traced.metadata === plain || !(err instanceof PubSubError)) throw err;
    check({ ...traced, metadata: plain });
    const added = Object.keys(traced.metadata).length - Object.keys(plain).length;
    throw new PubSubError(
      err.code,
      `${err.message} (with the ${added} trace context metadata keys that tracing adds; ` +
        "send less metadata, or open the topic with tracing: { propagate: false })",
      { cause: err },
    );
  }
}
