import {
  ErrorCode,
  errorCode,
  type LogEvent,
  type Logger,
  param,
  parseQuery,
  Subscription,
  Topic,
  URLMux,
} from "@portable-pubsub/core/driver";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ScriptedSubscriptionDriver, ScriptedTopicDriver } from "./fake-driver.js";

const schema = z
  .object({
    declare: param.flag().optional(),
    ackDeadline: param.duration().optional(),
    group: param.name().optional(),
  })
  .strict();
const renamed = { create: "declare", ackWait: "ackDeadline" } as const;
const parse = (query: string) => parseQuery(new URL(`x://t?${query}`), schema, "x", renamed);

function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(errorCode(err)).toBe(ErrorCode.InvalidArgument);
    return (err as Error).message;
  }
  throw new Error("parsed");
}

describe("old parameter names", () => {
  it("are read as their new names, with the same result", () => {
    expect(parse("create=1&ackWait=30s&group=g")).toEqual(parse("declare=1&ackDeadline=30s&group=g"));
    expect(parse("create=false")).toEqual({ declare: false });
    expect(parse("ackWait=2m")).toEqual({ ackDeadline: 120_000 });
    // Without `renamed`, an old name is an unknown one.
    expect(messageOf(() => parseQuery(new URL("x://t?create=1"), schema, "x"))).toContain(
      'query parameter "create" is not supported',
    );
  });

  it("are InvalidArgument when given with the new name, or twice, and a bad value names the name given", () => {
    expect(messageOf(() => parse("create=1&declare=1"))).toBe(
      'x: x://t: query parameter "create" is the old name of "declare", and both are given; give "declare" alone',
    );
    expect(messageOf(() => parse("ackDeadline=1s&ackWait=1s"))).toBe(
      'x: x://t: query parameter "ackWait" is the old name of "ackDeadline", and both are given; give "ackDeadline" alone',
    );
    expect(messageOf(() => parse("create=1&create=0"))).toBe('x: query parameter "create" is given twice in x://t');
    expect(messageOf(() => parse("create=yes"))).toBe(
      'x: x://t: query parameter "create" is invalid: must be true or false (or 1 or 0)',
    );
  });
});

describe("the deprecation notice", () => {
  /** A logger that keeps what it gets; `warnings` counts what came as warnings. */
  function recordingLogger(): Logger & { events: LogEvent[]; warnings: LogEvent[] } {
    const events: LogEvent[] = [];
    const warnings: LogEvent[] = [];
    const keep = (e: LogEvent) => events.push(e);
    return { events, warnings, info: keep, warn: (e) => keep(warnings[warnings.push(e) - 1] as LogEvent), error: keep };
  }

  function fakeMux() {
    const mux = new URLMux();
    const parsed: unknown[] = [];
    mux.registerTopic("fake", async (url, _options, portable) => {
      parsed.push(parseQuery(url, schema, "fake", renamed));
      return new Topic(new ScriptedTopicDriver(), portable);
    });
    mux.registerSubscription("fake", async (url, _options, portable) => {
      parsed.push(parseQuery(url, schema, "fake", renamed));
      return new Subscription(new ScriptedSubscriptionDriver(), portable);
    });
    return { mux, parsed };
  }

  it("reaches the application's logger once per old name, naming the new one", async () => {
    const { mux, parsed } = fakeMux();
    const logger = recordingLogger();
    const opened = [
      await mux.openTopic("fake://t?create=1", { logger }),
      await mux.openSubscription("fake://u:s3cret@t?create=1&ackWait=5s", { logger }),
      await mux.openSubscription("fake://t?ackWait=5s&group=g", { logger }),
      await mux.openTopic("fake://t?declare=1", { logger }),
    ];
    expect(parsed).toEqual([
      { declare: true },
      { declare: true, ackDeadline: 5000 },
      { ackDeadline: 5000, group: "g" },
      { declare: true },
    ]);
    const deprecations = logger.events.filter((e) => e.event === "pubsub.deprecated_parameter");
    expect(deprecations).toEqual([
      {
        event: "pubsub.deprecated_parameter",
        resource: "fake://t",
        message:
          'fake: query parameter "create" is deprecated and will be removed; use "declare", which means the same',
        driver: "fake",
        parameter: "create",
        replacement: "declare",
      },
      {
        event: "pubsub.deprecated_parameter",
        resource: "fake://***@t",
        message:
          'fake: query parameter "ackWait" is deprecated and will be removed; use "ackDeadline", which means the same',
        driver: "fake",
        parameter: "ackWait",
        replacement: "ackDeadline",
      },
    ]);
    expect(logger.warnings).toEqual(deprecations);

    // Another logger is another application part that has not been told yet.
    const other = recordingLogger();
    opened.push(await mux.openTopic("fake://t?create=0", { logger: other }));
    expect(other.warnings.map((e) => [e.event, e.parameter])).toEqual([["pubsub.deprecated_parameter", "create"]]);
    await Promise.all(opened.map((o) => o.shutdown()));
    expect(JSON.stringify([...logger.events, ...other.events])).not.toContain("s3cret");
  });

  it("is logged for an open that fails after the driver read its URL, and never without a logger", async () => {
    const mux = new URLMux();
    mux.registerTopic("fake", async (url) => {
      parseQuery(url, schema, "fake", renamed);
      throw new Error("broker down");
    });
    const logger = recordingLogger();
    await expect(mux.openTopic("fake://t?create=1", { logger })).rejects.toThrow("broker down");
    expect(logger.warnings.map((e) => [e.event, e.parameter])).toEqual([["pubsub.deprecated_parameter", "create"]]);
    await expect(mux.openTopic("fake://t?create=1")).rejects.toThrow("broker down");
  });
});
