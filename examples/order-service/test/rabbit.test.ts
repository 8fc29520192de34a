import { randomUUID } from "node:crypto";
import { FaultProxy } from "@portable-pubsub/conformance";
import { openSubscription, openTopic } from "@portable-pubsub/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RABBIT, removeTopology, skipWithoutRabbit } from "./broker.js";
import { getJson, postOrder, postTracedOrder, ServiceProcess } from "./service-process.js";

const SERVER = RABBIT.serverUrl;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

describe.skipIf(skipWithoutRabbit)("order service on RabbitMQ through a fault proxy", () => {
  const exchange = `order-service-test-${randomUUID().slice(0, 8)}`;
  const queue = `${exchange}-processor`;
  const deadExchange = `${exchange}-dead`;
  const deadQueue = `${exchange}-dead-letters`;
  let proxy: FaultProxy;

  /** The service's environment: RabbitMQ at `server`, this suite's exchange, queue and dead-letter exchange. */
  const serviceEnv = (server: string, query = "") => ({
    RABBIT_SERVER_URL: server,
    ORDERS_TOPIC_URL: `rabbit://${exchange}?declare=true${query}`,
    ORDERS_SUBSCRIPTION_URL: `rabbit://${queue}?declare=true&exchange=${exchange}${query}`,
    ORDERS_DEAD_LETTER_URL: `rabbit://${deadExchange}?declare=true${query}`,
  });

  beforeAll(async () => {
    proxy = await FaultProxy.start({ upstream: RABBIT });
  });

  afterAll(async () => {
    await proxy?.close();
    await removeTopology(exchange, queue);
    // The dead-letter URL's declare=true also declares a queue of the exchange's name.
    await removeTopology(deadExchange, deadExchange, deadQueue);
  });

  it("goes 503 while the connection is cut, back to 200 after, and loses no order posted before, during or after", async () => {
    const service = await ServiceProcess.start(["--concurrency", "4", "--process-delay", "2ms"], {
      ...serviceEnv(`amqp://guest:guest@${proxy.address}`, "&heartbeat=2"),
      SEND_TIMEOUT: "30s",
    });
    try {
      expect((await getJson(`${service.url}/health`)).status).toBe(200);

      // Two clients post orders one after another for the whole test.
      const answers: { status: number; id?: string; phase: string }[] = [];
      let phase = "before";
      let posting = true;
      const poster = async () => {
        while (posting) {
          const at = phase;
          const answer = await postOrder(service.url, { item: "book", quantity: 1 });
          answers.push({ status: answer.status, id: answer.body.id, phase: at });
          await sleep(5);
        }
      };
      const posters = [poster(), poster()];
      await until(() => service.processedIds().length >= 30, 15_000, "30 orders processed before the cut");

      // Cut every connection and keep the broker unreachable for a while.
      phase = "during";
      proxy.refuse(true);
      expect(proxy.cut()).toBeGreaterThan(0);
      await until(async () => (await getJson(`${service.url}/health`)).status === 503, 5000, "/health to report 503");
      const unhealthy = await getJson(`${service.url}/health`);
      expect(unhealthy.status).toBe(503);
      expect(unhealthy.body.status).toBe("unavailable");
      expect(["reconnecting", "connecting"]).toContain((unhealthy.body.topic as { state: string }).state);
      // Orders posted while the broker is unreachable: their sends wait for the connection to come back.
      const duringOutage = Array.from({ length: 10 }, () =>
        postOrder(service.url, { item: "lamp", quantity: 2 }).then((a) =>
          answers.push({ status: a.status, id: a.body.id, phase: "during" }),
        ),
      );
      await sleep(1500);

      phase = "after";
      proxy.refuse(false);
      await until(async () => (await getJson(`${service.url}/health`)).status === 200, 20_000, "/health back to 200");
      const accepted = () => answers.filter((a) => a.status === 201).length;
      const afterRecovery = accepted();
      await until(() => accepted() >= afterRecovery + 30, 15_000, "30 more orders accepted after recovery");
      posting = false;
      await Promise.all([...posters, ...duringOutage]);

      // Every POST was answered 201: sends made while disconnected waited for the connection.
      expect(answers.filter((a) => a.status !== 201)).toEqual([]);
      const byPhase = (p: string) => answers.filter((a) => a.phase === p).length;
      expect(byPhase("before")).toBeGreaterThan(0);
      expect(byPhase("during")).toBeGreaterThanOrEqual(10);
      expect(byPhase("after")).toBeGreaterThan(0);
      const ids = answers.map((a) => a.id as string);
      await until(
        () => {
          const processed = new Set(service.processedIds());
          return ids.every((id) => processed.has(id));
        },
        30_000,
        "every accepted order to be processed",
      );
      // At-least-once: each order processed once by the idempotent handler; redeliveries are counted, not redone.
      expect(new Set(service.processedIds()).size).toBe(service.processedIds().length);
      // The cut was logged, with the reason, and without the password of the server URL.
      expect(service.logs.some((l) => l.msg === "topic connection reconnecting")).toBe(true);
      expect(service.stdoutText()).not.toContain("guest:guest");

      console.log(
        `orders: ${byPhase("before")} before, ${byPhase("during")} during, ${byPhase("after")} after the cut; ` +
          `duplicate deliveries: ${service.logs.filter((l) => l.msg.startsWith("order already processed")).length}`,
      );
      service.kill("SIGTERM");
      expect(await service.exited).toBe(0);
      const stopped = service.logs.find((l) => l.msg === "stopped");
      expect(stopped).toMatchObject({ accepted: ids.length, processed: ids.length, inFlight: 0 });
    } finally {
      service.kill("SIGKILL");
      await service.exited;
    }
  });

  it("answers 503 with Retry-After when the broker does not confirm within SEND_TIMEOUT, and 201 again once it is back", async () => {
    const service = await ServiceProcess.start([], {
      ...serviceEnv(`amqp://guest:guest@${proxy.address}`, "&heartbeat=2"),
      SEND_TIMEOUT: "500ms",
    });
    try {
      // Before the fault, orders go through. The first one waits at most 500 ms for its confirm: on a loaded CI
      // machine (servers of other tests starting alongside) that once ran out, so it may take a few tries.
      await until(
        async () => (await postOrder(service.url, { item: "pen", quantity: 1 })).status === 201,
        20_000,
        "an order answered 201 before the fault",
      );
      proxy.refuse(true);
      proxy.cut();
      const res = await fetch(`${service.url}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ item: "pen", quantity: 1 }),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      const body = (await res.json()) as { error: string; message: string };
      expect(body.error).toBe("DeadlineExceeded");
      expect(body.message).not.toContain("guest:guest");
      proxy.refuse(false);
      await until(async () => (await getJson(`${service.url}/health`)).status === 200, 20_000, "/health back to 200");
      expect((await postOrder(service.url, { item: "pen", quantity: 1 })).status).toBe(201);
      service.kill("SIGTERM");
      expect(await service.exited).toBe(0);
    } finally {
      proxy.refuse(false);
      service.kill("SIGKILL");
      await service.exited;
    }
  });

  it("processes an order in the trace of the POST that sent it, through RabbitMQ", async () => {
    const service = await ServiceProcess.start([], {
      ...serviceEnv(SERVER),
      OTEL_TRACES_EXPORTER: "none",
    });
    try {
      const { traceId, orderId } = await postTracedOrder(service.url);
      const processed = await service.waitForLog((l) => l.msg === "order processed" && l.orderId === orderId);
      expect(processed.traceId).toBe(traceId);
    } finally {
      service.kill("SIGKILL");
      await service.exited;
    }
  });
  it("dead-letters an order that fails the schema in the consumer at once, with the reason, never calling the handler, and counts it", async () => {
    // The queue that keeps what reaches the dead-letter exchange, as an operator would bind one.
    await (await openTopic(`rabbit://${deadExchange}?declare=true`, { serverUrl: SERVER })).shutdown();
    const deadLetters = await openSubscription(`rabbit://${deadQueue}?declare=true&exchange=${deadExchange}`, {
      serverUrl: SERVER,
    });
    const service = await ServiceProcess.start([], {
      ...serviceEnv(SERVER),
      ORDERS_MAX_ATTEMPTS: "3",
      REDELIVERY_DELAY: "10ms",
      REDELIVERY_MAX_DELAY: "50ms",
    });
    try {
      // Another producer on the exchange sends what POST /orders would have refused.
      const id = `bad-${randomUUID()}`;
      const invalid = JSON.stringify({ id, item: "", quantity: 1, createdAt: "2026-01-01T00:00:00.000Z" });
      const producer = await openTopic(`rabbit://${exchange}`, { serverUrl: SERVER });
      await producer.send({ body: invalid, metadata: { "order-id": id, "content-type": "application/json" } });
      await producer.shutdown();

      const letter = await deadLetters.receive({ signal: AbortSignal.timeout(15_000) });
      letter.ack();
      const error =
        "invalid message: the data does not match the schema: item: Too small: expected string to have >=1 characters";
      expect(letter.text()).toBe(invalid);
      expect(letter.metadata).toMatchObject({
        "order-id": id,
        "content-type": "application/json",
        "deadletter.attempts": "1",
        "deadletter.error": error,
      });
      await service.waitForLog((l) => l.msg === "order dead-lettered");
      expect(service.logs.filter((l) => l.msg.startsWith("order handler failed"))).toEqual([]);
      expect((await getJson(`${service.url}/stats`)).body).toMatchObject({ rejected: 1, deadLettered: 1 });
      // Acked once dead-lettered: it comes back neither to the service nor to the dead-letter queue.
      await expect(deadLetters.receive({ signal: AbortSignal.timeout(500) })).rejects.toThrow();
      expect(service.logs.filter((l) => l.msg.startsWith("order handler failed"))).toHaveLength(0);
      service.kill("SIGTERM");
      expect(await service.exited).toBe(0);
      expect(service.logs.find((l) => l.msg === "stopped")).toMatchObject({ rejected: 1, deadLettered: 1 });
    } finally {
      service.kill("SIGKILL");
      await service.exited;
      await deadLetters.shutdown();
    }
  });
});
