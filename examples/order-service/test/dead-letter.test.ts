import { randomUUID } from "node:crypto";
import { openSubscription } from "@portable-pubsub/core";
import { openMemTopic } from "@portable-pubsub/driver-memory";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type Config, loadConfig } from "../src/config.js";
import { Logger } from "../src/log.js";
import { OrderService } from "../src/service.js";
import { getJson, type LogLine, postOrder } from "./service-process.js";

// The service runs in the test's process here: mem:// lives in one process, and an order the consumer
// rejects cannot come through POST /orders (which checks orders first), only from another producer on
// the topic, which the test plays. Its log lines are captured from stdout.

const MAX_ATTEMPTS = 3;

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  vi.restoreAllMocks();
});

/** Captures the service's JSON log lines (it writes them to stdout). */
function captureLogs(): LogLine[] {
  const logs: LogLine[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation(((chunk: string | Uint8Array) => {
    for (const line of String(chunk).split("\n")) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
    return true;
  }) as typeof process.stdout.write);
  return logs;
}

describe("order service on mem://: an order that fails the schema in the consumer", () => {
  it("is dead-lettered at once by the schema, with the reason, never reaching the handler, and counted", async () => {
    const id = randomUUID().slice(0, 8);
    const [orders, dead] = [`orders-${id}`, `orders-dead-${id}`];
    // What reaches the dead-letter topic waits in this subscription.
    const deadTopic = openMemTopic(dead);
    const deadLetters = await openSubscription(`mem://${dead}?subscription=check`, {
      tracing: { keepContextMetadata: true },
    });
    cleanup.push(
      () => deadTopic.shutdown(),
      () => deadLetters.shutdown(),
    );
    const config = loadConfig(
      [
        ...["--port", "0", "--topic", `mem://${orders}`, "--subscription", `mem://${orders}?subscription=processor`],
        ...["--dead-letter", `mem://${dead}`, "--max-attempts", String(MAX_ATTEMPTS)],
        ...["--redelivery-delay", "10ms", "--redelivery-max-delay", "50ms"],
      ],
      {},
    ) as Config;
    const logs = captureLogs();
    const service = await OrderService.start(config, new Logger("info"));
    cleanup.push(() => service.stop("test over"));

    // A valid order through HTTP, and an invalid one from another producer on the topic.
    expect((await postOrder(service.url, { item: "book", quantity: 1 })).status).toBe(201);
    const producer = openMemTopic(orders);
    cleanup.push(() => producer.shutdown());
    const invalid = JSON.stringify({ id: "bad-1", item: "book", quantity: 0, createdAt: "2026-01-01T00:00:00.000Z" });
    await producer.send({ body: invalid, metadata: { "order-id": "bad-1", "content-type": "application/json" } });

    const letter = await deadLetters.receive({ signal: AbortSignal.timeout(5000) });
    letter.ack();
    expect(letter.text()).toBe(invalid);
    expect(letter.metadata).toEqual({
      "order-id": "bad-1",
      "content-type": "application/json",
      "deadletter.source": `mem://${orders}?subscription=processor`,
      "deadletter.attempts": "1",
      "deadletter.deliveries": "1",
      "deadletter.error":
        "invalid message: the data does not match the schema: quantity: Too small: expected number to be >=1",
      "deadletter.time": expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    // Acked once dead-lettered: no further delivery, and no second dead letter.
    await expect(deadLetters.receive({ signal: AbortSignal.timeout(300) })).rejects.toThrow();

    // The handler never saw it: no failure, no retry, one dead letter.
    expect(logs.filter((l) => l.msg.startsWith("order handler failed"))).toEqual([]);
    expect(logs.filter((l) => l.event === "pubsub.invalid_message")).toHaveLength(1);
    expect(logs.filter((l) => l.msg === "order dead-lettered")).toEqual([
      expect.objectContaining({ level: "warn", attempts: 1, deadLettered: 1 }),
    ]);
    expect(await getJson(`${service.url}/stats`)).toEqual({
      status: 200,
      body: { accepted: 1, processed: 1, duplicates: 0, rejected: 1, deadLettered: 1, inFlight: 0 },
    });
  });
});
