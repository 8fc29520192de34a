import { context, type SpanContext, SpanKind, trace } from "@opentelemetry/api";
import { expect, it } from "vitest";
import type { SuiteContext } from "../context.js";
import { installSpanRecorder } from "../recording-tracer.js";

/**
 * One trace from the sender to the handler, through the broker: the trace
 * context travels in the message's metadata, and every driver names its
 * broker (`messaging.system`) as its capabilities declare.
 */
export function tracingCases(ctx: SuiteContext): void {
  it("runs one trace from the sender's span to the handler, naming the broker", async () => {
    const recorder = installSpanRecorder();
    ctx.defer(async () => recorder.uninstall());
    const { topic, subscription } = await ctx.pair("tracing");
    const sender = recorder.tracer.startSpan("sender");
    await context.with(trace.setSpan(context.active(), sender), () =>
      topic.send({ body: "traced", metadata: { kind: "trace" } }),
    );
    sender.end();

    let active: SpanContext | undefined;
    let metadata: Readonly<Record<string, string>> = {};
    const processing = subscription.process((message) => {
      active = trace.getActiveSpan()?.spanContext();
      metadata = message.metadata;
      void subscription.shutdown();
    });
    await Promise.race([
      processing,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error("no message within the receive timeout")), ctx.receiveTimeoutMs),
      ),
    ]);

    const system = ctx.caps.messagingSystem ?? "portable_pubsub";
    expect(active?.traceId).toBe(sender.spanContext().traceId);
    const process = recorder.find(active?.spanId);
    expect(process?.kind).toBe(SpanKind.CONSUMER);
    expect(process?.attributes["messaging.operation.type"]).toBe("process");
    expect(process?.attributes["messaging.system"]).toBe(system);
    const create = recorder.find(process?.parent?.spanId);
    expect(create?.kind).toBe(SpanKind.PRODUCER);
    expect(create?.attributes["messaging.operation.type"]).toBe("create");
    expect(create?.attributes["messaging.system"]).toBe(system);
    expect(typeof create?.attributes["messaging.destination.name"]).toBe("string");
    expect(create?.parent?.spanId).toBe(sender.spanContext().spanId);
    expect(process?.links.map((l) => l.spanId)).toEqual([create?.context.spanId]);
    // The trace context travelled in the metadata, but the application does not see it there.
    expect(metadata).toEqual({ kind: "trace" });
  });
}
