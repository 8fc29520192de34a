/**
 * OpenTelemetry for the service, as an application sets it up: a tracer
 * provider, AsyncLocalStorage context and W3C propagation, chosen with the
 * standard OTEL_TRACES_EXPORTER variable ("console" prints each span;
 * "none" traces without exporting; unset leaves tracing off). The library
 * needs nothing more: it finds the registered SDK through @opentelemetry/api,
 * and one trace then runs from POST /orders to the handler that processes
 * the order.
 */
import type { IncomingMessage } from "node:http";
import { context, propagation, ROOT_CONTEXT, type Span, SpanKind, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";

/** Registers the SDK if OTEL_TRACES_EXPORTER asks for it; returns what flushes it at shutdown. */
export function setUpTracing(env: NodeJS.ProcessEnv): () => Promise<void> {
  const exporter = env.OTEL_TRACES_EXPORTER;
  if (exporter === undefined || exporter === "") return async () => {};
  if (exporter !== "console" && exporter !== "none") {
    throw new Error(`OTEL_TRACES_EXPORTER=${exporter} is not supported here; use console or none`);
  }
  const spanProcessors: SpanProcessor[] =
    exporter === "console" ? [new BatchSpanProcessor(new ConsoleSpanExporter())] : [];
  const provider = new BasicTracerProvider({ spanProcessors });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return () => provider.shutdown();
}

const tracer = () => trace.getTracer("order-service");

/**
 * Runs `handle` in a SERVER span for the request, continuing the caller's
 * trace when the request carries a `traceparent` header. A no-op span when
 * tracing is off.
 */
export function inRequestSpan<T>(req: IncomingMessage, route: string, handle: (span: Span) => Promise<T>): Promise<T> {
  const parent = propagation.extract(ROOT_CONTEXT, req.headers);
  const span = tracer().startSpan(`${req.method} ${route}`, { kind: SpanKind.SERVER }, parent);
  return context.with(trace.setSpan(parent, span), () => handle(span)).finally(() => span.end());
}

/** The trace id of the active span, for logs; undefined when tracing is off. */
export function activeTraceId(): string | undefined {
  const span = trace.getActiveSpan()?.spanContext();
  return span && span.traceFlags !== undefined && trace.isSpanContextValid(span) ? span.traceId : undefined;
}
