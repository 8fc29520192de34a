import {
  ErrorCode,
  errorAs,
  errorCode,
  PubSubError,
  parseDurationMs,
  redactUnparsedUrl,
  redactUrl,
} from "@portable-pubsub/core/driver";
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
    expect(redactUrl("amqp://u:pa/ss@h:5672/v is bad")).toBe("amqp://***@h:5672/v is bad");
    expect(redactUrl("amqp://u:p@ss@h")).toBe("amqp://***@h");
    expect(redactUrl("amqps://u@h?password=hunter2&heartbeat=5")).toBe("amqps://***@h?password=***&heartbeat=5");
    expect(redactUrl("redis://h:6379/0?db=1&token=t0k")).toBe("redis://h:6379/0?db=1&token=***");
    // Forms without "//": what precedes the @ in the same token goes, the scheme stays.
    expect(redactUrl('mem: mem:u:SECRET@t: query parameter "x"')).toBe('mem: mem:***@t: query parameter "x"');
    expect(redactUrl("dial user:pw@host:5672 failed")).toBe("dial user:***@host:5672 failed");
    expect(redactUrl('topic "u:12/SECRET@t" closed')).toBe('topic "u:***@t" closed');
  });

  it("redacts a URL that does not parse up to its last @, whatever the password holds", () => {
    expect(redactUnparsedUrl("amqp://u:pa ss/w@rd@host:5672")).toBe("amqp://***@host:5672");
    expect(redactUnparsedUrl("user:pw@host:5672")).toBe("user:***@host:5672");
    expect(redactUnparsedUrl("amqp:user:pw@h")).toBe("amqp:***@h");
    expect(redactUnparsedUrl("not a url")).toBe("not a url");
    // A "?" or "#" in the password is not the query's start: nothing before the last "@" shows.
    expect(redactUnparsedUrl("amqp://user:S3cr/Qx?QxZq9@host")).toBe("amqp://***@host");
    expect(redactUnparsedUrl("amqp://user:S3cr#Zq9@host/v?x=1")).toBe("amqp://***@host/v");
    expect(redactUnparsedUrl("mem://orders?x=1")).toBe("mem://orders");
  });

  it("redacts in linear time, whatever the text", () => {
    for (const text of [
      "a".repeat(200_000),
      "://".repeat(70_000),
      `x://${"@".repeat(200_000)}`,
      "ab1f".repeat(50_000),
    ]) {
      const started = performance.now();
      redactUrl(text);
      expect(performance.now() - started).toBeLessThan(500);
    }
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
