import { type Span, type SpanOptions, type Tracer, trace } from "@opentelemetry/api";
import { Subscription, Topic } from "@portable-pubsub/core";
import { afterAll, describe, expect, it } from "vitest";
import { ScriptedSubscriptionDriver, ScriptedTopicDriver } from "./fake-driver.js";

interface Recorded {
  name: string;
  attributes: SpanOptions["attributes"];
  ended: boolean;
  status?: number;
}

const recorded: Recorded[] = [];
// A recording tracer provider, standing in for an application's OpenTelemetry SDK.
const tracer = {
  startSpan(name: string, options?: SpanOptions): Span {
    const record: Recorded = { name, attributes: options?.attributes, ended: false };
    recorded.push(record);
    return {
      setStatus(status: { code: number }) {
        record.status = status.code;
        return this;
      },
      end() {
        record.ended = true;
      },
    } as unknown as Span;
  },
} as unknown as Tracer;
trace.setGlobalTracerProvider({ getTracer: () => tracer });
afterAll(() => trace.disable());

describe("tracing", () => {
  it("records one span per send batch and per receive batch", async () => {
    const topicDriver = new ScriptedTopicDriver();
    const topic = new Topic(topicDriver);
    await Promise.all(["a", "b", "c"].map((body) => topic.send({ body })));
    const subDriver = new ScriptedSubscriptionDriver();
    subDriver.push("x");
    const sub = new Subscription(subDriver);
    await sub.receive();
    await Promise.all([topic.shutdown(), sub.shutdown()]);
    const sends = recorded.filter((r) => r.name === "pubsub send batch");
    // The first send went at once; the other two, of the same tick, together.
    expect(sends.map((s) => s.attributes)).toEqual([
      { "messaging.batch.message_count": 1 },
      { "messaging.batch.message_count": 2 },
    ]);
    expect(sends.every((s) => s.ended)).toBe(true);
    expect(recorded.some((r) => r.name === "pubsub receive batch" && r.ended)).toBe(true);
  });
});
