import { expectOpenFailure, freePort, startSilentServer, tlsEndpointsForTests } from "@portable-pubsub/conformance";
import { ErrorCode, openTopic } from "@portable-pubsub/core";
import { declareRabbitTopology, openRabbitSubscription, openRabbitTopic } from "@portable-pubsub/driver-rabbit";
import { afterAll, describe, expect, it } from "vitest";
import { BROKER, SERVER_URL, skipWithoutBroker, unique, withAdmin } from "./support.js";

const PASSWORD = "open-test-secret";

/** What opening checks: the broker is reachable, speaks TLS we trust, and the exchange exists. */
describe.skipIf(skipWithoutBroker)("rabbit opens", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  });

  it("fails a topic whose exchange is missing with NotFound at open, and opens once it exists", async () => {
    const exchange = unique("missing");
    await expectOpenFailure(() => openTopic(`rabbit://${exchange}`, { serverUrl: SERVER_URL }), {
      code: ErrorCode.NotFound,
      mentions: [`exchange "${exchange}"`, `no exchange '${exchange}'`, "declare=true"],
      withinMs: 5000,
    });
    await withAdmin((channel) => channel.assertExchange(exchange, "fanout", { durable: false, autoDelete: false }));
    cleanups.push(() => withAdmin((channel) => channel.deleteExchange(exchange)));
    const topic = await openTopic(`rabbit://${exchange}?mandatory=false`, { serverUrl: SERVER_URL });
    await topic.send({ body: "to nobody" });
    await topic.shutdown();
  });

  it("opens a topic on the default exchange, which cannot be checked, and routes by queue name", async () => {
    const queue = unique("default-exchange");
    await declareRabbitTopology({ serverUrl: SERVER_URL }, { queue: { name: queue, durable: false } });
    cleanups.push(() => withAdmin((channel) => channel.deleteQueue(queue)));
    const topic = openRabbitTopic({ serverUrl: SERVER_URL }, "", { routingKey: queue });
    await topic.ready();
    await topic.send({ body: "direct" });
    const subscription = openRabbitSubscription({ serverUrl: SERVER_URL }, queue);
    const message = await subscription.receive({ signal: AbortSignal.timeout(5000) });
    message.ack();
    expect(message.text()).toBe("direct");
    await Promise.all([topic.shutdown(), subscription.shutdown()]);
  });

  it("fails an open on a closed port at once, naming RabbitMQ and the address without the password", async () => {
    const port = await freePort();
    await expectOpenFailure(
      () => openTopic("rabbit://x", { serverUrl: `amqp://guest:${PASSWORD}@127.0.0.1:${port}` }),
      {
        code: ErrorCode.Unknown,
        mentions: [`amqp://***@127.0.0.1:${port}`, "ECONNREFUSED", "is RabbitMQ running"],
        withinMs: 3000,
        hides: [PASSWORD],
      },
    );
  });

  it("fails an open whose server never answers after connectTimeoutMs with DeadlineExceeded", async () => {
    const silent = await startSilentServer();
    cleanups.push(() => silent.close());
    const serverUrl = `amqp://guest:${PASSWORD}@127.0.0.1:${silent.port}`;
    const { elapsedMs } = await expectOpenFailure(
      () => openTopic("rabbit://x", { serverUrl, connectTimeoutMs: 1000 }),
      {
        code: ErrorCode.DeadlineExceeded,
        mentions: [`127.0.0.1:${silent.port}`, "RabbitMQ", "1000 ms"],
        withinMs: 4000,
        hides: [PASSWORD],
      },
    );
    expect(elapsedMs).toBeGreaterThanOrEqual(950);
  });

  describe("through a TLS endpoint of the test's own", () => {
    const tls = tlsEndpointsForTests(BROKER);

    it("opens with the endpoint's certificate as CA: the endpoint works", async () => {
      const queue = unique("tls");
      const topic = await openTopic(`rabbit://amq.fanout`, {
        serverUrl: `amqps://guest:guest@127.0.0.1:${tls.trusted.port}`,
        socketOptions: { ca: [tls.trusted.certificate], servername: "localhost" },
      });
      cleanups.push(() => withAdmin((channel) => channel.deleteQueue(queue)));
      await declareRabbitTopology(
        { serverUrl: SERVER_URL },
        { queue: { name: queue, durable: false, bindTo: "amq.fanout", exchangeType: "fanout" } },
      );
      await topic.send({ body: "over TLS" });
      await topic.shutdown();
      const got = await withAdmin((channel) => channel.get(queue, { noAck: true }));
      expect(got ? got.content.toString() : got).toBe("over TLS");
    });

    it("fails an open to a self-signed certificate at once, saying so", async () => {
      await expectOpenFailure(
        () =>
          openTopic("rabbit://amq.fanout", { serverUrl: `amqps://guest:${PASSWORD}@127.0.0.1:${tls.trusted.port}` }),
        {
          code: ErrorCode.Unknown,
          mentions: [
            `amqps://***@127.0.0.1:${tls.trusted.port}`,
            "self-signed certificate",
            "TLS certificate was refused (DEPTH_ZERO_SELF_SIGNED_CERT)",
          ],
          withinMs: 3000,
          hides: [PASSWORD],
        },
      );
    });

    it("fails an open to a certificate for another name at once, saying so", async () => {
      await expectOpenFailure(
        () =>
          openTopic("rabbit://amq.fanout", {
            serverUrl: `amqps://guest:guest@127.0.0.1:${tls.misnamed.port}`,
            socketOptions: { ca: [tls.misnamed.certificate] },
          }),
        {
          code: ErrorCode.Unknown,
          mentions: ["(ERR_TLS_CERT_ALTNAME_INVALID)", "a host name that the certificate names"],
          withinMs: 3000,
        },
      );
    });
  });

  it("settles every promise of a direct constructor whose broker is unreachable: ready rejects, shutdown ends", async () => {
    const port = await freePort();
    const topic = openRabbitTopic({ serverUrl: `amqp://guest:guest@127.0.0.1:${port}` }, "x");
    expect(await topic.ready().catch((e: unknown) => e)).toMatchObject({ code: ErrorCode.Unknown });
    const started = Date.now();
    await topic.shutdown();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(topic.health.state).toBe("closed");
  });
});
