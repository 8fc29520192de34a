import * as app from "@portable-pubsub/core";
import * as kit from "@portable-pubsub/core/driver";
import {
  DriverError,
  ErrorCode,
  errorCode,
  HealthTracker,
  isNetworkError,
  latin1Text,
  PubSubError,
  param,
  parseByteSize,
  parseOptions,
  parseQuery,
  resourceName,
  Subscription,
  Topic,
  URLMux,
  utf8Text,
  writeUtf8,
} from "@portable-pubsub/core/driver";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { driverError, failure, ScriptedSubscriptionDriver, ScriptedTopicDriver } from "./fake-driver.js";

describe("entry points", () => {
  it("keeps the root entry point to the application API and gives driver authors their own", () => {
    for (const name of [
      "throwIfAborted",
      "parseQuery",
      "WakeUp",
      "sleep",
      "HeaderMetadata",
      "FirstConnection",
      "DeliveryBuffer",
      "toPubSubError",
      "builtinDrivers",
      "MAX_TIMER_MS",
      "DriverError",
    ]) {
      expect(Object.keys(app)).not.toContain(name);
      expect(Object.keys(kit)).toContain(name);
    }
    // Core's own batching and retry loop: drivers must not batch or retry, so neither entry exports them.
    for (const name of ["Batcher", "withRetry", "DriverHandle"]) {
      expect(Object.keys(app)).not.toContain(name);
      expect(Object.keys(kit)).not.toContain(name);
    }
    for (const name of [
      "openTopic",
      "openSubscription",
      "Topic",
      "Subscription",
      "PubSubError",
      "errorCode",
      "URLMux",
    ]) {
      expect(Object.keys(app)).toContain(name);
      expect(Object.keys(kit)).toContain(name);
    }
  });
});

describe("short text in and out of a Buffer", () => {
  it("writes UTF-8 at an offset, returns its byte count, and reads back exactly the range asked", () => {
    const bytes = Buffer.alloc(32, 0x2e);
    const text = "id-é€😀";
    const written = writeUtf8(bytes, text, 3);
    expect(written).toBe(Buffer.byteLength(text));
    expect(written).toBe(3 + 2 + 3 + 4);
    expect(bytes.subarray(3, 3 + written)).toEqual(Buffer.from(text));
    expect([bytes[2], bytes[3 + written]]).toEqual([0x2e, 0x2e]);
    expect(utf8Text(bytes, 3, 3 + written)).toBe(text);
    expect(utf8Text(bytes, 3, 5)).toBe("id");
  });

  it("reads latin1 byte for byte, and writes nothing past the end of the buffer", () => {
    const bytes = Buffer.from([0x61, 0xe9, 0xff, 0x30]);
    expect(latin1Text(bytes, 0, 4)).toBe("a\u00e9\u00ff0");
    expect(latin1Text(bytes, 1, 2)).toBe("\u00e9");
    const small = Buffer.alloc(4);
    // "€" takes 3 bytes: only whole characters that fit are written.
    expect(writeUtf8(small, "a€€", 0)).toBe(4);
    expect(utf8Text(small, 0, 4)).toBe("a€");
  });
});

describe("DriverError", () => {
  it("carries the portable code, whether to retry, the hint and the cause that a classifier reads", () => {
    const cause = new Error("stream not found");
    const err = new DriverError('no stream stores subject "s"', ErrorCode.NotFound, { hint: "create it", cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(PubSubError);
    expect([err.name, err.message, err.code, err.options.retryable, err.options.hint, err.cause]).toEqual([
      "DriverError",
      'no stream stores subject "s"',
      ErrorCode.NotFound,
      undefined,
      "create it",
      cause,
    ]);
    const bare = new DriverError("closed", ErrorCode.FailedPrecondition);
    expect(bare.options).toEqual({});
    expect("cause" in bare).toBe(false);
  });
});

describe("errors mapped once", () => {
  it("composes one PubSubError from the driver's code, hint and error, and keeps the error as cause", async () => {
    const driver = new ScriptedTopicDriver();
    const original = Object.assign(driverError("NOT_FOUND - no exchange 'x'", ErrorCode.NotFound), {
      hint: "create it first",
    });
    driver.failures.push(original);
    const topic = new Topic(driver);
    const error = await failure(topic.send({ body: "a" }));
    expect(error).toBeInstanceOf(PubSubError);
    expect(error.code).toBe(ErrorCode.NotFound);
    expect(error.message).toBe(`send to fake topic "t": NOT_FOUND - no exchange 'x'; create it first`);
    expect(error.cause).toBe(original);
    await topic.shutdown();
  });

  it("retries what the driver calls retryable, never a PubSubError, and removes passwords from the message", async () => {
    const driver = new ScriptedTopicDriver();
    driver.failures.push(driverError("reset", ErrorCode.Unknown, true));
    const topic = new Topic(driver, { retry: { initialDelayMs: 1 } });
    await topic.send({ body: "a" });
    expect(driver.batches.length).toBe(1);

    const own = new PubSubError(ErrorCode.FailedPrecondition, "closed");
    Object.assign(own, { retryable: true });
    driver.failures.push(own);
    expect(await failure(topic.send({ body: "b" }))).toBe(own);

    driver.failures.push(driverError("cannot reach amqp://u:s3cret@host", ErrorCode.Unknown));
    const leaked = await failure(topic.send({ body: "c" }));
    expect(leaked.message).not.toContain("s3cret");
    await topic.shutdown();
  });

  it("maps an error of a driver without a classifier to Unknown, and a client's AbortError to Canceled", async () => {
    const driver = new ScriptedTopicDriver();
    Object.defineProperty(driver, "errors", { value: undefined });
    driver.failures.push(new Error("boom"), new DOMException("stop", "AbortError"));
    const topic = new Topic(driver);
    expect(errorCode(await failure(topic.send({ body: "a" })))).toBe(ErrorCode.Unknown);
    expect(errorCode(await failure(topic.send({ body: "b" })))).toBe(ErrorCode.Canceled);
    await topic.shutdown();
  });
});

describe("health endpoint", () => {
  it("keeps where the connection is while ready, and forgets it on a loss", () => {
    const health = new HealthTracker("connecting");
    health.set("ready", undefined, "amqp://***@node-1:5672");
    health.setBlocked("alarm");
    expect(health.current()).toMatchObject({ state: "ready", endpoint: "amqp://***@node-1:5672", blocked: "alarm" });
    health.set("reconnecting", new Error("lost"));
    expect(health.current().endpoint).toBeUndefined();
    health.set("ready", undefined, "amqp://***@node-2:5672");
    expect(health.current().endpoint).toBe("amqp://***@node-2:5672");
  });
});

describe("isNetworkError", () => {
  it("tells a lost or refused connection from everything else", () => {
    for (const code of ["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EAI_AGAIN"]) {
      expect(isNetworkError(Object.assign(new Error("x"), { code }))).toBe(true);
    }
    for (const err of [
      new Error("ECONNRESET"),
      Object.assign(new Error("x"), { code: 404 }),
      { code: "ENOENT" },
      null,
    ]) {
      expect(isNetworkError(err)).toBe(false);
    }
  });
});

describe("ready", () => {
  it("is awaited by the mux, which closes the driver and fails the open when it rejects", async () => {
    const mux = new URLMux();
    const driver = new ScriptedTopicDriver();
    let readyCalls = 0;
    Object.assign(driver, {
      ready: async () => {
        readyCalls++;
        throw Object.assign(driverError("ACCESS_REFUSED", ErrorCode.PermissionDenied), { hint: "check the password" });
      },
    });
    mux.registerTopic("fake", async (_url, _options, portable) => new Topic(driver, portable));
    const error = await failure(mux.openTopic("fake://t"));
    expect(error.code).toBe(ErrorCode.PermissionDenied);
    expect(error.message).toBe('open fake topic "t": ACCESS_REFUSED; check the password');
    expect(readyCalls).toBe(1);
    expect(driver.closed).toBe(1);
  });

  it("lets the open resolve only after ready, and gives up with the caller's signal", async () => {
    const mux = new URLMux();
    const driver = new ScriptedSubscriptionDriver();
    let release: () => void = () => {};
    Object.assign(driver, { ready: () => new Promise<void>((resolve) => (release = resolve)) });
    mux.registerSubscription("fake", async (_url, _options, portable) => new Subscription(driver, portable));
    let opened = false;
    const opening = mux.openSubscription("fake://s").then((s) => {
      opened = true;
      return s;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(opened).toBe(false);
    release();
    await (await opening).shutdown();

    Object.assign(driver, { ready: () => new Promise<void>(() => {}) });
    const error = await failure(mux.openSubscription("fake://s", { signal: AbortSignal.timeout(20) }));
    expect(error.code).toBe(ErrorCode.DeadlineExceeded);
  });
});

describe("registerDriver and driverFor", () => {
  it("registers a whole module and hands it back, and names the registered schemes for an unknown one", async () => {
    const mux = new URLMux();
    const module = {
      openTopicURL: async () => new Topic(new ScriptedTopicDriver()),
      about: {
        broker: "Fake",
        server: "nowhere",
        topicKind: "fake topic",
        subscriptionKind: "fake sub",
        create: "n/a",
      },
    };
    mux.registerDriver("fake", module, "fake-package");
    expect(await mux.driverFor("fake")).toEqual({ scheme: "fake", packageName: "fake-package", module });
    await (await mux.openTopic("fake://x")).shutdown();
    expect(() => mux.registerDriver("fake", module)).toThrow(
      expect.objectContaining({ code: ErrorCode.AlreadyExists }),
    );
    const unknown = await failure(mux.driverFor("nope"));
    expect(unknown.code).toBe(ErrorCode.InvalidArgument);
    expect(unknown.message).toBe('open: no driver for scheme "nope://"; registered schemes: fake://');
  });

  it("imports driver packages through the importer it is given, once each", async () => {
    const imported: string[] = [];
    const module = { openTopicURL: async () => new Topic(new ScriptedTopicDriver()) };
    const mux = new URLMux(
      { fake: "fake-driver-package", gone: "missing-driver-package" },
      {
        importDriver: async (name) => {
          imported.push(name);
          if (name === "fake-driver-package") return module;
          throw Object.assign(new Error(`Cannot find package '${name}'`), { code: "ERR_MODULE_NOT_FOUND" });
        },
      },
    );
    await (await mux.openTopic("fake://a")).shutdown();
    await (await mux.openTopic("fake://b")).shutdown();
    expect((await mux.driverFor("fake")).module).toBe(module);
    expect(imported).toEqual(["fake-driver-package"]);
    const missing = await failure(mux.openTopic("gone://x"));
    expect(missing.code).toBe(ErrorCode.InvalidArgument);
    expect(missing.message).toContain('install it with "npm install missing-driver-package"');
  });

  it("imports a built-in driver package by scheme", async () => {
    const loaded = await new URLMux({ mem: "@portable-pubsub/driver-memory" }).driverFor("mem");
    expect(loaded.packageName).toBe("@portable-pubsub/driver-memory");
    expect(typeof loaded.module.openTopicURL).toBe("function");
  });
});

describe("URL parameter vocabulary", () => {
  const schema = z
    .object({
      wait: param.duration({ maxMs: 1000 }).optional(),
      linger: param.duration({ allowZero: true }).optional(),
      declare: param.flag().optional(),
      prefetch: param.int(1, 65535).optional(),
      frame: param.byteSize(4096).optional(),
      group: param.name().optional(),
    })
    .strict();
  const parse = (query: string) => parseQuery(new URL(`x://t?${query}`), schema, "x");

  it("reads durations, flags, integers, sizes and names the same way for every driver", () => {
    expect(parse("wait=500ms&linger=0&declare=1&prefetch=10&frame=64KiB&group=g")).toEqual({
      wait: 500,
      linger: 0,
      declare: true,
      prefetch: 10,
      frame: 65536,
      group: "g",
    });
    expect(parse("wait=1s&declare=false&frame=8192")).toEqual({ wait: 1000, declare: false, frame: 8192 });
    expect(parse("declare=0").declare).toBe(false);
    expect(parse("declare=true").declare).toBe(true);
    expect(parseByteSize("1MB")).toBe(1_000_000);
    expect(parseByteSize("4 MiB")).toBe(4 * 1024 * 1024);
    expect(parseByteSize("12 parsecs")).toBeUndefined();
  });

  it.each([
    ["wait=2s", '"wait" is invalid: must be a positive duration of at most 1000 ms, such as 500ms, 30s or 2m'],
    ["wait=0", '"wait" is invalid: must be a positive duration of at most 1000 ms'],
    ["declare=yes", '"declare" is invalid: must be true or false (or 1 or 0)'],
    ["prefetch=0", '"prefetch" is invalid: must be at least 1'],
    ["prefetch=1.5", '"prefetch" is invalid: must be a whole number'],
    ["frame=1KiB", '"frame" is invalid: must be a size from 4096 to'],
    ["group=", '"group" is invalid: must not be empty'],
    ["other=1", '"other" is not supported; supported: wait, linger, declare, prefetch, frame, group'],
    [
      "gruop=g",
      '"gruop" is not supported; supported: wait, linger, declare, prefetch, frame, group; did you mean "group"?',
    ],
  ])("rejects %s with InvalidArgument naming the parameter", (query, text) => {
    let caught: unknown;
    try {
      parse(query);
    } catch (err) {
      caught = err;
    }
    expect(errorCode(caught)).toBe(ErrorCode.InvalidArgument);
    expect((caught as Error).message).toContain(text);
  });

  it("says a missing required parameter is required, and how to give it, instead of zod's words", () => {
    const required = z.object({ group: param.name(), wait: param.duration(), level: param.int() }).strict();
    const parseRequired = (url: string) => {
      try {
        parseQuery(new URL(url), required, "x");
      } catch (err) {
        expect(errorCode(err)).toBe(ErrorCode.InvalidArgument);
        return (err as Error).message;
      }
      throw new Error("parsed");
    };
    expect(parseRequired("x://u:s3cret@stream?token=t0k")).toBe(
      'x: x://***@stream: query parameter "group" is required: add it, as in x://***@stream?group=NAME',
    );
    expect(parseRequired("x://stream?group=g")).toBe(
      'x: x://stream: query parameter "wait" is required: add it, as in x://stream?wait=VALUE',
    );
    expect(parseRequired("x://stream?group=g&wait=1s")).toBe(
      'x: x://stream: query parameter "level" is required: add it, as in x://stream?level=VALUE',
    );
    expect(() => parseOptions(z.object({ client: z.string() }).strict(), {}, "x")).toThrow(
      'x: option "client" is required',
    );
    // A key given with a bad value is still "invalid", not "required".
    expect(parseRequired("x://stream?group=")).toBe(
      'x: x://stream: query parameter "group" is invalid: must not be empty',
    );
  });

  it("decodes resource names, and turns bad percent-encoding or an empty name into InvalidArgument", () => {
    const naming = { driver: "mem", kind: "topic" };
    expect(resourceName(new URL("mem://orders/eu%20west"), naming)).toBe("orders/eu west");
    expect(resourceName(new URL("mem:///App:Orders"), naming)).toBe("App:Orders");
    for (const [url, text] of [
      ["mem://t/%ZZ", "mem: mem://t/%ZZ has a badly percent-encoded topic name; escape"],
      ["mem://%E0%A4%A", "has a badly percent-encoded topic name"],
      ["mem://", "names no topic; use mem://TOPIC"],
      ["mem://u:SECRET@t", "a topic URL takes no user name or password"],
      ["mem:///u:SECRET@t", 'a topic URL takes no user name or password (write an "@" in a name as %40)'],
    ] as const) {
      let caught: unknown;
      try {
        resourceName(new URL(url), naming);
      } catch (err) {
        caught = err;
      }
      expect(errorCode(caught)).toBe(ErrorCode.InvalidArgument);
      expect((caught as Error).message).toContain(text);
      expect((caught as Error).message).not.toContain("SECRET");
    }
    expect(resourceName(new URL("mem://orders%40eu"), naming)).toBe("orders@eu");
  });
});
