/**
 * rabbit:// as a dead-letter target: a URL with declare=true holds what it
 * gets (a queue of its name, bound to receive every dead letter); a target
 * that could not is FailedPrecondition at the subscription's open; and an
 * existing exchange that no queue is bound to, which AMQP cannot detect at
 * open, fails each dead-letter send with the cause and the fix, and parks
 * the original in one delay queue, not a new one per loop.
 */
import { ErrorCode, type LogEvent, openSubscription, openTopic, type PubSubError } from "@portable-pubsub/core";
import { delayQueueNames } from "@portable-pubsub/driver-rabbit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupAfterEach, SERVER_URL, skipWithoutBroker, unique, withAdmin } from "./support.js";

const { defer, shutdownLater } = cleanupAfterEach();

// A deadLetter URL is opened without the subscription's driver options: the server comes from the environment.
const savedEnv = process.env.RABBIT_SERVER_URL;
beforeAll(() => {
  process.env.RABBIT_SERVER_URL = SERVER_URL;
});
afterAll(() => {
  if (savedEnv === undefined) delete process.env.RABBIT_SERVER_URL;
  else process.env.RABBIT_SERVER_URL = savedEnv;
});

function logs() {
  const events: LogEvent[] = [];
  const push = (event: LogEvent) => events.push(event);
  return { events, logger: { info: push, warn: push, error: push } };
}

/** Deletes these queues (and their delay queues) and exchanges after the test. */
function removeLater(queues: string[], exchanges: string[]) {
  defer(() =>
    withAdmin(async (ch) => {
      for (const q of queues) for (const name of [q, ...delayQueueNames(q)]) await ch.deleteQueue(name).catch(() => {});
      for (const e of exchanges) await ch.deleteExchange(e).catch(() => {});
    }),
  );
}

/** Which delay queues of `queue` exist, for delays up to 2 s. */
async function delayQueuesOf(queue: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of delayQueueNames(queue, 2048)) {
    // A passive check of a missing queue closes its channel: one channel each.
    const exists = await withAdmin((ch) => ch.checkQueue(name).then(() => true)).catch(() => false);
    if (exists) found.push(name);
  }
  return found;
}

describe.skipIf(skipWithoutBroker)("rabbit:// dead-letter targets", () => {
  it("declare=true on a dead-letter URL declares a durable queue of its name that receives every dead letter", async () => {
    const [orders, worker, dead] = [unique("orders"), unique("worker"), unique("dead")];
    removeLater([worker, dead], [orders, dead]);
    const topic = await openTopic(`rabbit://${orders}?declare=true`);
    const sub = await openSubscription(`rabbit://${worker}?declare=true&exchange=${orders}`, {
      redelivery: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 10 },
      deadLetter: `rabbit://${dead}?declare=true`,
    });
    shutdownLater(topic, sub);
    const durable = await withAdmin((ch) => ch.assertQueue(dead, { durable: true }));
    expect(durable.queue).toBe(dead);
    await topic.send({ body: "poison", metadata: { routing: "any.key", k: "v" } });
    const processing = sub.process(() => {
      throw new Error("invalid order");
    });
    const letters = await openSubscription(`rabbit://${dead}`);
    shutdownLater(letters);
    const letter = await letters.receive({ signal: AbortSignal.timeout(10_000) });
    letter.ack();
    expect(letter.text()).toBe("poison");
    expect(letter.metadata).toMatchObject({
      k: "v",
      "deadletter.source": `rabbit://${worker}?declare=true&exchange=${orders}`,
      "deadletter.attempts": "2",
      "deadletter.error": "invalid order",
    });
    await sub.shutdown();
    await processing;
  });

  it.each([
    ["headers exchange", "exchangeType=headers&declare=true", /cannot bind a queue that receives every dead letter/],
    ["mandatory=false", "declare=true&mandatory=false", /mandatory=false lets the broker drop a dead letter/],
    ["an exchange without declare or toQueue", "mandatory=true", /cannot tell at open whether a queue receives/],
  ])(
    "a dead-letter URL that could lose what it gets (%s) fails the subscription's open with FailedPrecondition",
    async (_what, query, message) => {
      const [worker, dead] = [unique("worker"), unique("dead")];
      removeLater([worker, dead], [dead]);
      const error = (await openSubscription(`rabbit://${worker}?declare=true`, {
        serverUrl: SERVER_URL,
        redelivery: { maxAttempts: 2 },
        deadLetter: `rabbit://${dead}?${query}`,
      }).catch((e: unknown) => e)) as PubSubError;
      expect(error.code).toBe(ErrorCode.FailedPrecondition);
      expect(error.message).toMatch(message);
      expect(error.message).toContain(`dead-letter topic "${dead}"`);
    },
  );

  it("an application's Topic on an exchange no queue is bound to: each dead-letter send fails naming the cause and the fix, the original stays, in one delay queue", async () => {
    const [worker, dead] = [unique("worker"), unique("dead")];
    removeLater([worker], [dead]);
    await withAdmin((ch) => ch.assertExchange(dead, "topic", { durable: false }));
    const { events, logger } = logs();
    const deadTopic = await openTopic(`rabbit://${dead}`, { serverUrl: SERVER_URL });
    shutdownLater(deadTopic);
    const sub = await openSubscription(`rabbit://${worker}?declare=true`, {
      serverUrl: SERVER_URL,
      redelivery: { maxAttempts: 1, initialDelayMs: 1, maxDelayMs: 150 },
      // A URL would fail the open (FailedPrecondition, above); a Topic the application opened itself is used as given.
      deadLetter: deadTopic,
      logger,
    });
    shutdownLater(sub);
    const sender = await openTopic(`rabbit://${worker}?toQueue=true`, { serverUrl: SERVER_URL });
    shutdownLater(sender);
    await sender.send({ body: "poison" });
    let handled = 0;
    const processing = sub.process(() => {
      handled++;
      throw new Error("invalid order");
    });
    const failed = () => events.filter((e) => e.event === "pubsub.deadletter_failed");
    const deadline = Date.now() + 15_000;
    while (failed().length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await sub.shutdown();
    await processing;
    expect(failed().length).toBeGreaterThanOrEqual(5);
    expect(handled).toBe(1);
    expect(events.filter((e) => e.event === "pubsub.deadletter")).toEqual([]);
    expect(failed()[0]?.message).toMatch(/could not route the message .* to any queue/);
    expect(failed()[0]?.message).toMatch(/for a dead-letter topic, add declare=true to its URL/);
    // Every loop waits maxDelayMs, so one delay queue serves them all.
    expect(await delayQueuesOf(worker)).toHaveLength(1);
    // And the original is still there.
    const again = await openSubscription(`rabbit://${worker}`, { serverUrl: SERVER_URL });
    shutdownLater(again);
    expect((await again.receive({ signal: AbortSignal.timeout(5000) })).text()).toBe("poison");
  });

  it("rabbit://QUEUE?toQueue=true sends to that queue alone, fails the open for a missing queue, and takes no routing options", async () => {
    const [exchange, queue, other, missing] = [unique("x"), unique("q"), unique("other"), unique("missing")];
    removeLater([queue, other], [exchange]);
    const bound = await openSubscription(`rabbit://${queue}?declare=true&exchange=${exchange}`, {
      serverUrl: SERVER_URL,
    });
    const alsoBound = await openSubscription(`rabbit://${other}?declare=true&exchange=${exchange}`, {
      serverUrl: SERVER_URL,
    });
    shutdownLater(bound, alsoBound);
    const home = await openTopic(`rabbit://${queue}?toQueue=true`, { serverUrl: SERVER_URL });
    shutdownLater(home);
    await home.send({ body: "home", metadata: { k: "v" } });
    const got = await bound.receive({ signal: AbortSignal.timeout(5000) });
    got.ack();
    expect([got.text(), got.metadata]).toEqual(["home", { k: "v" }]);
    expect(await alsoBound.receive({ signal: AbortSignal.timeout(300) }).catch((e: PubSubError) => e.code)).toBe(
      ErrorCode.DeadlineExceeded,
    );
    const gone = (await openTopic(`rabbit://${missing}?toQueue=true`, { serverUrl: SERVER_URL }).catch(
      (e: unknown) => e,
    )) as PubSubError;
    expect(gone.code).toBe(ErrorCode.NotFound);
    expect(gone.message).toContain(`queue "${missing}" (through the default exchange)`);
    for (const query of ["toQueue=true&routingKey=k", "toQueue=true&declare=true", "toQueue=true&routingKeyFrom=k"]) {
      const wrong = (await openTopic(`rabbit://${queue}?${query}`, { serverUrl: SERVER_URL }).catch(
        (e: unknown) => e,
      )) as PubSubError;
      expect(wrong.code).toBe(ErrorCode.InvalidArgument);
      expect(wrong.message).toMatch(
        /toQueue publishes through the default exchange; routingKey, routingKeyFrom and declare do not apply/,
      );
    }
  });
});
