// The one warning for a tracer provider registered without a propagator. A file of its own: the warning is given
// once per process, and vitest runs each file in a fresh module graph.
import { context, propagation, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { type LogEvent, Subscription, Topic } from "@portable-pubsub/core/driver";
import { afterAll, describe, expect, it } from "vitest";
import { ScriptedSubscriptionDriver, ScriptedTopicDriver } from "./fake-driver.js";

afterAll(() => {
  trace.disable();
  propagation.disable();
  context.disable();
});

function recorder() {
  const events: LogEvent[] = [];
  const logger = { info: () => {}, warn: (e: LogEvent) => events.push(e), error: (e: LogEvent) => events.push(e) };
  return { events, logger };
}

describe("pubsub.tracing_no_propagator", () => {
  it("is logged once per process, only when a tracer provider is registered without a propagator", async () => {
    const { events, logger } = recorder();
    // No SDK at all: nothing to say.
    const untraced = new Topic(new ScriptedTopicDriver(), { logger });
    expect(events).toEqual([]);

    // A tracer provider with a propagator: nothing to say either.
    trace.setGlobalTracerProvider(new BasicTracerProvider());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const propagated = new Topic(new ScriptedTopicDriver(), { logger });
    expect(events).toEqual([]);

    // The propagator goes: the bare provider of `trace.setGlobalTracerProvider` alone. An object that is already
    // open notices at its next telemetry refresh (at most every 100 ms, on a batch), not per message.
    propagation.disable();
    const unpropagated = new Topic(new ScriptedTopicDriver(), { logger, tracing: { propagate: false } });
    expect(events).toEqual([]); // propagation turned off on purpose: no news
    await new Promise((resolve) => setTimeout(resolve, 120));
    await unpropagated.send({ body: "a" });
    expect(events).toEqual([]);
    await propagated.send({ body: "b" });
    expect(events.map((e) => [e.event, e.resource])).toEqual([["pubsub.tracing_no_propagator", 'fake topic "t"']]);
    expect(events[0]?.message).toBe(
      'fake topic "t": a tracer provider is registered but no propagator, so no traceparent travels in messages ' +
        "and each handler's span starts a trace of its own; register the SDK with NodeTracerProvider.register() " +
        "or the Node SDK's start() (both set the W3C propagator and a context manager), or call " +
        "propagation.setGlobalPropagator(new W3CTraceContextPropagator()) and " +
        "context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())",
    );

    // Once per process: later objects, and later batches, say nothing more.
    const topic = new Topic(new ScriptedTopicDriver(), { logger });
    const sub = new Subscription(new ScriptedSubscriptionDriver(), { logger });
    await new Promise((resolve) => setTimeout(resolve, 120));
    await Promise.all([topic.send({ body: "c" }), propagated.send({ body: "d" })]);
    expect(events).toHaveLength(1);
    await Promise.all([untraced, propagated, unpropagated, topic, sub].map((t) => t.shutdown()));
  });
});
