/**
 * The order in which a connection tries its server URLs: each connection
 * shuffles them once (so clients spread over a cluster's nodes), and a node
 * that accepts TCP but never answers costs about a second, not the connect
 * timeout. The cluster itself is in restart-cluster.test.ts.
 */
import { createServer, type Socket } from "node:net";
import { connectRabbit, RabbitConnection } from "@portable-pubsub/driver-rabbit";
import { describe, expect, it } from "vitest";
import { shuffled } from "../dist/amqp/failover.js";
import { resolveSettings } from "../dist/amqp/settings.js";
import { SERVER_URL, skipWithoutBroker } from "./support.js";

const urls = ["amqp://a:1@node-a:5672", "amqp://b:1@node-b:5672", "amqp://c:1@node-c:5672"];

describe("rabbit failover order", () => {
  it("shuffles: each connection has its own random order of the server URLs, every order about as often", () => {
    const settings = resolveSettings({ serverUrl: urls.join(",") });
    const runs = 6000;
    const orders = new Map<string, number>();
    for (let i = 0; i < runs; i++) {
      const order = new RabbitConnection(settings).failoverOrder.join(" ");
      orders.set(order, (orders.get(order) ?? 0) + 1);
    }
    // 3! orders, 1,000 each expected; ±150 is over 5 standard deviations (about 29).
    expect(orders.size).toBe(6);
    for (const [order, count] of orders) {
      expect(order.split(" ").sort()).toEqual([
        "amqp://***@node-a:5672",
        "amqp://***@node-b:5672",
        "amqp://***@node-c:5672",
      ]);
      expect(Math.abs(count - runs / 6), `${order}: ${count}`).toBeLessThan(150);
    }
  });

  it("shuffles uniformly (Fisher–Yates) and keeps every item", () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return (seed - 1) / 2147483646;
    };
    const first: number[] = [0, 0, 0, 0, 0];
    for (let i = 0; i < 5000; i++) {
      const out = shuffled([0, 1, 2, 3, 4], random);
      expect([...out].sort()).toEqual([0, 1, 2, 3, 4]);
      const head = out[0] as number;
      first[head] = (first[head] ?? 0) + 1;
    }
    for (const count of first) expect(Math.abs(count - 1000)).toBeLessThan(120);
    expect(shuffled([], random)).toEqual([]);
  });
});

describe.skipIf(skipWithoutBroker)("rabbit failover past a silent node", () => {
  it("connects within about a second when the node tried first accepts TCP and never answers", async () => {
    const held: Socket[] = [];
    const silent = createServer((socket) => {
      socket.on("error", () => {});
      held.push(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    const connections = Array.from({ length: 20 }, () =>
      connectRabbit({ serverUrl: `amqp://guest:guest@127.0.0.1:${port},${SERVER_URL}`, connectTimeoutMs: 10_000 }),
    );
    try {
      const started = Date.now();
      const times = await Promise.all(connections.map((c) => c.model().then(() => Date.now() - started)));
      const silentFirst = connections.filter((c) => c.failoverOrder[0]?.endsWith(`:${port}`)).length;
      console.info(
        `[rabbit failover] ${silentFirst} of 20 connections tried the silent node first; ` +
          `connected after ${Math.min(...times)}–${Math.max(...times)} ms (connect timeout 10,000 ms)`,
      );
      // Each connection is equally likely to try either first: none of 20 doing so is a 1-in-a-million event.
      expect(silentFirst).toBeGreaterThan(0);
      expect(held.length).toBeGreaterThanOrEqual(silentFirst);
      expect(Math.max(...times)).toBeLessThan(2500);
      for (const c of connections) expect(c.node?.server).toBe("amqp://***@127.0.0.1:5672");
    } finally {
      await Promise.all(connections.map((c) => c.close(AbortSignal.timeout(5000))));
      for (const socket of held) socket.destroy();
      silent.close();
    }
  });
});
