import { afterEach, describe, expect, it } from "vitest";
import { getJson, postOrder, postTracedOrder, runToExit, ServiceProcess } from "./service-process.js";

let running: ServiceProcess | undefined;
afterEach(async () => {
  running?.kill("SIGKILL");
  await running?.exited;
  running = undefined;
});

async function start(args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const service = await ServiceProcess.start(args, env);
  running = service;
  return service;
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("order service on mem://", () => {
  it("accepts orders with 201 and processes each exactly once", async () => {
    const service = await start();
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, n) => postOrder(service.url, { item: "book", quantity: 1 + (n % 3) })),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(60).fill(201));
    const ids = answers.map((a) => a.body.id as string);
    expect(new Set(ids).size).toBe(60);
    expect(answers[0]?.body).toEqual({ id: ids[0], status: "accepted" });
    await waitUntil(() => service.processedIds().length >= 60, 10_000);
    expect(service.processedIds().sort()).toEqual([...ids].sort());
    const stats = await getJson(`${service.url}/stats`);
    expect(stats).toEqual({
      status: 200,
      body: { accepted: 60, processed: 60, duplicates: 0, rejected: 0, deadLettered: 0, inFlight: 0 },
    });
  });

  it("processes an order in the trace of the POST that sent it", async () => {
    const service = await start([], { OTEL_TRACES_EXPORTER: "none" });
    const { traceId, orderId } = await postTracedOrder(service.url);
    const processed = await service.waitForLog((l) => l.msg === "order processed" && l.orderId === orderId);
    expect(processed.traceId).toBe(traceId);
    service.kill("SIGKILL");
    await service.exited;
    // Without an SDK, nothing is traced and the handler has no trace id.
    const plain = await start();
    const other = await postTracedOrder(plain.url);
    const untraced = await plain.waitForLog((l) => l.msg === "order processed" && l.orderId === other.orderId);
    expect(untraced.traceId).toBeUndefined();
  });

  it("reports health 200 with both connections ready", async () => {
    const service = await start();
    const health = await getJson(`${service.url}/health`);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      status: "ok",
      topic: { state: "ready" },
      subscription: { state: "ready" },
      consumer: "running",
      stopping: false,
    });
  });

  it.each([
    ["not JSON", "{item", /^the body is not JSON: /],
    ["not an object", "[1]", /^the body must be a JSON object like/],
    ["missing quantity", { item: "book" }, /^"quantity" must be a whole number from 1 to 1000$/],
    ["zero quantity", { item: "book", quantity: 0 }, /^"quantity" must be a whole number from 1 to 1000$/],
    ["empty item", { item: "", quantity: 1 }, /^"item" must be a non-empty string/],
    ["unknown field", { item: "book", quantity: 1, price: 3 }, /^unknown field "price"/],
  ])("answers 400 InvalidArgument for a body that is %s, and sends nothing", async (_what, body, message) => {
    const service = await start();
    const answer = await postOrder(service.url, body);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe("InvalidArgument");
    expect(answer.body.message).toMatch(message);
    expect((await getJson(`${service.url}/stats`)).body.accepted).toBe(0);
  });

  it("answers 404 and 405 for other paths and methods", async () => {
    const service = await start();
    expect((await getJson(`${service.url}/nope`)).status).toBe(404);
    expect((await getJson(`${service.url}/orders`)).status).toBe(405);
  });

  it("on SIGTERM, drains: every accepted order is processed, and it exits 0 within the deadline", async () => {
    const service = await start(["--process-delay", "20ms", "--concurrency", "4", "--shutdown-timeout", "10s"]);
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => postOrder(service.url, { item: "lamp", quantity: 1 })),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(100).fill(201));
    // 100 orders at 4 × 20 ms take about 500 ms: most are still queued when the signal comes.
    const processedAtSignal = service.processedIds().length;
    expect(processedAtSignal).toBeLessThan(100);
    const signalled = Date.now();
    service.kill("SIGTERM");
    expect(await service.exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(service.processedIds().sort()).toEqual(answers.map((a) => a.body.id).sort());
    const stopped = service.logs.find((l) => l.msg === "stopped");
    expect(stopped).toMatchObject({ accepted: 100, processed: 100, duplicates: 0, inFlight: 0 });
  });

  it("answers /health 503 with state draining while a held message drains, then exits 0", async () => {
    const service = await start(["--process-delay", "2s", "--shutdown-timeout", "10s"]);
    const ready = await getJson(`${service.url}/health`);
    expect([ready.status, ready.body.state]).toEqual([200, "ready"]);
    const order = await postOrder(service.url, { item: "chair", quantity: 1 });
    expect(order.status).toBe(201);
    service.kill("SIGTERM");
    // The topic is flushed and closed; the consumer still holds the order for the rest of its 2 s.
    await service.waitForLog((l) => l.msg === "topic connection closed");
    const draining = await getJson(`${service.url}/health`);
    expect(draining.status).toBe(503);
    const topic = draining.body.topic as { since: string };
    const subscription = draining.body.subscription as { since: string };
    expect(draining.body).toEqual({
      status: "unavailable",
      state: "draining",
      topic: { state: "closed", since: topic.since, blocked: null, lastError: null },
      subscription: { state: "ready", since: subscription.since, blocked: null, lastError: null },
      consumer: "running",
      stopping: true,
    });
    expect(service.processedIds()).toEqual([]);
    expect(await service.exited).toBe(0);
    expect(service.processedIds()).toEqual([order.body.id]);
    // The library reported each shutdown as draining, then closed.
    const states = service.logs.filter((l) => / connection (draining|closed)$/.test(l.msg)).map((l) => l.msg);
    expect(states).toEqual([
      "topic connection draining",
      "topic connection closed",
      "subscription connection draining",
      "subscription connection closed",
    ]);
  });

  it("refuses orders once shutting down, and exits 1 when the drain overruns the deadline", async () => {
    const service = await start(["--process-delay", "5s", "--shutdown-timeout", "1s"]);
    expect((await postOrder(service.url, { item: "kettle", quantity: 1 })).status).toBe(201);
    const signalled = Date.now();
    service.kill("SIGTERM");
    await service.waitForLog((l) => l.msg === "shutting down");
    const refused = await postOrder(service.url, { item: "kettle", quantity: 1 });
    expect([refused.status, refused.body.error]).toEqual([503, "FailedPrecondition"]);
    const health = await getJson(`${service.url}/health`);
    expect([health.status, health.body.state, health.body.stopping]).toEqual([503, "draining", true]);
    expect(await service.exited).toBe(1);
    expect(Date.now() - signalled).toBeLessThan(3000);
    expect(service.logs.some((l) => l.msg === "stopped with work left undone")).toBe(true);
  });

  it("rejects bad configuration with one line and exit code 2", async () => {
    expect(await runToExit(["--concurrency", "0"])).toEqual({
      code: 2,
      stdout: "",
      stderr: 'order-service: InvalidArgument: --concurrency must be a whole number from 1 to 10000, got "0"\n',
    });
  });

  it("refuses the in-process dead-letter default when orders come from a broker, rather than lose dead letters", async () => {
    expect(await runToExit(["--subscription", "rabbit://orders-processor"])).toEqual({
      code: 2,
      stdout: "",
      stderr:
        "order-service: InvalidArgument: --dead-letter is mem://orders-dead, an in-process topic that dies with the process, while orders come from rabbit://orders-processor; set ORDERS_DEAD_LETTER_URL to a topic on that broker, such as rabbit://orders-dead?declare=true\n",
    });
  });

  it("--self-test N posts N orders, sees all processed, and exits 0", async () => {
    const { code, stdout, stderr } = await runToExit(["--self-test", "40"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe("self-test: posted 40 orders over HTTP (40 × 201)");
    expect(lines[1]).toMatch(
      /^self-test: 40 processed by up to 8 concurrent handlers in \d+\.\d\d s: 0 duplicates, 0 lost$/,
    );
    expect(lines[2]).toBe("self-test: GET /health 200 (topic ready, subscription ready)");
    expect(lines[3]).toBe("self-test: shut down cleanly");
  });
});
