/**
 * What the application registered with the OpenTelemetry API: a tracer
 * provider or not, and the metric instruments of its meter provider. The
 * API's globals are looked up here, and nowhere else.
 */
import {
  createNoopMeter,
  type Meter,
  type MeterProvider,
  metrics,
  ProxyTracerProvider,
  propagation,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { METRIC } from "./conventions.js";

/**
 * The tracer of the provider registered now. A tracer taken from the API's
 * proxy stays bound to the provider of its time, and an application (or a
 * test) may replace its provider, so each Instruments takes it again at
 * each `refresh`, not once.
 */
export function tracer(): Tracer {
  return trace.getTracer("@portable-pubsub/core", "0.1.0");
}

/** The instruments, made from the meter provider registered now. */
function createInstruments(meter: Meter) {
  return {
    duration: meter.createHistogram(METRIC.operationDuration, {
      unit: "s",
      description: "Duration of a messaging operation (a send, receive or settle batch)",
    }),
    sent: meter.createCounter(METRIC.sentMessages, { unit: "{message}", description: "Messages sent" }),
    consumed: meter.createCounter(METRIC.consumedMessages, { unit: "{message}", description: "Messages received" }),
    process: meter.createHistogram(METRIC.processDuration, { unit: "s", description: "Duration of a handler call" }),
    reconnects: meter.createCounter(METRIC.reconnects, {
      unit: "{reconnect}",
      description: "Times a connection was re-established after a loss",
    }),
    duplicates: meter.createCounter(METRIC.duplicates, {
      unit: "{message}",
      description: "Messages acked without their handler: their id was done (an idempotent Subscription)",
    }),
    health: meter.createObservableGauge(METRIC.health, {
      description: "1 for the current health state of a Topic or Subscription, 0 for the others",
    }),
  };
}

export type MetricInstruments = ReturnType<typeof createInstruments>;
const NoopMeter = createNoopMeter().constructor;
let instrumentsFor: MeterProvider | undefined;
let current: MetricInstruments | undefined;

/**
 * The instruments of the meter provider registered now, or undefined when
 * none is. The API has no proxy for meters (a meter taken before the SDK is
 * registered stays a no-op), so they are made again whenever the provider
 * changes, and an application may register its SDK after importing this.
 */
export function metricInstruments(): MetricInstruments | undefined {
  const provider = metrics.getMeterProvider();
  if (provider !== instrumentsFor) {
    instrumentsFor = provider;
    const meter = provider.getMeter("@portable-pubsub/core", "0.1.0");
    current = meter instanceof NoopMeter ? undefined : createInstruments(meter);
  }
  return current;
}

const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * Whether an application registered a tracer provider. Until it has, no
 * per-message span is started and no context is injected: that keeps the
 * cost of tracing without an SDK to a few calls per batch.
 */
export function tracingOn(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_PROVIDER;
}

/**
 * Whether a propagator is registered: the API's default one is a no-op
 * that writes no field, and with it no trace context travels in a message,
 * so the sender's and the handler's spans land in different traces.
 */
export function propagatorOn(): boolean {
  return propagation.fields().length > 0;
}
