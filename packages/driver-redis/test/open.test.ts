import {
  expectOpenFailure,
  FaultProxy,
  freePort,
  startSilentServer,
  tlsEndpointsForTests,
} from "@portable-pubsub/conformance";
import { ErrorCode, type LogEvent, openSubscription, openTopic } from "@portable-pubsub/core";
import { openRedisSubscription, openRedisTopic } from "@portable-pubsub/driver-redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupsAfterEach, commandClient, REDIS_ADDRESS, requireRedis, skipRedis, unique } from "./helpers.js";

const serverUrl = `redis://${REDIS_ADDRESS.host}:${REDIS_ADDRESS.port}`;
const PASSWORD = "open-test-secret";

/** What opening checks: the server is reachable, speaks TLS we trust, and the stream and group exist when not created. */
describe.skipIf(skipRedis)("redisstream opens", () => {
  beforeAll(requireRedis);
  const admin = commandClient();
  const cleanups = cleanupsAfterEach();
  afterAll(() => admin.quit());

  function stream(prefix: string): string {
    const name = unique(prefix);
    cleanups.push(() => admin.del(name));
    return name;
  }

  it("fails a subscription with declare=false whose stream or group is missing with NotFound, and opens once both exist", async () => {
    const name = stream("no-group");
    const url = `redisstream://${name}?group=g&declare=false`;
    const noStream = await expectOpenFailure(() => openSubscription(url, { serverUrl }), {
      code: ErrorCode.NotFound,
      mentions: [`stream "${name}"`, "the stream does not exist", "declare=true"],
      withinMs: 5000,
    });
    expect(noStream.error.message).toContain(`XGROUP CREATE ${name} g $ MKSTREAM`);
    await admin.xadd(name, "*", "body", "x");
    await expectOpenFailure(() => openSubscription(url, { serverUrl }), {
      code: ErrorCode.NotFound,
      mentions: ['no consumer group "g"', "declare=true"],
      withinMs: 5000,
    });
    expect(await admin.exists(name)).toBe(1);
    await admin.xgroup("CREATE", name, "g", "0");
    const sub = await openSubscription(url, { serverUrl });
    cleanups.push(() => sub.shutdown());
    expect((await sub.receive({ signal: AbortSignal.timeout(5000) })).text()).toBe("x");
  });

  it("fails a topic with declare=false whose stream is missing with NotFound, and creates nothing", async () => {
    const name = stream("no-stream");
    await expectOpenFailure(() => openTopic(`redisstream://${name}?declare=false`, { serverUrl }), {
      code: ErrorCode.NotFound,
      mentions: [`stream "${name}"`, "the stream does not exist", "declare=true"],
      withinMs: 5000,
    });
    expect(await admin.exists(name)).toBe(0);
    const topic = await openTopic(`redisstream://${name}?declare=0`, { serverUrl }).catch((e: unknown) => e);
    expect(topic).toMatchObject({ code: ErrorCode.NotFound });
  });

  it("takes create, the old name of declare, with the same result, and tells the logger once", async () => {
    const name = stream("old-create");
    const events: LogEvent[] = [];
    const logger = { info: () => {}, warn: (e: LogEvent) => events.push(e), error: () => {} };
    for (const url of [`redisstream://${name}?create=false`, `redisstream://${name}?declare=false`]) {
      await expectOpenFailure(() => openTopic(url, { serverUrl, logger }), {
        code: ErrorCode.NotFound,
        mentions: [`stream "${name}"`, "the stream does not exist", "declare=true"],
        withinMs: 5000,
      });
    }
    await expectOpenFailure(() => openSubscription(`redisstream://${name}?group=g&create=0`, { serverUrl, logger }), {
      code: ErrorCode.NotFound,
      mentions: [`stream "${name}"`, "declare=true"],
      withinMs: 5000,
    });
    expect(await admin.exists(name)).toBe(0);
    // create=true makes the group (and the stream), as declare=true does.
    const sub = await openSubscription(`redisstream://${name}?group=g&create=true&start=all`, { serverUrl, logger });
    cleanups.push(() => sub.shutdown());
    expect(await admin.xinfo("GROUPS", name)).toHaveLength(1);
    expect(events.map(({ event, parameter, replacement }) => [event, parameter, replacement])).toEqual([
      ["pubsub.deprecated_parameter", "create", "declare"],
    ]);
  });

  it("fails opens on a closed port at once, naming Redis and the address without the password", async () => {
    const port = await freePort();
    const options = { serverUrl: `redis://:${PASSWORD}@127.0.0.1:${port}` };
    for (const open of [
      () => openTopic("redisstream://s", options),
      () => openSubscription("redisstream://s?group=g", options),
      () => openSubscription("redisstream://s?group=g&declare=false", options),
    ]) {
      await expectOpenFailure(open, {
        code: ErrorCode.Unknown,
        mentions: [`cannot connect to Redis at redis://127.0.0.1:${port}`, "ECONNREFUSED", "is Redis running"],
        withinMs: 3000,
        hides: [PASSWORD],
      });
    }
  });

  it("fails an open whose server never answers after connectTimeoutMs with DeadlineExceeded", async () => {
    // Accepts connections and says nothing: a stalled network, or a server that is not Redis.
    const silent = await startSilentServer();
    cleanups.push(() => silent.close());
    const { elapsedMs } = await expectOpenFailure(
      () =>
        openTopic("redisstream://s", {
          serverUrl: `redis://:${PASSWORD}@127.0.0.1:${silent.port}`,
          connectTimeoutMs: 1000,
        }),
      {
        code: ErrorCode.DeadlineExceeded,
        mentions: [`could not connect to Redis at redis://127.0.0.1:${silent.port} within 1000 ms`, "connectTimeoutMs"],
        withinMs: 4000,
        hides: [PASSWORD],
      },
    );
    expect(elapsedMs).toBeGreaterThanOrEqual(950);
  });

  describe("through a TLS endpoint of the test's own", () => {
    const tls = tlsEndpointsForTests(REDIS_ADDRESS);

    it("opens with the endpoint's certificate as CA: the endpoint works", async () => {
      const name = stream("tls");
      const options = {
        serverUrl: `rediss://127.0.0.1:${tls.trusted.port}`,
        redisOptions: { tls: { ca: tls.trusted.certificate, servername: "localhost" } },
      };
      const topic = await openTopic(`redisstream://${name}`, options);
      cleanups.push(() => topic.shutdown());
      await topic.send({ body: "over TLS" });
      expect(await admin.xlen(name)).toBe(1);
    });

    it("fails an open to a self-signed certificate at once, saying so", async () => {
      await expectOpenFailure(
        () => openTopic("redisstream://s", { serverUrl: `rediss://:${PASSWORD}@127.0.0.1:${tls.trusted.port}` }),
        {
          code: ErrorCode.Unknown,
          mentions: [
            `cannot connect to Redis at rediss://127.0.0.1:${tls.trusted.port}`,
            "self-signed certificate",
            "TLS certificate was refused (DEPTH_ZERO_SELF_SIGNED_CERT)",
            "CA certificate",
          ],
          withinMs: 3000,
          hides: [PASSWORD],
        },
      );
    });

    it("fails an open to a certificate for another name at once, saying so", async () => {
      await expectOpenFailure(
        () =>
          openSubscription("redisstream://s?group=g", {
            serverUrl: `rediss://127.0.0.1:${tls.misnamed.port}`,
            redisOptions: { tls: { ca: tls.misnamed.certificate } },
          }),
        {
          code: ErrorCode.Unknown,
          mentions: ["(ERR_TLS_CERT_ALTNAME_INVALID)", "a host name that the certificate names"],
          withinMs: 3000,
        },
      );
    });
  });

  it("settles every promise of a direct constructor whose server is unreachable: ready rejects, shutdown ends", async () => {
    const port = await freePort();
    const topic = openRedisTopic(commandClient(`redis://127.0.0.1:${port}`), "s", { closeClient: true });
    const ready = await topic.ready().catch((e: unknown) => e);
    expect(ready).toMatchObject({ code: ErrorCode.Unknown });
    const started = Date.now();
    await topic.shutdown();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(topic.health.state).toBe("closed");

    const client = commandClient(`redis://127.0.0.1:${port}`);
    cleanups.push(async () => client.disconnect());
    const sub = await openRedisSubscription(client, "s", "g", { create: false }).catch((e: unknown) => e);
    expect(sub).toMatchObject({ code: ErrorCode.Unknown });
    expect((sub as Error).message).toContain(`cannot connect to Redis at redis://127.0.0.1:${port}`);
  });

  it("lets a send wait, within the buffer, while a connection that worked is down, and delivers it once back", async () => {
    const proxy = await FaultProxy.start({ upstream: REDIS_ADDRESS });
    cleanups.push(() => proxy.close());
    const name = stream("outage");
    const sub = await openSubscription(`redisstream://${name}?group=g`, { serverUrl });
    cleanups.push(() => sub.shutdown());
    const topic = await openTopic(`redisstream://${name}`, { serverUrl: `redis://${proxy.address}` });
    cleanups.push(() => topic.shutdown());
    await topic.send({ body: "before" });

    proxy.refuse(true);
    proxy.cut();
    let settled = false;
    const send = topic.send({ body: "during" }).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(settled).toBe(false);
    expect(topic.health.state).not.toBe("ready");
    proxy.refuse(false);
    await send;
    const bodies = [];
    for (let i = 0; i < 2; i++) {
      const message = await sub.receive({ signal: AbortSignal.timeout(5000) });
      bodies.push(message.text());
      message.ack();
    }
    expect(bodies).toEqual(["before", "during"]);
  });
});
