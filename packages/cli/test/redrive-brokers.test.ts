import { openSubscription, openTopic, type Subscription } from "@portable-pubsub/core";
import { delayQueueNames } from "@portable-pubsub/driver-rabbit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RABBIT, skipWithoutRabbit, unique } from "./brokers.js";
import { pubsub } from "./run-cli.js";

// `pubsub redrive` as a separate process against RabbitMQ. The dead letters are sent here as core sends
// them (the body, the original metadata, the four deadletter.* keys), so that this tests the command alone.

const env = { RABBIT_SERVER_URL: RABBIT.serverUrl };
const serverUrl = RABBIT.serverUrl;

const DEAD_LETTERS: { body: number[]; metadata: Record<string, string> }[] = [
  { body: [0x7b, 0x22, 0x69, 0x64, 0x22, 0x7d], metadata: { "order-id": "a" } },
  {
    body: [0xff, 0x00, 0x0a, 0xfe],
    metadata: { "order-id": "b", traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" },
  },
];
const deadLetterKeys = (n: number, source = "rabbit://orders-processor") => ({
  "deadletter.source": source,
  "deadletter.attempts": "5",
  "deadletter.error": `order ${n} is invalid`,
  "deadletter.time": "2026-01-02T03:04:05.000Z",
});

/** What `sub` gets within `waitMs`, as plain bytes and metadata, acked; sorted by order id. */
async function drain(sub: Subscription, waitMs = 500) {
  const got: { body: number[]; metadata: Record<string, string> }[] = [];
  for (;;) {
    const message = await sub.receive({ signal: AbortSignal.timeout(waitMs) }).catch(() => undefined);
    if (!message) break;
    message.ack();
    got.push({ body: [...message.body], metadata: { ...message.metadata } });
  }
  return got.sort((a, b) => String(a.metadata["order-id"]).localeCompare(String(b.metadata["order-id"])));
}

/** Declares each exchange and queue, the queue bound to the exchange (declare=true makes them). */
async function declarePairs(pairs: [exchange: string, queue: string][]): Promise<void> {
  for (const [exchange, queue] of pairs) {
    await (await openTopic(`rabbit://${exchange}?declare=true`, { serverUrl })).shutdown();
    await (await openSubscription(`rabbit://${queue}?declare=true&exchange=${exchange}`, { serverUrl })).shutdown();
  }
}

/** Deletes the queues (with their delay queues) and the exchanges. */
async function deleteAll(queues: string[], exchanges: string[]): Promise<void> {
  const topic = await openTopic(`rabbit://${exchanges[0]}`, { serverUrl });
  const channel = topic.as<{
    deleteQueue(q: string): Promise<unknown>;
    deleteExchange(e: string): Promise<unknown>;
  }>();
  for (const queue of queues.flatMap((q) => [q, ...delayQueueNames(q)]))
    await channel.deleteQueue(queue).catch(() => {});
  for (const exchange of exchanges) await channel.deleteExchange(exchange).catch(() => {});
  await topic.shutdown({ signal: AbortSignal.timeout(5000) }).catch(() => {});
}

describe.skipIf(skipWithoutRabbit)("pubsub redrive on RabbitMQ", () => {
  const deadExchange = unique("dead");
  const deadQueue = unique("dead-q");
  const targetExchange = unique("target");
  const targetQueue = unique("target-q");
  /** A second queue bound to the target exchange: what is sent home to targetQueue must not reach it. */
  const otherQueue = unique("other-q");
  const missingExchange = unique("missing");

  /** Puts the dead letters into the dead-letter queue, as if they had failed in `source`. */
  async function sendDeadLetters(source?: string): Promise<void> {
    const topic = await openTopic(`rabbit://${deadExchange}`, { serverUrl });
    for (const [n, letter] of DEAD_LETTERS.entries()) {
      await topic.send({
        body: new Uint8Array(letter.body),
        metadata: { ...letter.metadata, ...deadLetterKeys(n, source) },
      });
    }
    await topic.shutdown();
  }

  /** What `queue` holds, acked (its trace-context keys kept). */
  async function queued(queue: string) {
    const sub = await openSubscription(`rabbit://${queue}`, { serverUrl, tracing: { keepContextMetadata: true } });
    const got = await drain(sub);
    await sub.shutdown();
    return got;
  }

  beforeAll(() =>
    declarePairs([
      [deadExchange, deadQueue],
      [targetExchange, targetQueue],
      [targetExchange, otherQueue],
    ]),
  );

  afterAll(() => deleteAll([deadQueue, targetQueue, otherQueue], [deadExchange, targetExchange]));

  it("moves each dead letter to the topic, deadletter.* keys removed, and acks it", async () => {
    await sendDeadLetters();
    const result = await pubsub(["redrive", `rabbit://${deadQueue}`, `rabbit://${targetExchange}`, "--wait", "1s"], {
      env,
    });
    expect(result).toEqual({
      code: 0,
      stdout: `redrive: rabbit://${deadQueue} to rabbit://${targetExchange}\nmoved       2\nfailed      0\nskipped     0\n`,
      stderr: "",
    });
    // Bytes unchanged, every other key (the trace context too) kept.
    expect(await queued(targetQueue)).toEqual(DEAD_LETTERS);
    expect(await queued(deadQueue)).toEqual([]);
    expect(await queued(otherQueue)).toHaveLength(2);
  });

  it("without TO_URL, sends each dead letter back to its source queue alone, through the default exchange", async () => {
    await sendDeadLetters(`rabbit://${targetQueue}?prefetch=10`);
    const result = await pubsub(["redrive", `rabbit://${deadQueue}`, "--wait", "1s"], { env });
    expect(result).toEqual({
      code: 0,
      stdout: `redrive: rabbit://${deadQueue} to each message's deadletter.source\nmoved       2\nfailed      0\nskipped     0\n`,
      stderr: "",
    });
    expect(await queued(targetQueue)).toEqual(DEAD_LETTERS);
    // Bound to the same exchange, and still given nothing: the exchange was not used.
    expect(await queued(otherQueue)).toEqual([]);
    expect(await queued(deadQueue)).toEqual([]);
  });

  it("stops before moving anything when the target is missing, names it, exits with its code, and acks nothing", async () => {
    await sendDeadLetters();
    const result = await pubsub(["redrive", `rabbit://${deadQueue}`, `rabbit://${missingExchange}`, "--wait", "1s"], {
      env,
    });
    // Opening the target checks its exchange, so the redrive fails before it takes any message.
    expect(result.stdout).toBe("");
    const lines = result.stderr.split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      new RegExp(
        `^pubsub: NotFound: open rabbit exchange "${missingExchange}" .*no exchange.*; create it, or open the topic with declare=true$`,
      ),
    );
    expect(result.code).toBe(3);
    // Both dead letters are still there, as they were.
    const dead = await openSubscription(`rabbit://${deadQueue}`, { serverUrl, tracing: { keepContextMetadata: true } });
    expect(await drain(dead)).toEqual(
      DEAD_LETTERS.map((letter, n) => ({ body: letter.body, metadata: { ...letter.metadata, ...deadLetterKeys(n) } })),
    );
    await dead.shutdown();
  });
});

describe.skipIf(skipWithoutRabbit)(
  "pubsub redrive keeps a CloudEvent's content type and attributes on RabbitMQ",
  () => {
    const deadExchange = unique("ce-dead");
    const deadQueue = unique("ce-dead-q");
    const targetExchange = unique("ce-target");
    const targetQueue = unique("ce-target-q");

    /** The amqplib channel of a topic, for what the portable API does not show: the AMQP properties. */
    type RawChannel = {
      get(queue: string, options: { noAck: boolean }): Promise<false | { content: Buffer; properties: RawProperties }>;
    };
    type RawProperties = { contentType?: string; headers?: Record<string, unknown> };

    beforeAll(() =>
      declarePairs([
        [deadExchange, deadQueue],
        [targetExchange, targetQueue],
      ]),
    );

    afterAll(() => deleteAll([deadQueue, targetQueue], [deadExchange, targetExchange]));

    it("moves a binary-mode event with content_type and its cloudEvents_ application properties", async () => {
      const event = {
        "content-type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": "e-1",
        "ce-source": "/orders",
        "ce-type": "com.example.order.created",
        "ce-region": "eu",
      };
      const body = '{"id":"a1","qty":2}';
      const dead = await openTopic(`rabbit://${deadExchange}`, { serverUrl });
      await dead.send({ body, metadata: { ...event, ...deadLetterKeys(0) } });
      await dead.shutdown();
      const result = await pubsub(["redrive", `rabbit://${deadQueue}`, `rabbit://${targetExchange}`, "--wait", "1s"], {
        env,
      });
      expect(result).toMatchObject({ code: 0, stderr: "" });
      expect(result.stdout).toContain("moved       1\n");

      const topic = await openTopic(`rabbit://${targetExchange}`, { serverUrl });
      try {
        const raw = await topic.as<RawChannel>().get(targetQueue, { noAck: true });
        if (raw === false) throw new Error("the redriven event did not arrive");
        expect(raw.content.toString()).toBe(body);
        expect(raw.properties.contentType).toBe("application/json");
        const headers = Object.fromEntries(
          Object.entries(raw.properties.headers ?? {}).map(([key, value]) => [key, String(value)]),
        );
        expect(headers).toEqual({
          cloudEvents_specversion: "1.0",
          cloudEvents_id: "e-1",
          cloudEvents_source: "/orders",
          cloudEvents_type: "com.example.order.created",
          cloudEvents_region: "eu",
        });
        expect(await topic.as<RawChannel>().get(targetQueue, { noAck: true })).toBe(false);
      } finally {
        await topic.shutdown();
      }
    });
  },
);
