import { type Attributes, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";

const tracer = trace.getTracer("@portable-pubsub/core", "0.1.0");

/**
 * Runs `work` inside a span named `name`. Without an OpenTelemetry SDK
 * registered by the application this is the API's no-op tracer, so the cost
 * is a few calls per batch, never per message.
 */
export function traced<T>(
  name: string,
  kind: "producer" | "consumer",
  attributes: Attributes,
  work: () => Promise<T>,
): Promise<T> {
  const span = tracer.startSpan(name, {
    kind: kind === "producer" ? SpanKind.PRODUCER : SpanKind.CONSUMER,
    attributes,
  });
  let running: Promise<T>;
  try {
    running = work();
  } catch (err) {
    running = Promise.reject(err);
  }
  // then() rather than async/await: one promise hop, not three, on every batch.
  return running.then(
    (result) => {
      span.setStatus({ code: SpanStatusCode.OK });
      span.end();
      return result;
    },
    (err: unknown) => {
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      span.end();
      throw err;
    },
  );
}
