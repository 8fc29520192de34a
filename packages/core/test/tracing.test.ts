import { context, metrics, propagation, type SpanContext, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  AggregationTemporality,
  type DataPoint,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import {
  ErrorCode,
  HealthTracker,
  invalidArgument,
  type LogEvent,
  Subscription,
  Topic,
} from "@portable-pubsub/core/driver";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { driverError, ScriptedSubscriptionDriver, ScriptedTopicDriver } from "./fake-driver.js";

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer("test");

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
});
afterEach(() => exporter.reset());
afterAll(() => {
  trace.disable();
  propagation.disable();
  context.disable();
  metrics.disable();
});

const telemetry = (destination: string) => ({
  system: "test_system",
  destination,
  serverAddress: "broker.example",
  serverPort: 5672,
  messageAttributes: () => ({ "messaging.test.key": "k" }),
});

function spans(name: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.name === name);
}

function idOf(span: ReadableSpan | undefined): SpanContext {
  if (!span) throw new Error("no such span");
  return span.spanContext();
}

describe("tracing", () => {
  it("runs one trace from the sender's span through create and send spans to the handler's process span", async () => {
    const topicDriver = Object.assign(new ScriptedTopicDriver(), { telemetry: telemetry("orders") });
    const topic = new Topic(topicDriver);
    const request = tracer.startSpan("POST /orders");
    await context.with(trace.setSpan(context.active(), request), () =>
      Promise.all(["a", "b", "c"].map((body) => topic.send({ body, metadata: { kind: "order" } }))),
    );
    request.end();

    const creates = spans("create orders");
    expect(creates).toHaveLength(3);
    for (const create of creates) {
      expect(create.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
      expect(create.kind).toBe(3); // PRODUCER
      expect(create.attributes).toMatchObject({
        "messaging.system": "test_system",
        "messaging.destination.name": "orders",
        "messaging.operation.name": "create",
        "messaging.operation.type": "create",
        "server.address": "broker.example",
        "server.port": 5672,
        "messaging.test.key": "k",
      });
    }
    // The first send went alone and is parented to its create span; the other two went together, linked.
    const sends = spans("send orders");
    expect(sends.map((s) => s.attributes["messaging.batch.message_count"])).toEqual([1, 2]);
    expect(sends.map((s) => s.links.length)).toEqual([1, 2]);
    expect(sends[0]?.parentSpanContext?.spanId).toBe(creates[0]?.spanContext().spanId);
    expect(sends.every((s) => s.kind === 2 && s.attributes["messaging.operation.type"] === "send")).toBe(true);

    const sent = topicDriver.batches.flat();
    expect(sent.map((m) => m.metadata.kind)).toEqual(["order", "order", "order"]);
    for (const [i, message] of sent.entries()) {
      expect(message.metadata.traceparent).toBe(`00-${request.spanContext().traceId}-${idOf(creates[i]).spanId}-01`);
    }

    const subDriver = Object.assign(new ScriptedSubscriptionDriver(), { telemetry: telemetry("orders-billing") });
    subDriver.deliver(...sent);
    const sub = new Subscription(subDriver);
    const seen: { metadata: Record<string, string>; active: SpanContext | undefined }[] = [];
    const processing = sub.process((message) => {
      const inner = tracer.startSpan("handler work");
      inner.end();
      seen.push({ metadata: { ...message.metadata }, active: trace.getActiveSpan()?.spanContext() });
      if (seen.length === 3) void sub.shutdown();
    });
    await processing;

    const processes = spans("process orders-billing");
    expect(processes).toHaveLength(3);
    for (const [i, process] of processes.entries()) {
      const create = idOf(creates[i]);
      expect(process.spanContext().traceId).toBe(request.spanContext().traceId);
      expect(process.parentSpanContext?.spanId).toBe(create.spanId);
      expect(process.links.map((l) => l.context.spanId)).toEqual([create.spanId]);
      expect(process.kind).toBe(4); // CONSUMER
      expect(seen[i]?.active?.spanId).toBe(process.spanContext().spanId);
      expect(seen[i]?.metadata).toEqual({ kind: "order" });
      // The message id names the message on both sides: its create span and its process span.
      expect(sent[i]?.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(creates[i]?.attributes["messaging.message.id"]).toBe(sent[i]?.id);
      expect(process.attributes["messaging.message.id"]).toBe(sent[i]?.id);
    }
    for (const work of spans("handler work")) {
      expect(processes.map((p) => p.spanContext().spanId)).toContain(work.parentSpanContext?.spanId);
    }
    const receives = spans("receive orders-billing");
    // Each receive span counts the messages that came, not the batch size asked for; empty polls leave none.
    const counts = receives.map((r) => r.attributes["messaging.batch.message_count"] as number);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(3);
    expect(counts.every((count) => count > 0)).toBe(true);
    await topic.shutdown();
  });

  it("keeps the trace context out of the metadata, unless asked, and sends none when propagation is off", async () => {
    const topicDriver = new ScriptedTopicDriver();
    const topic = new Topic(topicDriver, { tracing: { propagate: false } });
    await topic.send({ body: "x", metadata: { a: "1" } });
    expect(topicDriver.batches.flat()[0]?.metadata).toEqual({ a: "1" });
    await topic.shutdown();

    const subDriver = new ScriptedSubscriptionDriver();
    const sub = new Subscription(subDriver, { tracing: { keepContextMetadata: true } });
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    subDriver.deliver({ body: new Uint8Array(), metadata: { traceparent, a: "1" } });
    expect((await sub.receive()).metadata).toEqual({ traceparent, a: "1" });
    await sub.shutdown();
  });

  it("says so when only the trace context keys push a message over the broker's limit", async () => {
    const driver = new ScriptedTopicDriver();
    Object.assign(driver, {
      checkMessage(message: { metadata: Record<string, string> }) {
        if (Object.keys(message.metadata).length > 2) throw invalidArgument("send: at most 2 metadata keys");
      },
    });
    const topic = new Topic(driver);
    const parent = tracer.startSpan("parent");
    const err = await context.with(trace.setSpan(context.active(), parent), () =>
      topic.send({ body: "x", metadata: { a: "1", b: "2" } }).catch((e: unknown) => e),
    );
    parent.end();
    expect((err as { code?: string }).code).toBe(ErrorCode.InvalidArgument);
    expect((err as Error).message).toBe(
      "send: at most 2 metadata keys (with the 1 trace context metadata keys that tracing adds; send less metadata, or open the topic with tracing: { propagate: false })",
    );
    await topic.shutdown();
  });

  it("marks a failed send with error.type", async () => {
    const driver = new ScriptedTopicDriver();
    driver.failures.push(driverError("no such exchange", ErrorCode.NotFound));
    const topic = new Topic(driver);
    await topic.send({ body: "x" }).catch(() => {});
    const [send] = exporter.getFinishedSpans().filter((s) => s.name.startsWith("send "));
    expect(send?.attributes["error.type"]).toBe("NotFound");
    expect(send?.status.code).toBe(SpanStatusCode.ERROR);
    await topic.shutdown();
  });

  it("leaves the status of spans that succeeded unset, as the conventions ask of instrumentation", async () => {
    const topicDriver = new ScriptedTopicDriver();
    const topic = new Topic(topicDriver);
    await topic.send({ body: "x" });
    const subDriver = new ScriptedSubscriptionDriver();
    subDriver.deliver(...topicDriver.batches.flat());
    const sub = new Subscription(subDriver);
    await sub.process(() => void sub.shutdown());
    const names = exporter.getFinishedSpans().map((s) => s.name.split(" ")[0]);
    expect(new Set(names)).toEqual(new Set(["create", "send", "receive", "process"]));
    expect(exporter.getFinishedSpans().map((s) => s.status.code)).toEqual(names.map(() => SpanStatusCode.UNSET));
    await topic.shutdown();
  });
});

describe("metrics", () => {
  it("counts sent and consumed messages, handler durations, reconnects and health", async () => {
    const reader = new TestReader();
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
    const health = new HealthTracker("ready");
    const topicDriver = Object.assign(new ScriptedTopicDriver(), { telemetry: telemetry("orders"), health });
    const topic = new Topic(topicDriver);
    await Promise.all(Array.from({ length: 7 }, (_, i) => topic.send({ body: String(i) })));
    health.set("reconnecting", new Error("lost"));
    health.set("ready");
    const subDriver = new ScriptedSubscriptionDriver();
    subDriver.deliver(...topicDriver.batches.flat());
    const sub = new Subscription(subDriver);
    let handled = 0;
    await sub.process(() => {
      if (++handled === 7) void sub.shutdown();
    });

    const { resourceMetrics } = await reader.collect();
    const sum = (name: string, where: Record<string, unknown> = {}) =>
      points(resourceMetrics, name)
        .filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v))
        .reduce(
          (total, p) => total + (typeof p.value === "number" ? p.value : (p.value as { count: number }).count),
          0,
        );
    expect(sum("messaging.client.sent.messages", { "messaging.destination.name": "orders" })).toBe(7);
    expect(sum("messaging.client.consumed.messages")).toBe(7);
    expect(sum("messaging.process.duration")).toBe(7);
    expect(sum("portable_pubsub.client.reconnects", { "messaging.destination.name": "orders" })).toBe(1);
    expect(sum("portable_pubsub.client.health", { "messaging.destination.name": "orders", state: "ready" })).toBe(1);
    expect(
      sum("portable_pubsub.client.health", { "messaging.destination.name": "orders", state: "reconnecting" }),
    ).toBe(0);
    expect(sum("messaging.client.operation.duration", { "messaging.operation.name": "send" })).toBeGreaterThan(0);
    await topic.shutdown();
    metrics.disable();
  });
});

describe("metrics", () => {
  it("keeps the batch size out of metric attributes: one series per destination, whatever the batch sizes", async () => {
    const reader = new TestReader();
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
    const topicDriver = Object.assign(new ScriptedTopicDriver(), { telemetry: telemetry("orders") });
    const topic = new Topic(topicDriver);
    await topic.send({ body: "alone" });
    await Promise.all(Array.from({ length: 5 }, (_, i) => topic.send({ body: String(i) })));
    expect(new Set(topicDriver.batches.map((b) => b.length)).size).toBeGreaterThan(1);

    const { resourceMetrics } = await reader.collect();
    const sent = points(resourceMetrics, "messaging.client.sent.messages");
    expect(sent.map((p) => p.value)).toEqual([6]);
    const durations = points(resourceMetrics, "messaging.client.operation.duration");
    expect(durations).toHaveLength(1);
    expect(durations.map((p) => (p.value as { count: number }).count)).toEqual([topicDriver.batches.length]);
    for (const p of [...sent, ...durations]) expect(p.attributes).not.toHaveProperty("messaging.batch.message_count");
    await topic.shutdown();
    metrics.disable();
  });
});

function points(resourceMetrics: ResourceMetrics, name: string): DataPoint<unknown>[] {
  return resourceMetrics.scopeMetrics.flatMap((s) =>
    s.metrics.filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints as DataPoint<unknown>[]),
  );
}

describe("logger", () => {
  it("logs state changes with the error and the attempt, and never a password", async () => {
    const events: LogEvent[] = [];
    const logger = { info: (e: LogEvent) => events.push(e), warn: (e: LogEvent) => events.push(e), error: () => {} };
    const health = new HealthTracker("connecting");
    const driver = Object.assign(new ScriptedTopicDriver(), { health });
    const topic = new Topic(driver, { logger });
    health.set("ready");
    health.set("reconnecting", new Error("connect ECONNREFUSED amqp://app:s3cret@broker:5672"));
    health.set("reconnecting", new Error("again amqp://app:s3cret@broker:5672"));
    health.setBlocked("memory alarm");
    health.setBlocked(undefined);
    health.set("ready");
    await topic.shutdown();
    expect(events.map((e) => [e.event, e.state ?? e.reason ?? "", e.attempt ?? ""])).toEqual([
      ["pubsub.state", "connecting", ""],
      ["pubsub.state", "ready", ""],
      ["pubsub.state", "reconnecting", 1],
      ["pubsub.blocked", "memory alarm", ""],
      ["pubsub.unblocked", "", ""],
      ["pubsub.state", "ready", ""],
      ["pubsub.state", "draining", ""],
      ["pubsub.state", "closed", ""],
    ]);
    expect(events[2]?.error).toBe("connect ECONNREFUSED amqp://***@broker:5672");
    expect(JSON.stringify(events)).not.toContain("s3cret");
    expect(events.every((e) => e.resource === 'fake topic "t"' && typeof e.message === "string")).toBe(true);
  });

  it("takes console, and rejects a logger without the levels", () => {
    const topic = new Topic(new ScriptedTopicDriver(), { logger: console });
    void topic.shutdown();
    expect(() => new Topic(new ScriptedTopicDriver(), { logger: { info() {} } as never })).toThrow(
      /"logger" is invalid: must have info, warn and error methods/,
    );
  });
});
