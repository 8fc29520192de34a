/**
 * Error mapping, each case raised by the real broker: AMQP reply codes and
 * refusals become portable codes with messages that say what to do, and
 * never show a password. (320 CONNECTION_FORCED is raised in faults.test.ts (d).)
 */
import { ErrorCode, errorCode, openSubscription, openTopic, type Topic } from "@portable-pubsub/core";
import { openRabbitSubscription, openRabbitTopic } from "@portable-pubsub/driver-rabbit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  makeExchangeAndQueue,
  rabbitmqctl,
  SERVER_URL,
  skipWithoutBroker,
  sleep,
  unique,
  withAdmin,
} from "./support.js";

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e as Error,
  );

describe.skipIf(skipWithoutBroker)("rabbit error mapping against the broker", () => {
  const exchange = unique("errors");
  const queue = unique("errors");
  const limitedUser = unique("limited");
  const limitedPassword = "limited-secret-pw";
  let cleanup: () => Promise<void> = async () => {};

  beforeAll(async () => {
    cleanup = await makeExchangeAndQueue(exchange, queue);
    await rabbitmqctl("add_user", limitedUser, limitedPassword);
    // May connect to "/" but neither configure, write nor read anything there.
    await rabbitmqctl("set_permissions", "-p", "/", limitedUser, "^$", "^$", "^$");
  });
  afterAll(async () => {
    await cleanup();
    await rabbitmqctl("delete_user", limitedUser).catch(() => {});
  });

  const shutdown = (topic: Topic) => topic.shutdown({ signal: AbortSignal.timeout(3000) }).catch(() => {});

  it("404: a missing queue is NotFound at open, with how to fix it", async () => {
    const error = await failure(openSubscription(`rabbit://${unique("no-queue")}`, { serverUrl: SERVER_URL }));
    expect(errorCode(error)).toBe(ErrorCode.NotFound);
    expect(error.message).toMatch(/no queue/);
    expect(error.message).toMatch(/declare=true/);
  });

  it("403: publishing without write permission is PermissionDenied; the connection survives", async () => {
    const settings = { serverUrl: `amqp://${limitedUser}:${limitedPassword}@127.0.0.1:5672` };
    const topic = openRabbitTopic(settings, exchange, { retry: { maxAttempts: 1 } });
    try {
      const error = await failure(topic.send({ body: "x" }));
      expect(errorCode(error)).toBe(ErrorCode.PermissionDenied);
      expect(error.message).toMatch(/ACCESS_REFUSED/);
      expect(error.message).not.toContain(limitedPassword);
      expect(topic.health.state).toBe("ready");
    } finally {
      await shutdown(topic);
    }
  });

  it("403: consuming without read permission is PermissionDenied", async () => {
    const subscription = openRabbitSubscription(
      { serverUrl: `amqp://${limitedUser}:${limitedPassword}@127.0.0.1:5672` },
      queue,
      { retry: { maxAttempts: 1 } },
    );
    try {
      const error = await failure(subscription.receive({ signal: AbortSignal.timeout(5000) }));
      expect(errorCode(error)).toBe(ErrorCode.PermissionDenied);
    } finally {
      await subscription.shutdown({ signal: AbortSignal.timeout(3000) }).catch(() => {});
    }
  });

  it("403: a wrong password fails at open with PermissionDenied and never shows the password", async () => {
    const error = await failure(
      openTopic(`rabbit://${exchange}`, { serverUrl: "amqp://guest:wrong-pw-123@127.0.0.1" }),
    );
    expect(errorCode(error)).toBe(ErrorCode.PermissionDenied);
    expect(error.message).toMatch(/user name and password/);
    expect(error.message).not.toContain("wrong-pw-123");
    expect(error.message).toContain("amqp://***@127.0.0.1");
  });

  it("530: a vhost that does not exist is PermissionDenied at open", async () => {
    const error = await failure(openTopic(`rabbit://${exchange}`, { serverUrl: `${SERVER_URL}/no-such-vhost` }));
    expect(errorCode(error)).toBe(ErrorCode.PermissionDenied);
    expect(error.message).toMatch(/vhost "no-such-vhost"/);
  });

  it("406: declaring an exchange that exists with another type is FailedPrecondition", async () => {
    // The test exchange is a fanout; declare=true asks for a topic exchange.
    const error = await failure(openTopic(`rabbit://${exchange}?declare=true`, { serverUrl: SERVER_URL }));
    expect(errorCode(error)).toBe(ErrorCode.FailedPrecondition);
    expect(error.message).toMatch(/PRECONDITION_FAILED/);
    expect(error.message).toMatch(/exists with other settings/);
  });

  it("312: a message no queue receives fails its send with NotFound (mandatory + basic.return)", async () => {
    const lonely = unique("unroutable");
    const removeExchange = await makeExchangeAndQueue(lonely, undefined);
    const topic = openRabbitTopic({ serverUrl: SERVER_URL }, lonely);
    try {
      const error = await failure(topic.send({ body: "nobody listens" }));
      expect(errorCode(error)).toBe(ErrorCode.NotFound);
      expect(error.message).toMatch(/could not route/);
      expect(error.message).toMatch(/NO_ROUTE/);
      // The topic goes on working once a queue is bound.
      await withAdmin(async (ch) => {
        await ch.assertQueue(`${lonely}-q`, { durable: false, autoDelete: false });
        await ch.bindQueue(`${lonely}-q`, lonely, "");
      });
      await topic.send({ body: "now routed" });
    } finally {
      await shutdown(topic);
      await withAdmin((ch) => ch.deleteQueue(`${lonely}-q`)).catch(() => {});
      await removeExchange();
    }
  });

  it("nack: a message the broker refuses (full queue, reject-publish) is ResourceExhausted, retried until it fits", async () => {
    const full = unique("full");
    const removeAll = await makeExchangeAndQueue(full, `${full}-q`, {
      queueArgs: { "x-max-length": 1, "x-overflow": "reject-publish" },
    });
    const once = openRabbitTopic({ serverUrl: SERVER_URL }, full, { retry: { maxAttempts: 1 } });
    const patient = openRabbitTopic({ serverUrl: SERVER_URL }, full);
    try {
      await once.send({ body: "fits" });
      const error = await failure(once.send({ body: "does not fit" }));
      expect(errorCode(error)).toBe(ErrorCode.ResourceExhausted);
      expect(error.message).toMatch(/basic\.nack/);
      // With core's default retry the send waits, nacked again and again, until the queue has room.
      let settled = false;
      const waiting = patient.send({ body: "waits for room" }).finally(() => {
        settled = true;
      });
      await sleep(500);
      expect(settled).toBe(false);
      await withAdmin((ch) => ch.purgeQueue(`${full}-q`));
      await waiting;
      await withAdmin(async (ch) => {
        const got = await ch.get(`${full}-q`, { noAck: true });
        expect(got ? got.content.toString() : got).toBe("waits for room");
      });
    } finally {
      await shutdown(once);
      await shutdown(patient);
      await removeAll();
    }
  });

  it("refuses alone, with InvalidArgument, a message AMQP cannot carry", async () => {
    const topic = openRabbitTopic({ serverUrl: SERVER_URL }, exchange, { routingKeyFrom: "key" });
    try {
      const sends = [
        topic.send({ body: "ok-1" }),
        topic.send({ body: "long name", metadata: { ["k".repeat(300)]: "v" } }),
        topic.send({ body: "huge headers", metadata: { big: "x".repeat(70_000) } }),
        topic.send({ body: "long key", metadata: { key: "r".repeat(256) } }),
        topic.send({ body: "ok-2" }),
      ];
      const outcomes = await Promise.allSettled(sends);
      expect(outcomes.map((o) => (o.status === "fulfilled" ? "ok" : errorCode(o.reason)))).toEqual([
        "ok",
        ErrorCode.InvalidArgument,
        ErrorCode.InvalidArgument,
        ErrorCode.InvalidArgument,
        "ok",
      ]);
      const reasons = outcomes.flatMap((o) => (o.status === "rejected" ? [(o.reason as Error).message] : []));
      expect(reasons[0]).toMatch(/header names hold at most 255/);
      expect(reasons[1]).toMatch(
        /at most 61440 fit, whatever the frameMax \(amqplib encodes headers in a 64 KiB buffer\); send less metadata \(put large values in the body\)$/,
      );
      expect(reasons[2]).toMatch(/routing keys hold at most 255/);
    } finally {
      await shutdown(topic);
    }
  });

  it("an unreachable broker fails fast at open, naming the URL without its password", async () => {
    const started = Date.now();
    const error = await failure(
      openTopic(`rabbit://${exchange}`, { serverUrl: "amqp://someone:top-secret-1@127.0.0.1:1" }),
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(errorCode(error)).toBe(ErrorCode.Unknown);
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(error.message).toContain("amqp://***@127.0.0.1:1");
    expect(error.message).not.toContain("top-secret-1");
    expect(String((error as { stack?: string }).stack)).not.toContain("top-secret-1");
  });
});
