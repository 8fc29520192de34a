import { ErrorCode, errorAs, errorCode, PubSubError, parseDurationMs, redactUrl } from "@portable-pubsub/core/driver";
import { describe, expect, it } from "vitest";

class BrokerError extends Error {
  constructor(readonly replyCode: number) {
    super(`reply ${replyCode}`);
  }
}

describe("errors", () => {
  it("has the twelve portable codes", () => {
    expect(Object.keys(ErrorCode)).toEqual([
      "OK",
      "Unknown",
      "NotFound",
      "AlreadyExists",
      "InvalidArgument",
      "Internal",
      "Unimplemented",
      "FailedPrecondition",
      "PermissionDenied",
      "ResourceExhausted",
      "Canceled",
      "DeadlineExceeded",
    ]);
  });

  it("reads codes off anything", () => {
    expect(errorCode(new PubSubError(ErrorCode.NotFound, "x"))).toBe(ErrorCode.NotFound);
    expect(errorCode(new DOMException("stop", "AbortError"))).toBe(ErrorCode.Canceled);
    expect(errorCode(new DOMException("late", "TimeoutError"))).toBe(ErrorCode.DeadlineExceeded);
    expect(errorCode(new Error("plain"))).toBe(ErrorCode.Unknown);
    expect(errorCode("a string")).toBe(ErrorCode.Unknown);
    expect(errorCode(undefined)).toBe(ErrorCode.Unknown);
  });

  it("finds the driver's own error down the cause chain", () => {
    const native = new BrokerError(404);
    const wrapped = new PubSubError(ErrorCode.NotFound, "send", { cause: new Error("mid", { cause: native }) });
    expect(errorAs(wrapped, BrokerError)?.replyCode).toBe(404);
    expect(errorAs(new Error("none"), BrokerError)).toBeUndefined();
  });

  it("removes credentials from URLs in text", () => {
    expect(redactUrl("dial amqps://bob:pa55@h1:5671,amqp://x:y@h2 failed")).toBe(
      "dial amqps://***@h1:5671,amqp://***@h2 failed",
    );
    expect(redactUrl("redis://:only-password@127.0.0.1:6379/0")).toBe("redis://***@127.0.0.1:6379/0");
    expect(redactUrl("mem://orders")).toBe("mem://orders");
  });

  it("parses durations", () => {
    expect([parseDurationMs("250ms"), parseDurationMs("5s"), parseDurationMs("2m"), parseDurationMs("1h")]).toEqual([
      250, 5000, 120_000, 3_600_000,
    ]);
    expect([parseDurationMs("1500"), parseDurationMs(30), parseDurationMs("1.5s")]).toEqual([1500, 30, 1500]);
    expect([parseDurationMs("soon"), parseDurationMs(-1), parseDurationMs("5d"), parseDurationMs(null)]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});
