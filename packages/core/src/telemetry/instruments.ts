/**
 * Spans and metrics of one Topic or Subscription, after the OpenTelemetry
 * messaging conventions: a `create` span per sent message (its context
 * travels in the message), a `send` span per batch linked to those, a
 * `receive` span per receive batch, a `process` span around each handler
 * call of `process()`, parented to the message's creation context. All of
 * it is the API's no-op until the application registers an SDK, and the
 * per-message work is skipped altogether then (see `tracingOn`).
 */
import {
  type Attributes,
  type Context,
  context,
  type Link,
  type ObservableResult,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import type { DriverBase, DriverMessage } from "../driver/driver.js";
import type { HealthState } from "../driver/health.js";
import { errorCode, PubSubError } from "../errors.js";
import { ATTR, UNKNOWN_SYSTEM } from "./conventions.js";
import { type Logger, writeLog } from "./logger.js";
import { contextKeys } from "./propagation.js";
import { type MetricInstruments, metricInstruments, propagatorOn, tracer, tracingOn } from "./providers.js";

/**
 * How often, at most, a Topic or Subscription looks whether an SDK was
 * registered since: one registered after it was opened is used from its
 * batches that start this long after the registration.
 */
const REFRESH_EVERY_MS = 100;

/** `error.type` of a failure: its portable code, as the driver maps it (the conventions ask for a low-cardinality type). */
function errorType(driver: DriverBase, err: unknown): string {
  if (err instanceof PubSubError) return err.code;
  const mapped = driver.errors?.errorCode(err);
  return mapped === undefined || mapped === "Unknown" ? errorCode(err) : mapped;
}

/** The attributes every span and metric of one driver carries. */
export function baseAttributes(driver: DriverBase): Attributes {
  const t = driver.telemetry;
  const attributes: Attributes = {
    [ATTR.system]: t?.system ?? UNKNOWN_SYSTEM,
    [ATTR.destination]: t?.destination ?? driver.resource,
  };
  if (t?.subscription !== undefined) attributes[ATTR.subscription] = t.subscription;
  if (t?.consumerGroup !== undefined) attributes[ATTR.consumerGroup] = t.consumerGroup;
  if (t?.serverAddress !== undefined) attributes[ATTR.serverAddress] = t.serverAddress;
  if (t?.serverPort !== undefined) attributes[ATTR.serverPort] = t.serverPort;
  return attributes;
}

/**
 * What a Topic or Subscription records; one per object. Whether an SDK is
 * registered is looked up once per batch (`refresh`), not per message: the
 * lookups go through the API's global registry, and at a million messages a
 * second even that shows. An SDK registered after a Topic or Subscription
 * was opened is picked up within REFRESH_EVERY_MS.
 */
export class Instruments {
  readonly #driver: DriverBase;
  readonly #logger: Logger | undefined;
  readonly #base: Attributes;
  readonly #destination: string;
  readonly #operation: Record<string, Attributes> = {};
  #tracing = false;
  #tracer: Tracer = tracer();
  #metrics: MetricInstruments | undefined;
  #contextKeys: readonly string[] = [];
  #refreshedAt = Number.NEGATIVE_INFINITY;

  /**
   * `logger`, if given, is told once per process when a tracer provider is
   * registered without a propagator (see `warnNoPropagator`); leave it out
   * where trace context is not propagated on purpose.
   */
  constructor(driver: DriverBase, logger?: Logger) {
    this.#driver = driver;
    this.#logger = logger;
    this.#base = baseAttributes(driver);
    this.#destination = String(this.#base[ATTR.destination]);
    this.refresh();
  }

  /**
   * Looks again whether a tracer or meter provider is registered, and which
   * keys the propagator writes: at once when forced, else at most every
   * REFRESH_EVERY_MS, since the lookups go through the API's global registry
   * and a fast driver runs many small batches.
   */
  refresh(force = true): void {
    const now = performance.now();
    if (!force && now - this.#refreshedAt < REFRESH_EVERY_MS) return;
    this.#refreshedAt = now;
    this.#tracing = tracingOn();
    this.#tracer = tracer();
    this.#metrics = metricInstruments();
    this.#contextKeys = contextKeys();
    if (this.#tracing && this.#logger && !warnedNoPropagator && !propagatorOn()) {
      warnNoPropagator(this.#logger, this.#driver.resource);
    }
    this.#attachHealth?.();
  }

  /** Whether a tracer provider was registered at the last `refresh`. */
  get tracing(): boolean {
    return this.#tracing;
  }

  /** The metadata keys the propagator writes, at the last `refresh`. */
  get contextKeys(): readonly string[] {
    return this.#contextKeys;
  }

  /** The base attributes plus the operation's name and type, made once per operation. */
  #attributes(name: string, type: string): Attributes {
    let attributes = this.#operation[name];
    if (!attributes) {
      attributes = { ...this.#base, [ATTR.operationName]: name, [ATTR.operationType]: type };
      this.#operation[name] = attributes;
    }
    return attributes;
  }

  /** Sets what one message adds to its span; the shared attributes were given at start, uncopied. */
  #describeMessage(span: Span, message: DriverMessage): void {
    span.setAttribute(ATTR.bodySize, message.body.byteLength);
    // The message's id: the same on the sender's create span and on every receiver's process span.
    const id = message.id ?? message.loggableId;
    if (id) span.setAttribute(ATTR.messageId, id);
    const extra = this.#driver.telemetry?.messageAttributes?.(message);
    if (extra) span.setAttributes(extra);
  }

  /**
   * Starts and ends the `create` span of one message in `parent`, the
   * sender's context, and returns it.
   */
  create(message: DriverMessage, parent: Context): Span {
    const span = this.#tracer.startSpan(
      `create ${this.#destination}`,
      { kind: SpanKind.PRODUCER, attributes: this.#attributes("create", "create") },
      parent,
    );
    this.#describeMessage(span, message);
    span.end();
    return span;
  }

  /**
   * Runs one send batch in a `send` span linked to each message's create
   * span (parented to it, when the batch holds one message), and records
   * its duration and count.
   */
  send<T>(
    batch: DriverMessage[],
    created: (message: DriverMessage) => SpanContext | undefined,
    work: () => Promise<T>,
  ) {
    this.refresh(false);
    if (!this.#tracing && !this.#metrics) return work();
    // The batch size goes on the span only: as a metric attribute, each size would make a series of its own.
    const attributes = this.#attributes("send", "send");
    let span: Span | undefined;
    if (this.#tracing) {
      const links: Link[] = [];
      for (const message of batch) {
        const spanContext = created(message);
        if (spanContext) links.push({ context: spanContext });
      }
      const only = batch.length === 1 ? links[0]?.context : undefined;
      const parent = only ? trace.setSpanContext(context.active(), only) : context.active();
      span = this.#tracer.startSpan(
        `send ${this.#destination}`,
        { kind: SpanKind.CLIENT, attributes: { ...attributes, [ATTR.batchCount]: batch.length }, links },
        parent,
      );
    }
    return this.#measure(span, attributes, work, (m, failed) => m.sent.add(batch.length, failed ?? attributes));
  }

  /**
   * Runs one receive batch and records a `receive` span for it, with the
   * number of messages that actually came. An empty receive (an idle
   * subscription polls about once a second) records no span, only metrics.
   */
  receive(work: () => Promise<DriverMessage[]>): Promise<DriverMessage[]> {
    this.refresh(false);
    if (!this.#tracing && !this.#metrics) return work();
    const attributes = this.#attributes("receive", "receive");
    const traced = this.#tracing;
    const startTime = traced ? Date.now() : 0;
    const span = (count: number, err: unknown) => {
      if (!traced || (count === 0 && err === undefined)) return;
      const receive = this.#tracer.startSpan(`receive ${this.#destination}`, {
        kind: SpanKind.CLIENT,
        attributes: { ...attributes, [ATTR.batchCount]: count },
        startTime,
      });
      endSpan(receive, err, err === undefined ? undefined : errorType(this.#driver, err));
    };
    return this.#measure(
      undefined,
      attributes,
      () =>
        work().then(
          (messages) => {
            span(messages.length, undefined);
            return messages;
          },
          (err: unknown) => {
            span(0, err);
            throw err;
          },
        ),
      (m, failed, messages) => {
        if (!failed && messages && messages.length > 0) m.consumed.add(messages.length, attributes);
      },
    );
  }

  /** Records one ack or nack batch's duration. No span: settle spans are off. */
  settle<T>(nack: boolean, work: () => Promise<T>): Promise<T> {
    this.refresh(false);
    return this.#measure(undefined, this.#attributes(nack ? "nack" : "ack", "settle"), work, undefined);
  }

  /**
   * Runs `handler` inside a `process` span whose parent is `parent` (the
   * message's creation context) and that links to it, so that the user's
   * own spans nest under it; records the handler's duration. Returns what
   * the handler returned; a thrown error marks the span and is rethrown.
   */
  process(message: DriverMessage, parent: Context, handler: () => unknown): unknown {
    const attributes = this.#attributes("process", "process");
    const m = this.#metrics;
    const started = m ? performance.now() : 0;
    const record = (err: unknown) => {
      m?.process.record(
        (performance.now() - started) / 1000,
        err === undefined ? attributes : this.#withError(attributes, err),
      );
    };
    if (!this.#tracing) return m ? settleThen(handler, record) : handler();
    const link = trace.getSpanContext(parent);
    const span = this.#tracer.startSpan(
      `process ${this.#destination}`,
      {
        kind: SpanKind.CONSUMER,
        attributes,
        ...(link ? { links: [{ context: link }] } : {}),
      },
      parent,
    );
    this.#describeMessage(span, message);
    return context.with(trace.setSpan(parent, span), () =>
      settleThen(handler, (err) => {
        endSpan(span, err, err === undefined ? undefined : errorType(this.#driver, err));
        record(err);
      }),
    );
  }

  /** Whether `process` records anything: an SDK for traces or for metrics is registered. */
  get recording(): boolean {
    return this.#tracing || this.#metrics !== undefined;
  }

  /** Counts messages acked without their handler, as duplicates of done ones. */
  duplicates(count: number): void {
    this.#metrics?.duplicates.add(count, this.#base);
  }

  /** Counts one re-established connection. */
  reconnected(): void {
    this.refresh();
    this.#metrics?.reconnects.add(1, this.#base);
  }

  /**
   * Reports `state()` as the health gauge, on the meter provider registered
   * at each collection, until the returned function is called.
   */
  observeHealth(state: () => HealthState): () => void {
    const states: HealthState[] = ["connecting", "ready", "reconnecting", "draining", "closed"];
    const callback = (result: ObservableResult) => {
      const now = state();
      for (const s of states) result.observe(s === now ? 1 : 0, { ...this.#base, state: s });
    };
    let observed: MetricInstruments | undefined;
    const attach = () => {
      const m = metricInstruments();
      if (m === observed) return;
      observed?.health.removeCallback(callback);
      observed = m;
      m?.health.addCallback(callback);
    };
    attach();
    this.#attachHealth = attach;
    return () => {
      this.#attachHealth = undefined;
      observed?.health.removeCallback(callback);
    };
  }

  #attachHealth: (() => void) | undefined;

  #withError(attributes: Attributes, err: unknown): Attributes {
    return { ...attributes, [ATTR.errorType]: errorType(this.#driver, err) };
  }

  #measure<T>(
    span: Span | undefined,
    attributes: Attributes,
    work: () => Promise<T>,
    count: ((m: MetricInstruments, failed: Attributes | undefined, result?: T) => void) | undefined,
  ): Promise<T> {
    const m = this.#metrics;
    if (!span && !m) return work();
    const started = performance.now();
    let running: Promise<T>;
    try {
      running = span ? context.with(trace.setSpan(context.active(), span), work) : work();
    } catch (err) {
      running = Promise.reject(err);
    }
    // then() rather than async/await: one promise hop, not three, on every batch.
    return running.then(
      (result) => {
        if (m) {
          m.duration.record((performance.now() - started) / 1000, attributes);
          count?.(m, undefined, result);
        }
        if (span) endSpan(span, undefined, undefined);
        return result;
      },
      (err: unknown) => {
        const failed = this.#withError(attributes, err);
        if (m) {
          m.duration.record((performance.now() - started) / 1000, failed);
          count?.(m, failed);
        }
        if (span) endSpan(span, err, failed[ATTR.errorType] as string);
        throw err;
      },
    );
  }
}

/** Whether this process's loggers were told that no propagator is registered: once is enough. */
let warnedNoPropagator = false;

/**
 * Tells `logger` that spans are recorded but no trace context travels:
 * a tracer provider set with `trace.setGlobalTracerProvider` alone has no
 * propagator (and no context manager), so send and process land in
 * different traces.
 */
function warnNoPropagator(logger: Logger, resource: string): void {
  warnedNoPropagator = true;
  writeLog(logger, "warn", {
    event: "pubsub.tracing_no_propagator",
    resource,
    message:
      `${resource}: a tracer provider is registered but no propagator, so no traceparent travels in messages ` +
      "and each handler's span starts a trace of its own; register the SDK with NodeTracerProvider.register() " +
      "or the Node SDK's start() (both set the W3C propagator and a context manager), or call " +
      "propagation.setGlobalPropagator(new W3CTraceContextPropagator()) and " +
      "context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())",
  });
}

/** Ends `span`; a failure sets `error.type` and the ERROR status. Success leaves the status unset, as the conventions ask of instrumentation. */
function endSpan(span: Span, err: unknown, type: string | undefined): void {
  if (err !== undefined) {
    span.setAttribute(ATTR.errorType, type ?? errorCode(err));
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  }
  span.end();
}

/** Calls `handler`; calls `done` once it has settled (at once for a plain value), with its error if it failed. */
function settleThen(handler: () => unknown, done: (err: unknown) => void): unknown {
  let result: unknown;
  try {
    result = handler();
  } catch (err) {
    done(err ?? new Error("handler threw"));
    throw err;
  }
  if (typeof (result as { then?: unknown } | null)?.then !== "function") {
    done(undefined);
    return result;
  }
  return (result as Promise<unknown>).then(
    (value) => {
      done(undefined);
      return value;
    },
    (err: unknown) => {
      done(err ?? new Error("handler rejected"));
      throw err;
    },
  );
}
