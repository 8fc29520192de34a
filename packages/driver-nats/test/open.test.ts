import type { NatsConnection } from "@nats-io/transport-node";
import { expectOpenFailure, freePort, startSilentServer, tlsEndpointsForTests } from "@portable-pubsub/conformance";
import { ErrorCode, openSubscription, openTopic } from "@portable-pubsub/core";
import { beforeAll, describe, expect, it } from "vitest";
import { admin, NATS_ADDRESS, NATS_URL, requireNats, skipNats, streamWithConsumer, unique } from "./helpers.js";

const PASSWORD = "open-test-secret";

/** What opening checks: the server is reachable, speaks TLS we trust, and the stream and consumer exist. */
describe.skipIf(skipNats)("nats opens", () => {
  beforeAll(requireNats);

  it("shares one connection between the topics and subscriptions opened with the same options, closed with the last", async () => {
    const { nc: adminNc, jsm } = await admin();
    const streams = [await streamWithConsumer(jsm, "shared", 30_000), await streamWithConsumer(jsm, "shared", 30_000)];
    try {
      const options = { serverUrl: NATS_URL };
      const topics = await Promise.all(streams.map((s) => openTopic(`nats://${s}`, options)));
      const subs = await Promise.all(streams.map((s) => openSubscription(`nats://${s}?consumer=c`, options)));
      const connection = topics[0]?.as<NatsConnection>();
      expect(connection).toBeDefined();
      for (const handle of [...topics, ...subs]) expect(handle.as<NatsConnection>()).toBe(connection);
      // Another server setting is another connection.
      const other = await openTopic(`nats://${streams[0]}`, { ...options, pingInterval: 3000 });
      expect(other.as<NatsConnection>()).not.toBe(connection);
      await other.shutdown();

      await topics[0]?.shutdown();
      await subs[0]?.shutdown();
      expect(connection?.isClosed()).toBe(false);
      await topics[1]?.send({ body: "after" });
      const message = await subs[1]?.receive({ signal: AbortSignal.timeout(10_000) });
      expect(message?.text()).toBe("after");
      message?.ack();
      await subs[1]?.shutdown();
      await topics[1]?.shutdown();
      expect(connection?.isClosed()).toBe(true);
    } finally {
      for (const s of streams) await jsm.streams.delete(s).catch(() => {});
      await adminNc.close();
    }
  });

  it("fails a topic whose subject no stream stores, and a subscription whose consumer is missing, with NotFound", async () => {
    const name = unique("missing");
    await expectOpenFailure(() => openTopic(`nats://${name}`, { serverUrl: NATS_URL }), {
      code: ErrorCode.NotFound,
      mentions: [`nats subject "${name}"`],
      withinMs: 5000,
    });
    await expectOpenFailure(() => openSubscription(`nats://${name}?consumer=c`, { serverUrl: NATS_URL }), {
      code: ErrorCode.NotFound,
      mentions: [name],
      withinMs: 5000,
    });
  });

  it("fails opens on a closed port at once, naming NATS and the address without the password", async () => {
    const port = await freePort();
    const options = { serverUrl: `nats://user:${PASSWORD}@127.0.0.1:${port}` };
    for (const open of [() => openTopic("nats://x", options), () => openSubscription("nats://S?consumer=c", options)]) {
      await expectOpenFailure(open, {
        code: ErrorCode.Unknown,
        mentions: [`could not connect to NATS at nats://127.0.0.1:${port}`, "is nats-server running"],
        withinMs: 3000,
        hides: [PASSWORD],
      });
    }
  });

  it("fails an open whose server never answers after connectTimeoutMs with DeadlineExceeded", async () => {
    const silent = await startSilentServer();
    try {
      const serverUrl = `nats://user:${PASSWORD}@127.0.0.1:${silent.port}`;
      const { elapsedMs } = await expectOpenFailure(
        () => openTopic("nats://x", { serverUrl, connectTimeoutMs: 1000 }),
        {
          code: ErrorCode.DeadlineExceeded,
          mentions: [`NATS at nats://127.0.0.1:${silent.port}`],
          withinMs: 4000,
          hides: [PASSWORD],
        },
      );
      expect(elapsedMs).toBeGreaterThanOrEqual(950);
    } finally {
      await silent.close();
    }
  });

  describe("through a TLS endpoint of the test's own (TLS first, then NATS)", () => {
    const tls = tlsEndpointsForTests(NATS_ADDRESS);

    it("fails an open to a self-signed certificate at once, saying so", async () => {
      await expectOpenFailure(
        () =>
          openTopic("nats://x", {
            serverUrl: `tls://127.0.0.1:${tls.trusted.port}`,
            natsOptions: { tls: { handshakeFirst: true } },
          }),
        {
          code: ErrorCode.Unknown,
          mentions: [
            `NATS at tls://127.0.0.1:${tls.trusted.port}`,
            "TLS certificate was refused (DEPTH_ZERO_SELF_SIGNED_CERT)",
          ],
          withinMs: 3000,
        },
      );
    });
  });
});
