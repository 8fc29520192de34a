/**
 * A stand-in for an application's OpenTelemetry SDK, built on
 * `@opentelemetry/api` alone so that the suite needs no SDK: a tracer
 * provider that records spans, a context manager on AsyncLocalStorage, and
 * a W3C `traceparent` propagator. Enough to check that one trace runs from
 * a sender through the broker to a handler; not a general SDK.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import {
  type Attributes,
  type AttributeValue,
  type Context,
  type ContextManager,
  context,
  isSpanContextValid,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  type SpanStatus,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  type Tracer,
  trace,
} from "@opentelemetry/api";

/** A span as the recorder kept it. */
export interface RecordedSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly context: SpanContext;
  readonly parent: SpanContext | undefined;
  readonly links: SpanContext[];
  readonly attributes: Attributes;
  status: SpanStatus | undefined;
  ended: boolean;
}

class RecordingSpan implements Span {
  constructor(readonly record: RecordedSpan) {}
  spanContext(): SpanContext {
    return this.record.context;
  }
  setAttribute(key: string, value: AttributeValue): this {
    this.record.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes): this {
    Object.assign(this.record.attributes, attributes);
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(link: Link): this {
    this.record.links.push(link.context);
    return this;
  }
  addLinks(links: Link[]): this {
    for (const link of links) this.addLink(link);
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.record.status = status;
    return this;
  }
  updateName(): this {
    return this;
  }
  end(): void {
    this.record.ended = true;
  }
  isRecording(): boolean {
    return !this.record.ended;
  }
  recordException(): void {}
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

class RecordingTracer implements Tracer {
  constructor(readonly spans: RecordedSpan[]) {}

  startSpan(name: string, options: SpanOptions = {}, parentContext: Context = context.active()): Span {
    const parent = trace.getSpanContext(parentContext);
    const valid = parent && isSpanContextValid(parent) ? parent : undefined;
    const record: RecordedSpan = {
      name,
      kind: options.kind ?? SpanKind.INTERNAL,
      context: { traceId: valid?.traceId ?? hex(16), spanId: hex(8), traceFlags: 1 },
      parent: valid,
      links: (options.links ?? []).map((l) => l.context),
      attributes: { ...options.attributes },
      status: undefined,
      ended: false,
    };
    this.spans.push(record);
    return new RecordingSpan(record);
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...args: unknown[]): ReturnType<F> {
    const fn = args.pop() as F;
    const span = this.startSpan(name, args[0] as SpanOptions | undefined, args[1] as Context | undefined);
    return context.with(trace.setSpan(context.active(), span), () => fn(span)) as ReturnType<F>;
  }
}

class AsyncContextManager implements ContextManager {
  readonly #storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.#storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#storage.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== "function") return target;
    const manager = this;
    return function (this: unknown, ...args: unknown[]) {
      return manager.with(ctx, () => (target as (...a: unknown[]) => unknown).apply(this, args));
    } as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#storage.disable();
    return this;
  }
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

class TraceparentPropagator implements TextMapPropagator {
  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const span = trace.getSpanContext(ctx);
    if (!span || !isSpanContextValid(span)) return;
    setter.set(carrier, "traceparent", `00-${span.traceId}-${span.spanId}-0${span.traceFlags & 1}`);
  }
  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const value = getter.get(carrier, "traceparent");
    const match = TRACEPARENT.exec(Array.isArray(value) ? (value[0] ?? "") : (value ?? ""));
    if (!match) return ctx;
    return trace.setSpanContext(ctx, {
      traceId: match[1] as string,
      spanId: match[2] as string,
      traceFlags: Number.parseInt(match[3] as string, 16),
      isRemote: true,
    });
  }
  fields(): string[] {
    return ["traceparent"];
  }
}

/** The recorder while installed; `uninstall()` puts the API back to its no-op. */
export interface SpanRecorder {
  readonly tracer: Tracer;
  readonly spans: RecordedSpan[];
  /** The span with this id, if recorded. */
  find(spanId: string | undefined): RecordedSpan | undefined;
  /** Puts the OpenTelemetry API back to its no-op tracer. */
  uninstall(): void;
}

/**
 * Registers the recorder as the global tracer provider, context manager and
 * propagator. Throws if an application SDK is registered already: the suite
 * must not replace it.
 */
export function installSpanRecorder(): SpanRecorder {
  const spans: RecordedSpan[] = [];
  const tracer = new RecordingTracer(spans);
  const registered =
    trace.setGlobalTracerProvider({ getTracer: () => tracer }) &&
    context.setGlobalContextManager(new AsyncContextManager()) &&
    propagation.setGlobalPropagator(new TraceparentPropagator());
  if (!registered) {
    throw new Error("conformance: an OpenTelemetry SDK is registered already; run the tracing case without one");
  }
  return {
    tracer,
    spans,
    find: (spanId) => spans.find((s) => s.context.spanId === spanId),
    uninstall() {
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
