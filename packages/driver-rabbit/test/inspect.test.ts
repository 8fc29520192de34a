import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { ErrorCode } from "@portable-pubsub/core";
import { inspectURL } from "@portable-pubsub/driver-rabbit";
import { afterEach, describe, expect, it } from "vitest";
import { makeExchangeAndQueue, SERVER_URL, skipWithoutBroker, unique, withAdmin } from "./support.js";

const inspect = (url: string) => inspectURL(new URL(url), { signal: AbortSignal.timeout(10_000) });

describe.skipIf(skipWithoutBroker)("rabbit inspectURL (the pubsub doctor hook)", () => {
  const saved = process.env.RABBIT_SERVER_URL;
  const savedManagement = process.env.RABBIT_MANAGEMENT_URL;
  afterEach(() => {
    process.env.RABBIT_SERVER_URL = saved;
    if (savedManagement === undefined) delete process.env.RABBIT_MANAGEMENT_URL;
    else process.env.RABBIT_MANAGEMENT_URL = savedManagement;
  });

  /**
   * A stand-in for the management plugin's HTTP API (not enabled on the shared broker, and not ours to
   * enable), answering every request with `bindings`; records what was asked.
   */
  async function fakeManagement(bindings: unknown[]) {
    const asked: { url: string | undefined; authorization: string | undefined }[] = [];
    const server = createServer((request: IncomingMessage, response) => {
      asked.push({ url: request.url, authorization: request.headers.authorization });
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify(bindings));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    process.env.RABBIT_MANAGEMENT_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { asked, close: () => new Promise((resolve) => server.close(resolve)) };
  }

  it("warns about an exchange with no bindings, which the management API reports", async () => {
    process.env.RABBIT_SERVER_URL = SERVER_URL;
    const exchange = unique("inspect-unbound");
    const cleanup = await makeExchangeAndQueue(exchange, undefined);
    const management = await fakeManagement([]);
    try {
      const found = await inspect(`rabbit://${exchange}`);
      expect(found.checks.find((c) => c.subject === "bindings")).toEqual({
        subject: "bindings",
        status: "warn",
        detail: `exchange "${exchange}" has no bindings: every send to it reaches no queue and fails with NotFound (312 NO_ROUTE), and a dead letter sent there loops`,
        fix: `bind a queue to it (open rabbit://QUEUE?declare=true&exchange=${exchange}), or, for a dead-letter topic, use rabbit://${exchange}?declare=true, which declares a queue of its name bound to receive every dead letter`,
      });
      expect(management.asked).toEqual([
        {
          url: `/api/exchanges/%2F/${exchange}/bindings/source`,
          authorization: `Basic ${Buffer.from("guest:guest").toString("base64")}`,
        },
      ]);
    } finally {
      await management.close();
      await cleanup();
    }
  });

  it("counts an exchange's bindings when it has some", async () => {
    process.env.RABBIT_SERVER_URL = SERVER_URL;
    const exchange = unique("inspect-bound");
    const cleanup = await makeExchangeAndQueue(exchange, undefined);
    const management = await fakeManagement([{ source: exchange, destination: "q", routing_key: "" }]);
    try {
      const found = await inspect(`rabbit://${exchange}`);
      expect(found.checks.find((c) => c.subject === "bindings")).toEqual({
        subject: "bindings",
        status: "ok",
        detail: `exchange "${exchange}" has 1 bindings`,
      });
    } finally {
      await management.close();
      await cleanup();
    }
  });

  it("finds an exchange: the URL is a topic", async () => {
    process.env.RABBIT_SERVER_URL = SERVER_URL;
    process.env.RABBIT_MANAGEMENT_URL = "http://127.0.0.1:1";
    const exchange = unique("inspect-x");
    const cleanup = await makeExchangeAndQueue(exchange, undefined);
    try {
      const found = await inspect(`rabbit://${exchange}`);
      expect(found.broker).toMatch(/^RabbitMQ \d+\.\d+\.\d+$/);
      expect(found.server).toBe("amqp://***@127.0.0.1:5672");
      expect(found.roles).toEqual(["topic"]);
      expect(found.checks).toEqual([
        { subject: "exchange", status: "ok", detail: `exchange "${exchange}" exists` },
        { subject: "queue", status: "skip", detail: `no queue "${exchange}" (this URL names an exchange)` },
        {
          subject: "bindings",
          status: "skip",
          detail: `bindings of exchange "${exchange}" not checked: AMQP cannot list them, and the management API at http://127.0.0.1:1 did not answer (fetch failed)`,
          fix: "enable the rabbitmq_management plugin or set RABBIT_MANAGEMENT_URL; or list them with rabbitmqctl list_bindings",
        },
        {
          subject: "nodes",
          status: "ok",
          detail: expect.stringMatching(
            /^1 of 1 server URLs answer: amqp:\/\/\*\*\*@127\.0\.0\.1:5672 \(RabbitMQ \d+\.\d+\.\d+, cluster_name \S+\); connected to amqp:\/\/\*\*\*@127\.0\.0\.1:5672$/,
          ),
        },
      ]);
    } finally {
      await cleanup();
    }
  });

  it("finds a queue and counts its messages: the URL is a subscription", async () => {
    process.env.RABBIT_SERVER_URL = SERVER_URL;
    const exchange = unique("inspect-x");
    const queue = unique("inspect-q");
    const cleanup = await makeExchangeAndQueue(exchange, queue);
    try {
      await withAdmin(async (ch) => {
        ch.sendToQueue(queue, Buffer.from("a"));
        ch.sendToQueue(queue, Buffer.from("b"));
        await ch.checkQueue(queue);
      });
      const found = await inspect(`rabbit://${queue}`);
      expect(found.roles).toEqual(["subscription"]);
      expect(found.checks[1]).toEqual({
        subject: "queue",
        status: "ok",
        detail: `queue "${queue}" exists: 2 ready, 0 consumers`,
      });
      // One node: a classic queue is no worse than any other here.
      expect(found.checks[3]).toEqual({
        subject: "queue type",
        status: "ok",
        detail: `queue "${queue}" is a classic queue`,
      });
    } finally {
      await cleanup();
    }
  });

  it("tells a quorum queue from a classic one without changing it", async () => {
    process.env.RABBIT_SERVER_URL = SERVER_URL;
    const exchange = unique("inspect-x");
    const queue = unique("inspect-quorum");
    const cleanup = await makeExchangeAndQueue(exchange, queue, {
      durable: true,
      queueArgs: { "x-queue-type": "quorum" },
    });
    try {
      const found = await inspect(`rabbit://${queue}`);
      expect(found.checks[3]).toEqual({
        subject: "queue type",
        status: "ok",
        detail: `queue "${queue}" is a quorum queue`,
      });
      await withAdmin(async (ch) => expect((await ch.checkQueue(queue)).messageCount).toBe(0));
    } finally {
      await cleanup();
    }
  });

  it("fails with NotFound when neither exists, and says what to do", async () => {
    process.env.RABBIT_SERVER_URL = SERVER_URL;
    const name = unique("inspect-none");
    const found = await inspect(`rabbit://${name}`);
    expect(found.roles).toBeUndefined();
    expect(found.checks.map((c) => [c.subject, c.status])).toEqual([
      ["exchange", "warn"],
      ["queue", "warn"],
      ["resource", "fail"],
      ["nodes", "ok"],
    ]);
    expect(found.checks[2]?.code).toBe(ErrorCode.NotFound);
    expect(found.checks[2]?.fix).toBe("create it, or open the URL with declare=true (rabbit://NAME?declare=true)");
  });

  it("reports a refused login as a failed broker check, without the password", async () => {
    process.env.RABBIT_SERVER_URL = "amqp://guest:not-the-password@127.0.0.1:5672";
    const found = await inspect("rabbit://anything");
    expect(found.checks.length).toBe(1);
    expect(found.checks[0]?.subject).toBe("broker");
    expect(found.checks[0]?.status).toBe("fail");
    expect(found.checks[0]?.code).toBe(ErrorCode.PermissionDenied);
    expect(JSON.stringify(found)).not.toContain("not-the-password");
  });
});
